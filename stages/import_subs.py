"""Import subs: the subtitle file a user already has (prepare-job.sh --subs) as the job's transcript.

The subs workflow translates subtitles without ASR: each cue becomes a segment on its own time
(shared/subtitles/reader.py), and the translate stage joins cues that are fragments of one sentence
before translating, then lays the translation back onto those cues' times.
"""

from __future__ import annotations

from pathlib import Path

from shared.core import schema
from shared.core.errors import run_cli
from shared.subtitles import reader
from stages._common import stage_args


def main() -> int:
    job_path, job, _ = stage_args("import_subs")
    source = Path(job["subs"])
    cues = reader.read(source)
    schema.write(job_path / "transcript.json", reader.transcript(cues, job["source_language"], source.name))
    return 0


if __name__ == "__main__":
    run_cli(main, prog="import_subs")
