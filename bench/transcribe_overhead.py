#!/usr/bin/env python3
"""End-to-end transcribe workflow time over bare faster-whisper time, same audio, model and settings,
measured side by side in one run. Goal: <= 1.25 on a 10-minute file.

Usage: bench/transcribe_overhead.py [--minutes 10] [--model tiny.en] [--rounds 2] [--whisperx]
Runs on the common venv built by ./bootstrap.sh; the media is made with espeak-ng (scripts/make_sample.py).
--whisperx also times the workflow with --engine whisperx --vad pyannote (the whisperx venv) beside it.
Each round times both, alternating, and the best of the rounds is compared (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from make_sample import SENTENCES, make  # noqa: E402
from shared.environment_manager import EnvironmentManager  # noqa: E402
from shared.jobs import workflows  # noqa: E402

# Two baselines, each one process calling faster-whisper directly on the media file:
#   clips:      Silero VAD, then transcribe on the speech regions (the decoding the pipeline does)
#   vad_filter: faster-whisper's own one-call API with its built-in VAD (what a plain script does)
BARE = """
import json, sys, time
started = time.monotonic()
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps
mode, settings = sys.argv[2], json.loads(sys.argv[3])
vad = {k: settings["vad"][k] for k in ("threshold", "min_silence_duration_ms", "speech_pad_ms",
                                       "min_speech_duration_ms")}
model = WhisperModel(settings["model"], device="cpu", compute_type=settings["compute_type"],
                     cpu_threads=settings["threads"])
common = dict(word_timestamps=True, beam_size=settings["beam_size"], condition_on_previous_text=False,
              language="en")
if mode == "clips":
    audio = decode_audio(sys.argv[1])
    regions = get_speech_timestamps(audio, VadOptions(**vad))
    clips = [t / 16000 for r in regions for t in (r["start"], r["end"])]
    segments, info = model.transcribe(audio, clip_timestamps=clips, vad_filter=False, **common)
else:
    segments, info = model.transcribe(sys.argv[1], vad_filter=True, vad_parameters=vad, **common)
words = sum(len(s.words or []) for s in segments)
print(json.dumps({"seconds": time.monotonic() - started, "words": words}))
"""


def run_pipeline(media: Path, out: Path, model: str, *extra: str) -> float:
    env = {**os.environ, "SUBTITLER_OUT_DIR": str(out), "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    prep = subprocess.run([str(REPO / "prepare-job.sh"), "--media", str(media), "--workflow", "transcribe",
                           "-s", "en", "--model", model, *extra], env=env, capture_output=True, text=True, check=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    subprocess.run([str(REPO / "run-pipeline.sh"), "-j", job_id], env=env, capture_output=True, check=True)
    return time.monotonic() - started


def run_bare(media: Path, model: str, mode: str) -> float:
    manager = EnvironmentManager()
    job = {"overrides": {"asr": {"model": model}}}
    settings = {**workflows.stage_settings(job, "asr"), "vad": workflows.stage_settings(job, "vad")}
    started = time.monotonic()
    subprocess.run([str(manager.python_for("common")), "-c", BARE, str(media), mode, json.dumps(settings)],
                   env=manager.stage_env("common", threads=settings["threads"]), capture_output=True, check=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--whisperx", action="store_true", help="also time --engine whisperx --vad pyannote")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        media = tmp / "bench.mp4"
        per_sentence = 3.05  # measured: espeak-ng sentence plus the 1 s gap
        count = max(1, int(args.minutes * 60 / per_sentence))
        sentences = (SENTENCES["en"] * (count // len(SENTENCES["en"]) + 1))[:count]
        data = make(media, sentences=sentences)
        print(f"media: {data['duration'] / 60:.1f} min of espeak-ng English, model {args.model}")
        times = {"pipeline": [], "clips": [], "vad_filter": []}
        if args.whisperx:
            times["whisperx"] = []
        for round_no in range(args.rounds):
            times["clips"].append(run_bare(media, args.model, "clips"))
            times["pipeline"].append(run_pipeline(media, tmp / f"out{round_no}", args.model))
            times["vad_filter"].append(run_bare(media, args.model, "vad_filter"))
            if args.whisperx:
                times["whisperx"].append(run_pipeline(media, tmp / f"wx{round_no}", args.model,
                                                      "--engine", "whisperx", "--vad", "pyannote"))
            print(f"round {round_no + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))
        best = {k: min(v) for k, v in times.items()}
        print(f"pipeline end to end / bare faster-whisper (same VAD regions and settings) = "
              f"{best['pipeline']:.1f} s / {best['clips']:.1f} s = {best['pipeline'] / best['clips']:.2f} (goal <= 1.25)")
        print(f"pipeline end to end / bare faster-whisper (its own vad_filter) = "
              f"{best['pipeline']:.1f} s / {best['vad_filter']:.1f} s = {best['pipeline'] / best['vad_filter']:.2f}")
        if args.whisperx:
            print(f"pipeline with whisperx + pyannote / with faster-whisper + silero = "
                  f"{best['whisperx']:.1f} s / {best['pipeline']:.1f} s = {best['whisperx'] / best['pipeline']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
