"""Shots: where the picture cuts, found once per job, for the subtitle stages to time cues to.

ffmpeg's scene-change score (the select filter's `scene`, 0 to 1, on a small copy of each frame)
marks a cut where it exceeds the threshold (config/pipeline.json shots.threshold); showinfo reports
each such frame's time. The small copy is scaled by fast bilinear: the same cuts as bicubic, and the
stage then costs what decoding the picture costs (1080p H.264: 2.7 s a minute here, against 4.7 s).
Times are seconds of the job's audio (the clip start is 0), like every other stage file. Audio-only
media (or cover art only) have no frame rate and no cuts: shots.json says so and the subtitles keep
their speech timing.
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.core import media, schema
from shared.core.errors import run_cli
from stages._common import stage_args

PTS_TIME = re.compile(r"\bpts_time:\s*([0-9.]+)")


def detect(job: dict, threshold: float) -> list[float]:
    small = "scale=160:-2:flags=fast_bilinear"
    args = media.clip_input(job) + ["-map", "0:v:0", "-an", "-sn", "-dn", "-vf",
                                    f"{small},select='gt(scene\\,{threshold})',showinfo", "-f", "null", "-"]
    log = media.run_ffmpeg(args, f"ffmpeg could not read the picture of {job['media']}", loglevel="info")
    return sorted({round(float(t), 3) for line in log.splitlines() if "Parsed_showinfo" in line
                   for t in PTS_TIME.findall(line)})


def main() -> int:
    job_path, job, settings = stage_args("shots")
    info = job.get("media_info") or {}
    fps = info["fps"] if "fps" in info else media.probe(Path(job["media"]))["fps"]  # jobs older than fps
    changes = detect(job, float(settings["threshold"])) if fps else []
    schema.write(job_path / "shots.json", {"fps": fps, "threshold": float(settings["threshold"]), "changes": changes})
    print(f"{len(changes)} shot changes" if fps else "no picture: cues keep their speech timing", flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="shots")
