"""Subtitles: the transcript's segments as readable cues, saved as SRT and WebVTT.

Lands at out/<job-id>/subtitles/<media-stem>.<lang>.srt and .vtt; subtitles.json lists the track
(language, role, cue count, job-relative path of each format), the shape every subtitle writer uses.
"""

from __future__ import annotations

import json

from shared import jobs
from shared.errors import run_cli
from shared.subtitle_rules import Rules, build_cues
from shared import subtitle_writer
from stages._common import stage_args, write_json


def main() -> int:
    job_path, job, settings = stage_args("subtitles")
    transcript = json.loads((job_path / "transcript.json").read_text())
    lang = job["source_language"]
    if lang == "auto":
        lang = transcript.get("language") or "und"
    cues = build_cues(transcript["segments"], Rules.from_settings(settings))
    track = {"language": lang, "role": "source", "cues": len(cues)}
    for fmt in settings.get("formats", ["srt", "vtt"]):
        path = subtitle_writer.write(cues, jobs.subtitle_path(job, job_path, lang, fmt), fmt)
        track[fmt] = str(path.relative_to(job_path))
    write_json(job_path / "subtitles.json", {"tracks": [track]})
    return 0


if __name__ == "__main__":
    run_cli(main, prog="subtitles")
