"""What every stage module does first: parse --job, read job.json and its settings, write atomically."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from shared import config, jobs, pipeline


def stage_args(stage: str) -> tuple[Path, dict, dict]:
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}")
    parser.add_argument("--job", required=True, help="job directory")
    args = parser.parse_args()
    job_path = Path(args.job)
    job = jobs.load_job(job_path)
    return job_path, job, pipeline.stage_settings(job, stage)


def temp_path(final: Path) -> Path:
    """A sibling temporary name with the same extension (ffmpeg picks its muxer by extension)."""
    return final.with_name(f".{final.stem}.{os.getpid()}.tmp{final.suffix}")


def write_json(path: Path, data) -> None:
    config.write_json_atomic(path, data)
