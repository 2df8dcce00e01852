"""Demux: the job's audio as 16 kHz mono 16-bit WAV, cut to the clip, written by ffmpeg.

`-ss` before `-i` seeks the input; since audio is decoded and re-encoded, the cut is sample-exact.
"""

from __future__ import annotations

import os
import subprocess
import sys

from shared import media
from shared.errors import UserError, run_cli
from stages._common import stage_args, temp_path


def main() -> int:
    job_path, job, _ = stage_args("demux")
    clip = job.get("clip") or {}
    out = job_path / "audio.wav"
    tmp = temp_path(out)
    cmd = [media.tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if clip.get("start"):
        cmd += ["-ss", f"{clip['start']:.3f}"]
    cmd += ["-i", job["media"]]
    if clip.get("end") is not None:
        cmd += ["-t", f"{clip['end'] - (clip.get('start') or 0):.3f}"]
    cmd += ["-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        sys.stderr.write(result.stderr)
        raise UserError(f"ffmpeg could not extract audio from {job['media']}")
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="demux")
