"""Subtitles: the transcript's segments as readable cues, saved as SRT and WebVTT.

Lands at out/<job-id>/subtitles/<media-stem>.<lang>.srt and .vtt; subtitles.json lists the track
(language, role, cue count, job-relative path of each format), the shape every subtitle writer uses.
"""

from __future__ import annotations

from shared.core import schema
from shared.core.errors import run_cli
from shared.jobs import tracks, workflows
from stages._common import stage_args


def main() -> int:
    job_path, job, settings = stage_args("subtitles")
    transcript = schema.read(job_path / "transcript.json")
    lang = job["source_language"]
    if lang == "auto":
        lang = transcript.get("language") or "und"
    heard = workflows.speakers(job_path)
    segments = heard["segments"] if heard else transcript["segments"]
    track = tracks.write_track(job, job_path, segments, lang, "source", settings)
    schema.write(job_path / "subtitles.json", {"tracks": [track]})
    return 0


if __name__ == "__main__":
    run_cli(main, prog="subtitles")
