"""Import subs: the subtitle file a user already has (prepare-job.sh --subs) as the job's transcript.

The subs workflow translates subtitles without ASR: each cue becomes a segment on its own time
(shared/subtitles/reader.py: its lines kept, markup and what is not speech removed; every cue skipped
or repaired said in one warning line), and the translate stage joins cues that are fragments of one sentence
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
    found = reader.read(source, job["source_language"], (job.get("media_info") or {}).get("fps"))
    if found.detected:
        print(f"note: {source.name} is not UTF-8: read as {found.encoding} (detected)", flush=True)
    if found.report():  # one line: the run shows it and status.json keeps it
        print(f"warning: {source.name}: {found.report()}", flush=True)
    schema.write(job_path / "transcript.json", reader.transcript(found.cues, job["source_language"], source.name))
    return 0


if __name__ == "__main__":
    run_cli(main, prog="import_subs")
