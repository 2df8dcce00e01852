"""Subtitle files a user already has (SRT, WebVTT, ASS/SSA), read by pysubs2 into timed cues of plain
text: styling tags and comments dropped, a cue's lines joined by spaces (the subtitle rules break
lines again per language), empty cues skipped. The subs workflow's import_subs stage and prepare-job's
check read files through here, so what prepare-job accepts is what the stage reads.
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.core.errors import UserError

FORMATS = {"srt": "SubRip", "vtt": "WebVTT", "ass": "ASS", "ssa": "SSA"}
# The pysubs2 format names the reader accepts, whatever the file's suffix says
READABLE = {"srt", "vtt", "ass", "ssa"}
MAX_BYTES = 50 * 2**20  # a feature film's subtitles are well under 1 MB


def _text(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{name} is not UTF-8 text: convert it first (e.g. iconv -f cp1252 -t utf-8 "
                        f"'{name}' > fixed.srt) and prepare the job with the converted file") from None


def read(path: Path) -> list[dict]:
    """The file's cues in time order: [{"start", "end", "text"}] in seconds; a one-line UserError for
    a file that is missing, not text, not a subtitle format pysubs2 reads, or without any cue."""
    import pysubs2

    name = path.name
    if not path.is_file():
        raise UserError(f"no subtitle file {path}: check the path given to --subs")
    if path.stat().st_size > MAX_BYTES:
        raise UserError(f"{name} is over {MAX_BYTES // 2**20} MB: not a subtitle file (--subs takes .srt, .vtt or .ass)")
    text = _text(path.read_bytes(), name)
    try:
        subs = pysubs2.SSAFile.from_string(text)
    except (pysubs2.exceptions.Pysubs2Error, ValueError, KeyError, IndexError) as exc:
        raise UserError(f"{name} is not a subtitle file pysubs2 can read ({type(exc).__name__}): "
                        "--subs takes SubRip (.srt), WebVTT (.vtt) or ASS/SSA (.ass)") from None
    if subs.format not in READABLE:
        raise UserError(f"{name} is {subs.format}, not a format this workflow takes: convert it to .srt first")
    cues = []
    for event in subs:
        if event.is_comment or event.is_drawing:
            continue
        plain = re.sub(r"\s+", " ", event.plaintext.replace("\n", " ")).strip()
        plain = re.sub(r"</?[a-zA-Z][^<>]*>", "", plain).strip()  # HTML-like tags pysubs2 left (WebVTT <v>, <c>)
        if not plain or event.end <= event.start:
            continue
        cues.append({"start": event.start / 1000.0, "end": event.end / 1000.0, "text": plain})
    if not cues:
        raise UserError(f"{name} holds no subtitle with text and a time: check the file (--subs)")
    cues.sort(key=lambda c: (c["start"], c["end"]))
    return cues


def transcript(cues: list[dict], language: str, source_name: str) -> dict:
    """The cues as a transcript (docs/segments.md): one segment per cue, on the cue's time, without
    word times."""
    segments = [{"id": i, "start": round(c["start"], 3), "end": round(c["end"], 3), "text": c["text"],
                 "language": language, "words": []} for i, c in enumerate(cues)]
    return {"language": language, "language_probability": None, "duration": round(max(c["end"] for c in cues), 3),
            "engine": "subtitles", "model": source_name, "segments": segments}
