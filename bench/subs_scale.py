#!/usr/bin/env python3
"""The subs workflow on a huge subtitle file: prepare-job, the import_subs stage and the subtitles
stage on an SRT of --cues cues (450,000 by default: issue 29's size), beside what a user could run
instead on the same file, pysubs2 loading it and saving it as SRT and WebVTT (no rules, no checks).

    .venvs/common/bin/python bench/subs_scale.py [--cues 450000] [--keep DIR]

Prints each step's wall time and peak RSS, and ours / pysubs2. The file is made here: cues of 2 to
12 words from a small vocabulary, 1-4 s each, gaps of 0.1-1 s, a line break where a text passes
40 characters (some cues then break the rules and are laid out again: the path a user's file takes).
Goal (issue 29): linear, minutes not half an hour, with progress on a terminal.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = ("the a man woman went to station and saw train city night rain light house said nothing again why "
         "where when mother father river market morning letter").split()


def stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def make_srt(path: Path, count: int) -> None:
    rng = random.Random(1)
    at, blocks = 0.0, []
    for number in range(1, count + 1):
        length = rng.uniform(1.0, 4.0)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))).capitalize() + rng.choice(".?,!")
        if len(text) > 40:
            cut = text.rfind(" ", 0, 40)
            text = text[:cut] + "\n" + text[cut + 1:]
        blocks.append(f"{number}\n{stamp(at)} --> {stamp(at + length)}\n{text}\n")
        at += length + rng.uniform(0.1, 1.0)
    path.write_text("\n".join(blocks), encoding="utf-8")


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    started = time.monotonic()
    result = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *cmd], env=env, capture_output=True, text=True,
                            cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
    rss = int(re.findall(r"maxrss_kb=(\d+)", result.stderr)[-1]) / 2**20
    return time.monotonic() - started, rss, result.stdout


BARE = """
import sys, pysubs2
subs = pysubs2.load(sys.argv[1], encoding="utf-8")
subs.save(sys.argv[2] + ".srt")
subs.save(sys.argv[2] + ".vtt")
print(len(subs))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cues", type=int, default=450_000)
    parser.add_argument("--keep", type=Path, help="make the file and the job here (default: a temporary folder)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.cues} cues", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        folder = args.keep or Path(tmp_name)
        folder.mkdir(parents=True, exist_ok=True)
        srt = folder / "huge.srt"
        make_srt(srt, args.cues)
        print(f"{srt.name}: {srt.stat().st_size / 2**20:.1f} MB", flush=True)
        env = {**os.environ, "SUBTITLER_OUT_DIR": str(folder / "out"), "HF_HUB_OFFLINE": "1"}
        rows = []
        seconds, rss, out = timed([str(REPO / "prepare-job.sh"), "--subs", str(srt), "-s", "en", "-t", "hi"], env)
        job_id = out.strip().splitlines()[-1]
        rows.append(("prepare-job", seconds, rss))
        for stage in ("import_subs", "subtitles"):
            seconds, rss, _ = timed([str(REPO / "run-pipeline.sh"), "-j", job_id, "--only", stage], env)
            rows.append((stage, seconds, rss))
        python = REPO / ".venvs" / "common" / "bin" / "python"
        bare, bare_rss, _ = timed([str(python), "-c", BARE, str(srt), str(folder / "bare")], env)
        for name, seconds, rss in rows:
            print(f"{name:<12} {seconds:7.1f} s  peak RSS {rss:.2f} GB", flush=True)
        ours = sum(r[1] for r in rows)
        print(f"{'ours, all':<12} {ours:7.1f} s")
        print(f"{'pysubs2 load+save srt,vtt':<12} {bare:7.1f} s  peak RSS {bare_rss:.2f} GB")
        print(f"ours / pysubs2 = {ours / bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
