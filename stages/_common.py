"""What every stage module does first: parse --job, read job.json and its settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.jobs import job_dirs, workflows


def stage_args(stage: str) -> tuple[Path, dict, dict]:
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}")
    parser.add_argument("--job", required=True, help="job directory")
    args = parser.parse_args()
    job_path = Path(args.job)
    job = job_dirs.load_job(job_path)
    return job_path, job, workflows.stage_settings(job, stage)
