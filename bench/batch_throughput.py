#!/usr/bin/env python3
"""Batch throughput: the same files through the transcribe workflow as one batch, run with 1 worker,
2 workers, and as Ray tasks on a cluster of two local nodes, side by side in one run: files per
minute and the ratios.

    .venvs/common/bin/python bench/batch_throughput.py [--files 8] [--minutes 1] [--model tiny.en] [--no-ray]

The media: transcribe_speed.py's mix (espeak-ng voices in turn, pauses, light noise), the same
minutes in every file. Ray needs the cluster venv (./bootstrap.sh --with cluster); its two nodes are started here on
127.0.0.1 (2 CPUs declared each) and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import transcribe_speed  # noqa: E402
from shared.core import processes  # noqa: E402

RAY = REPO / ".venvs" / "cluster" / "bin" / "ray"


def batch(media_dir: Path, out: Path, model: str) -> str:
    env = {**os.environ, "SUBTITLER_OUT_DIR": str(out), "HF_HUB_OFFLINE": "1"}
    prep = subprocess.run([str(REPO / "prepare-job.sh"), "--media", str(media_dir), "--workflow", "transcribe",
                           "-s", "en", "--model", model], env=env, capture_output=True, text=True, check=True)
    return prep.stdout.strip().splitlines()[-1]


def timed_batch(media_dir: Path, out: Path, model: str, *flags: str) -> float:
    batch_id = batch(media_dir, out, model)
    env = {**os.environ, "SUBTITLER_OUT_DIR": str(out), "HF_HUB_OFFLINE": "1", "RAY_ADDRESS": ""}
    started = time.monotonic()
    result = subprocess.run([str(REPO / "run-pipeline.sh"), "-b", batch_id, *flags], env=env, capture_output=True,
                            text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"batch failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
    return seconds


class LocalCluster:
    """A Ray head and a second node on 127.0.0.1, stopped on exit whatever happens."""

    def __enter__(self):
        self.temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
        subprocess.run([str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                        "--num-cpus", "2", "--temp-dir", self.temp, "--include-dashboard", "false",
                        "--disable-usage-stats"], env=self.env, check=True, capture_output=True, timeout=120)
        self.second = subprocess.Popen([str(RAY), "start", "--address", self.address, "--node-ip-address",
                                        "127.0.0.1", "--num-cpus", "2", "--disable-usage-stats", "--block"],
                                       env=self.env, start_new_session=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        time.sleep(8)
        return self

    def __exit__(self, *exc):
        processes.stop_ray_cluster(self.temp, self.second)
        shutil.rmtree(self.temp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each file")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        media = tmp / "media"
        media.mkdir()
        (tmp / "clips").mkdir()
        for index in range(args.files):
            transcribe_speed.make_media(args.minutes, media / f"file{index:02d}.wav", tmp / "clips")
        runs = {"1 worker": ("--workers", "1"), "2 workers": ("--workers", "2")}
        results = {}
        for name, flags in runs.items():
            results[name] = timed_batch(media, tmp / name.replace(" ", ""), args.model, *flags)
        if not args.no_ray and RAY.exists():
            with LocalCluster() as cluster:
                results["ray, 2 nodes"] = timed_batch(media, tmp / "ray", args.model, "--ray", cluster.address)
        audio = args.files * args.minutes
        for name, seconds in results.items():
            print(f"{name:<13} {seconds:7.1f} s  {args.files / seconds * 60:5.2f} files/min  "
                  f"{audio / seconds * 60:5.1f} min of audio per min  ({args.files} x {args.minutes:g} min, {args.model})")
        base = results["1 worker"]
        for name, seconds in results.items():
            if name != "1 worker":
                print(f"{name} / 1 worker throughput = {base / seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
