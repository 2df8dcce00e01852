"""SRT and WebVTT files from cues, written by pysubs2 (a well-kept subtitle library) through a
temporary file and a rename, so a reader never finds half a subtitle file."""

from __future__ import annotations

from pathlib import Path

from shared import files, jobs
from shared.subtitle_rules import Cue, Rules, build_cues

FORMATS = {"srt": "srt", "vtt": "vtt"}


def write(cues: list[Cue], path: Path, fmt: str) -> Path:
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in cues:
        subs.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000),
                                     text=r"\N".join(cue.lines)))
    with files.atomic_path(path) as tmp:
        subs.save(str(tmp), encoding="utf-8", format_=FORMATS[fmt])
    return path


def write_track(job: dict, job_path: Path, segments: list[dict], lang: str, role: str, settings: dict) -> dict:
    """A language's cues, by the readability rules, in every configured format; returns the track
    entry of the job's subtitle manifests (language, role, cues, job-relative path per format)."""
    report: dict = {}
    cues = build_cues(segments, Rules.from_settings(settings), lang, report)
    track = {"language": lang, "role": role, "cues": len(cues), "short_cues": report["short_cues"]}
    for fmt in settings["formats"]:
        path = write(cues, jobs.subtitle_path(job, job_path, lang, fmt), fmt)
        track[fmt] = str(path.relative_to(job_path))
    return track
