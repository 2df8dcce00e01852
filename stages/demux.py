"""Demux: the job's audio as 16 kHz mono 16-bit WAV, cut to the clip, written by ffmpeg.

`-ss` before `-i` seeks the input; since audio is decoded and re-encoded, the cut is sample-exact.

A damaged file (a download cut short, a copy that stopped) may still carry its full length in its
header while ffmpeg decodes only part of it, without an error. The decoded length is compared with
what the container declares: a shortfall is a warning (on the terminal and in the status), and when
most of the media is missing the stage refuses, unless the user asked for the part
(--allow-partial-media).
"""

from __future__ import annotations

import wave

from shared.core import media
from shared.core.errors import UserError, run_cli
from stages._common import stage_args


def main() -> int:
    job_path, job, settings = stage_args("demux")
    out = job_path / "audio.wav"
    args = media.clip_input(job) + ["-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
    media.ffmpeg_to(out, args, f"ffmpeg could not extract audio from {job['media']}")
    check_length(job, out, settings)
    return 0


SHORTFALL_WARN = 0.02  # of the expected length (and at least a second): said
SHORTFALL_REFUSE = 0.48  # half or more missing (a file cut in half decodes a little over half): refused unless allowed


def check_length(job: dict, wav_path, settings: dict) -> None:
    """Compare the decoded audio's length with the container's declared one (cut to the clip)."""
    declared = float((job.get("media_info") or {}).get("duration") or 0.0)
    if declared <= 0:
        return  # a stream without a declared length: nothing to compare
    clip = job.get("clip") or {}
    start = float(clip.get("start") or 0.0)
    end = min(declared, float(clip["end"])) if clip.get("end") is not None else declared
    expected = end - start
    with wave.open(str(wav_path), "rb") as wav:
        decoded = wav.getnframes() / wav.getframerate()
    missing = expected - decoded
    if expected <= 0 or missing <= max(1.0, SHORTFALL_WARN * expected):
        return
    what = (f"only {decoded:.1f} s of audio could be decoded of the {expected:.1f} s the media declares "
            f"({job['media']}): the file looks truncated or damaged")
    if missing > SHORTFALL_REFUSE * expected and not settings.get("allow_partial_media"):
        wav_path.unlink()
        raise UserError(f"{what}; get a complete copy, or run again with --allow-partial-media to "
                        "subtitle the part that is there")
    print(f"warning: {what}; subtitles stop at {start + decoded:.1f} s", flush=True)


if __name__ == "__main__":
    run_cli(main, prog="demux")
