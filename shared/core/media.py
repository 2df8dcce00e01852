"""Media probing with ffprobe: what streams a file has, and how long it is.

ffprobe (from FFmpeg, which bootstrap requires) is the judge of what a media file is: it reads every
container the pipeline can demux, and its JSON output is stable across versions.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

from shared.core import errors, files, processes
from shared.core.errors import UserError


INSTALL_FFMPEG = "Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg"


def tool(name: str) -> str:
    """The path of an FFmpeg program, or a one-line error naming the package to install."""
    path = shutil.which(name)
    if path is None:
        raise UserError(f"{name} not found: install FFmpeg ({INSTALL_FFMPEG}) and run the command again")
    return path


def run_ffmpeg(args: list[str], failure: str, output: Path | None = None, loglevel: str = "error",
               cwd: Path | None = None) -> str:
    """Run ffmpeg as a child that dies with this process; its log (stderr). On failure the log goes to
    our stderr (the stage log) and a one-line error: the file-system fault it hit, or `failure`."""
    result = subprocess.run([tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", loglevel, "-y", *args],
                            capture_output=True, text=True, errors="replace", preexec_fn=processes.die_with_parent,
                            stdin=subprocess.DEVNULL, cwd=cwd)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-20000:])
        raise (errors.ffmpeg_error(result.stderr, output) if output else None) or UserError(failure)
    return result.stderr


def clip_input(job: dict) -> list[str]:
    """ffmpeg's input arguments for the job's media cut to its clip (-ss before -i seeks the input;
    times in what ffmpeg outputs start at the clip start)."""
    clip = job.get("clip") or {}
    args = ["-ss", f"{clip['start']:.3f}"] if clip.get("start") else []
    args += ["-i", job["media"]]
    if clip.get("end") is not None:
        args += ["-t", f"{clip['end'] - (clip.get('start') or 0):.3f}"]
    return args


def ffmpeg_to(output: Path, args: list[str], failure: str, cwd: Path | None = None) -> None:
    """Run ffmpeg with `args` (inputs and options) writing `output` through a temporary file."""
    with files.atomic_path(output) as tmp:
        run_ffmpeg([*args, str(tmp.resolve())], failure, output, cwd=cwd)


def argument(path: Path) -> str:
    """A file as a tool's argument: absolute, so a name starting with "-" is never read as an option."""
    return str(Path(path).absolute())


def probe(path: Path) -> dict:
    """Streams and format of a media file; a missing or unreadable file is a UserError."""
    if not path.exists():
        raise UserError(f"media file not found: {path}")
    if not path.is_file():
        raise UserError(f"not a file: {path}")
    result = subprocess.run([tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams",
                             "-show_format", argument(path)], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise UserError(f"cannot read {path.name} as media ({reason}): check the file is a complete "
                        "audio or video file")
    info = json.loads(result.stdout or "{}")
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise UserError(f"{path.name} has no audio stream: nothing to transcribe")
    duration = float(info.get("format", {}).get("duration") or audio[0].get("duration") or 0.0)
    return {
        "duration": duration,
        "audio_streams": len(audio),
        "video_streams": sum(1 for s in info.get("streams", []) if s.get("codec_type") == "video"),
        "format": info.get("format", {}).get("format_name"),
        "fps": frame_rate(info.get("streams", [])),
    }


def subtitle_streams(path: Path) -> list[dict]:
    """The subtitle streams of a media file (index, codec_name, tags.language), none where ffprobe
    cannot read it."""
    result = subprocess.run([tool("ffprobe"), "-v", "error", "-select_streams", "s", "-show_entries",
                             "stream=index,codec_name:stream_tags=language", "-of", "json", argument(path)],
                            capture_output=True, text=True)
    return json.loads(result.stdout or "{}").get("streams", []) if result.returncode == 0 else []


def frame_rate(streams: list[dict]) -> float | None:
    """Frames per second of the first moving-picture stream (not cover art), or None."""
    for stream in streams:
        if stream.get("codec_type") != "video" or (stream.get("disposition") or {}).get("attached_pic"):
            continue
        for key in ("avg_frame_rate", "r_frame_rate"):
            num, _, den = str(stream.get(key) or "0/0").partition("/")
            try:
                fps = float(num) / float(den or 1)
            except (ValueError, ZeroDivisionError):
                continue
            if 1.0 <= fps <= 300.0:
                return round(fps, 6)
    return None


def parse_time(value: str) -> float:
    """HH:MM:SS[.mmm], MM:SS or seconds -> seconds."""
    try:
        parts = [float(p) for p in value.strip().split(":")]
    except ValueError:
        parts = []
    if not parts or len(parts) > 3 or any(not math.isfinite(p) or p < 0 for p in parts):
        raise UserError(f"bad time '{value}': use HH:MM:SS, MM:SS or seconds (e.g. 00:01:30)")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds
