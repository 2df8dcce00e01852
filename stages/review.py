"""Review: out/<job-id>/review.html, the job's subtitles on its media with every flag, for a
subtitler to watch, edit and export (shared/review/page.py). It only reads the job's files; where a
browser cannot play the media, it makes a small proxy of it into the job.
"""

from __future__ import annotations

from shared.core import config
from shared.core.errors import run_cli
from shared.review import page
from stages._common import stage_args


def main() -> int:
    job_path, job, settings = stage_args("review")
    written = page.write(job, job_path, settings)
    print(f"review page: {config.display_path(written)}", flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="review")
