"""What every stage module does first: parse --job, read job.json and its settings; and, for a stage
the pipeline starts early (--held, workflows.WARM_STARTS), wait for its turn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from shared.jobs import job_dirs, workflows

_held = False


def stage_args(stage: str) -> tuple[Path, dict, dict]:
    global _held
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}")
    parser.add_argument("--job", required=True, help="job directory")
    parser.add_argument("--held", action="store_true",
                        help="started before the stages this one reads from are done: prepare, then wait "
                             "for 'go' on stdin (the pipeline's warm start)")
    args = parser.parse_args()
    _held = args.held
    job_path = Path(args.job)
    job = job_dirs.load_job(job_path)
    return job_path, job, workflows.stage_settings(job, stage)


def when_told(prepare: Callable[[], None]) -> None:
    """Held (--held): prepare() (the stage's imports and model: work that reads nothing the stages
    before it write), then wait for the pipeline's 'go' on stdin; anything else (stdin closed: a stage
    before this one failed, or the run was stopped) ends the stage at once, having written nothing.
    A prepare() that fails is not this stage's failure yet: the stage does the same work again when its
    turn comes, and reports there what goes wrong. Not held, nothing happens here."""
    if not _held:
        return
    try:
        prepare()
        print("held: ready (model loaded), waiting for the stages before this one", flush=True)
    except Exception as exc:  # noqa: BLE001 - met again, and reported, when the stage runs
        print(f"held: preparing ahead failed ({type(exc).__name__}); the stage does it in its turn", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(0)
