#!/usr/bin/env python3
"""Our transcribe workflow against the fastest thing a user could run instead, measured side by side
in one run on the same media, model, VAD settings and threads: wall time, WER against the known
text, words out / words spoken (deleted and inserted), the regions our coverage check decoded again
(and in how many packed windows, and alone), and peak RSS (of the whole process tree, by GNU time).

    .venvs/common/bin/python bench/transcribe_speed.py --minutes 10,60 --model tiny.en,base [--mix synthetic,real]
        [--whisperx] [--mlx] [--rounds 2]

The media (--mix, both by default):
  synthetic  English sentences in several espeak-ng voices in turn (a voice change every sentence),
             pauses of 0.2-2.5 s with now and then a long one, and light noise throughout; made with
             scripts/make_sample.py's speech helper, so espeak-ng and ffmpeg are needed;
  real       bench/real_speech.py's mix (seed 0): LibriVox read speech that two PyPI packages ship,
             in turn with espeak-ng voices, pauses of 0.3-2.5 s and light noise. The batched decoder
             skips far more here (a voice change and a real recording after each pause), so the
             coverage check's cost shows.
A table for bench/README.md closes the output.

Paths compared:
  ours      ./prepare-job.sh + ./run-pipeline.sh (demux, Silero VAD, batched windows, subtitles; the speakers
            stage only with --speakers auto)
  batched   faster-whisper's BatchedInferencePipeline with its own Silero VAD (batch 8, no word times):
            its documented fast path; batched+w the same with word timestamps, which cues need
  whisperx  the WhisperX CLI (pyannote VAD, no alignment), when the whisperx venv exists (--whisperx)
  ours-mlx  our workflow with --engine mlx (--mlx; the mlx venv, and the model's MLX copy, which the
            bench makes with ./cache-models.sh --mlx-from when it is missing)
  before    the asr stage's decoding when issue 10 was filed, on our job's VAD regions: each region a
            clip of WhisperModel.transcribe, decoded one after another (--before-packing, first round)
  mlx       mlx_whisper.transcribe, MLX-Whisper's documented path (no VAD, word timestamps, float32
            on a CPU, float16 on Metal), on the same MLX copy (--mlx)
Every path's words are scored against the spoken text: WER, and its errors by kind (deleted: spoken
words missing, speech dropped; inserted: words added).
Goals (issue 27): ours <= 1.10x batched with tiny.en and <= 0.90x with base (then <= 0.80x with base
on both mixes), with WER and deleted words no worse; the 60-minute time <= 6.6x the 10-minute time; peak RSS
at 60 min <= the 10-minute one + 190 MB (issue 10).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import make_sample  # noqa: E402
from shared.core.scoring import error_counts, word_error_rate, words  # noqa: E402
from shared.environment_manager import EnvironmentManager  # noqa: E402
from shared.jobs import workflows  # noqa: E402
from shared.models import catalog  # noqa: E402

VOICES = ["en", "en-us", "en-gb-x-rp", "en+f3", "en-us+m3"]
SENTENCES = make_sample.SENTENCES["en"] + [
    "The committee will meet again next week to discuss the budget.",
    "Heavy traffic was reported on the highway near the airport.",
    "She opened the window and listened to the birds outside.",
    "The museum will stay open late on Friday evenings this summer.",
    "Prices of vegetables went up after the floods in the east.",
    "He said the new bridge would be finished before the festival.",
    "A small boat was seen drifting near the harbour at dawn.",
    "Students lined up early to buy tickets for the concert.",
    "The doctor advised everyone to drink plenty of water.",
    "Our next guest has written three books about the mountains.",
]
RATE = 16000

BATCHED = """
import json, sys
from faster_whisper import BatchedInferencePipeline, WhisperModel
s = json.loads(sys.argv[2])
model = WhisperModel(s["model"], device="cpu", compute_type=s["compute_type"], cpu_threads=s["threads"])
segments, _ = BatchedInferencePipeline(model).transcribe(
    sys.argv[1], language="en", batch_size=8, beam_size=s["beam_size"], vad_filter=True, vad_parameters=s["vad"],
    word_timestamps=s["word_timestamps"])
segments = list(segments)
print(json.dumps({"text": " ".join(x.text for x in segments),
                  "words": [[w.start, w.word] for x in segments for w in (x.words or [])]}))
"""


def make_media(minutes: float, out: Path, cache: Path) -> str:
    """Several voices in turn, pauses, light noise; returns the spoken text."""
    rng = random.Random(7)
    pcm, spoken, total = [np.zeros(RATE // 2, dtype=np.int16)], [], 0.5
    index = 0
    while total < minutes * 60:
        sentence, voice = SENTENCES[index % len(SENTENCES)], VOICES[index % len(VOICES)]
        clip = cache / f"{index % len(SENTENCES)}-{voice}.wav"
        if not clip.exists():
            with tempfile.TemporaryDirectory() as tmp:
                make_sample._speech_wav(sentence, voice, clip, Path(tmp))
        with wave.open(str(clip), "rb") as wav:
            speech = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        pause = 8.0 if index % 23 == 22 else rng.uniform(0.2, 2.5)
        pcm += [speech, np.zeros(int(pause * RATE), dtype=np.int16)]
        spoken.append(sentence)
        total += len(speech) / RATE + pause
        index += 1
    audio = np.concatenate(pcm).astype(np.float32)
    audio += np.random.default_rng(7).normal(0, 100, len(audio)).astype(np.float32)  # about -50 dBFS
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.clip(audio, -32768, 32767).astype(np.int16).tobytes())
    return " ".join(spoken)


def timed(cmd: list[str], env: dict) -> tuple[dict, str]:
    """{"seconds": wall seconds, "cpu": CPU seconds (user and system, of the command and every process
    it waited for), "rss": peak RSS in GB (the largest process of the tree)}, and the command's stdout.
    CPU time is the steadier measure on a shared machine: another tenant's work lengthens the wall
    time of both paths, by different amounts, and their CPU time far less."""
    started = time.monotonic()
    result = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M cpu=%U+%S", *cmd], env=env, capture_output=True,
                            text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stderr[-2000:]}")
    rss, user, system = re.findall(r"maxrss_kb=(\d+) cpu=([\d.]+)\+([\d.]+)", result.stderr)[-1]
    return {"seconds": seconds, "cpu": float(user) + float(system), "rss": int(rss) / 2**20}, result.stdout


def run_ours(media: Path, out: Path, model: str, engine: str | None = None, speakers: str = "off",
             asr: dict | None = None) -> dict:
    """Our transcribe workflow; `asr`: settings of the asr stage put in the job's overrides (--variant)."""
    env = {**os.environ, "SUBTITLER_OUT_DIR": str(out), "HF_HUB_OFFLINE": "1"}
    prep = subprocess.run([str(REPO / "prepare-job.sh"), "--media", str(media), "--workflow", "transcribe",
                           "-s", "en", "--model", model, "--speakers", speakers,
                           *(["--engine", engine] if engine else [])],
                          env=env, capture_output=True, text=True, check=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    if asr:
        job_file = out / job_id / "job.json"
        job = json.loads(job_file.read_text())
        job.setdefault("overrides", {}).setdefault("asr", {}).update(asr)
        job_file.write_text(json.dumps(job, indent=2))
    took, _ = timed([str(REPO / "run-pipeline.sh"), "-j", job_id], env)
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    decoding = transcript.get("decoding", {})
    return {**took, "text": " ".join(s["text"] for s in transcript["segments"]),
            "redecoded": len(decoding.get("redecoded", [])), "windows": decoding.get("windows", 0),
            "recovery_windows": decoding.get("recovery_windows", 0), "alone": decoding.get("decoded_alone", 0),
            "dropped": len(transcript.get("dropped", []))}


def run_batched(media: Path, model: str, word_timestamps: bool) -> dict:
    manager = EnvironmentManager()
    job = {"overrides": {"asr": {"model": model}}}
    settings = {**workflows.stage_settings(job, "asr"), "vad": {
        k: workflows.stage_settings(job, "vad")[k]
        for k in ("threshold", "min_silence_duration_ms", "speech_pad_ms", "min_speech_duration_ms")}}
    settings.update(model=str(catalog.require(model, "asr")), word_timestamps=word_timestamps)
    took, out = timed([str(manager.python_for("common")), "-c", BATCHED, str(media), json.dumps(settings)],
                              manager.stage_env("common", threads=settings["threads"]))
    found = json.loads(out.strip().splitlines()[-1])
    return {**took, "text": found["text"], "words": found["words"]}


SEQUENTIAL = """
import json, sys
from faster_whisper import WhisperModel
s = json.loads(sys.argv[2])
model = WhisperModel(s["model"], device="cpu", compute_type=s["compute_type"], cpu_threads=s["threads"])
clips = [t for r in s["regions"] for t in (r["start"], r["end"])]
segments, _ = model.transcribe(sys.argv[1], language="en", word_timestamps=True, vad_filter=False,
    clip_timestamps=clips, beam_size=s["beam_size"], condition_on_previous_text=False)
segments = list(segments)
print(json.dumps({"text": " ".join(x.text for x in segments),
                  "words": [[w.start, w.word] for x in segments for w in (x.words or [])]}))
"""


def run_before_packing(media: Path, job_out: Path, model: str) -> dict:
    """The asr stage's decoding when issue 10 was filed (its call, over the VAD regions of our job in
    job_out): every region a clip of WhisperModel.transcribe, one after another."""
    manager = EnvironmentManager()
    settings = workflows.stage_settings({"overrides": {"asr": {"model": model}}}, "asr")
    settings.update(model=str(catalog.require(model, "asr")),
                    regions=json.loads(next(job_out.glob("*/vad.json")).read_text())["regions"])
    took, out = timed([str(manager.python_for("common")), "-c", SEQUENTIAL, str(media), json.dumps(settings)],
                              manager.stage_env("common", threads=settings["threads"]))
    found = json.loads(out.strip().splitlines()[-1])
    return {**took, "text": found["text"], "words": found["words"]}


MLX_BARE = """
import json, sys, mlx.core as mx, mlx_whisper
metal = mx.metal.is_available()
r = mlx_whisper.transcribe(sys.argv[1], path_or_hf_repo=sys.argv[2], language="en", word_timestamps=True, fp16=metal)
print(json.dumps({"text": " ".join(s["text"] for s in r["segments"])}))
"""


def mlx_copy(model: str) -> Path:
    """The model's MLX weights: the catalog's mlx-community copy, or one converted by --mlx-from."""
    try:
        return catalog.require(model, "asr", "mlx")
    except Exception:  # noqa: BLE001 - not there yet: convert the cached faster-whisper model
        subprocess.run([str(REPO / "cache-models.sh"), "--mlx-from", model], check=True, capture_output=True)
        return catalog.require(model, "asr", "mlx")


def run_mlx_bare(media: Path, model: str) -> dict:
    manager = EnvironmentManager()
    threads = workflows.stage_settings({}, "asr")["threads"]
    took, out = timed([str(manager.python_for("mlx")), "-c", MLX_BARE, str(media), str(mlx_copy(model))],
                              manager.stage_env("mlx", threads=threads))
    return {**took, "text": json.loads(out.strip().splitlines()[-1])["text"]}


def run_whisperx(media: Path, model: str, tmp: Path) -> dict | None:
    manager = EnvironmentManager()
    cli = manager.venv_path("whisperx") / "bin" / "whisperx"
    if not cli.exists():
        return None
    threads = workflows.stage_settings({}, "asr")["threads"]
    took, _ = timed([str(cli), str(media), "--model", str(catalog.require(model, "asr")),
                             "--compute_type", "int8", "--device", "cpu", "--language", "en", "--no_align",
                             "--vad_method", "pyannote", "--threads", str(threads), "--batch_size", "8",
                             "--output_format", "json", "--output_dir", str(tmp)],
                            manager.stage_env("whisperx", threads=threads))
    data = json.loads((tmp / f"{media.stem}.json").read_text())
    return {**took, "text": " ".join(s["text"] for s in data["segments"])}


def best(runs: list[dict]) -> dict:
    """The fastest of a path's runs (noise on a shared machine only adds time), with the median, the
    least CPU time and the highest peak RSS of them all."""
    fastest = dict(min(runs, key=lambda r: r["seconds"]))
    times = sorted(r["seconds"] for r in runs)
    fastest.update(median=times[len(times) // 2], rss=max(r["rss"] for r in runs), cpu=min(r["cpu"] for r in runs))
    return fastest


def media_for(mix: str, minutes: float, tmp: Path) -> tuple[Path, str]:
    """The mix's media and its spoken text: "synthetic" (espeak-ng voices in turn) or "real"
    (bench/real_speech.py's LibriVox read speech in turn with espeak-ng voices, seed 0)."""
    media = tmp / f"{mix}{minutes:g}.wav"
    if mix == "real":
        import real_speech
        from shared.core import config

        cache = config.cache_paths(None)["base_dir"] / "bench"
        cache.mkdir(parents=True, exist_ok=True)
        return media, real_speech.make_media(minutes, media, cache)[0]
    (tmp / "clips").mkdir(exist_ok=True)
    return media, make_media(minutes, media, tmp / "clips")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="10", help="comma-separated lengths, e.g. 10,60")
    parser.add_argument("--model", default="tiny.en", help="comma-separated models, e.g. tiny.en,base")
    parser.add_argument("--mix", default="synthetic,real",
                        help="comma-separated media: synthetic (espeak-ng voices) and real (LibriVox read speech "
                             "in turn with espeak-ng voices, as bench/real_speech.py makes it)")
    parser.add_argument("--whisperx", action="store_true", help="also run the WhisperX CLI (whisperx venv)")
    parser.add_argument("--mlx", action="store_true",
                        help="also run our workflow with --engine mlx and bare mlx_whisper.transcribe (mlx venv)")
    parser.add_argument("--no-mlx-bare", action="store_true",
                        help="with --mlx, leave bare mlx_whisper.transcribe out (on a CPU it takes as long as ours)")
    parser.add_argument("--before-packing", action="store_true",
                        help="also the asr stage's decoding before issue 10 (each region alone, one after "
                             "another; slow, and its memory grows with the length: once per length)")
    parser.add_argument("--speakers", default="off", help="our workflow's speakers stage: off (the default: the "
                        "peers diarize nothing, so like is measured against like) or auto")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="also our workflow with these asr settings over the hardware's (e.g. "
                             "workers=1,batch_size=8), side by side; repeatable")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every path this many times, interleaved; times are the fastest of them")
    args = parser.parse_args()
    rows = []
    print(f"load average {os.getloadavg()[0]:.2f}; threads {workflows.stage_settings({}, 'asr')['threads']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for minutes in [float(m) for m in args.minutes.split(",")]:
            for mix in args.mix.split(","):
                media, reference = media_for(mix, minutes, tmp)
                spoken = len(words(reference))
                for model in args.model.split(","):
                    rows += measure(args, media, reference, spoken, f"{minutes:g} min {mix} {model}", minutes, model,
                                    tmp / f"{mix}{minutes:g}-{model}")
    ours = {r["minutes"]: r for r in rows if r["path"] == "ours"}
    if len(ours) > 1 and len(rows) == len({(r["minutes"], r["path"]) for r in rows}):  # one mix and model
        short, long_ = ours[min(ours)], ours[max(ours)]
        print(f"ours {max(ours):g} min / {min(ours):g} min time = {long_['seconds'] / short['seconds']:.2f} "
              f"(length ratio {max(ours) / min(ours):.1f}); peak RSS {long_['rss']:.2f} GB vs {short['rss']:.2f} GB "
              f"(+{(long_['rss'] - short['rss']) * 1024:.0f} MB)")
    if rows:
        print("\n| media | model | ours | batched | batched+w | ours / batched | ours / batched+w | CPU ours / batched "
              "| CPU ours / batched+w | WER ours / batched+w | deleted ours / batched+w | words ours / spoken "
              "| re-decoded (packed windows, alone) |\n" + "|---" * 13 + "|")
        for label in dict.fromkeys(r["label"] for r in rows):
            got = {r["path"]: r for r in rows if r["label"] == label}
            o, b, w = got["ours"], got["batched"], got["batched+w"]
            print(f"| {label.rsplit(' ', 1)[0]} | {label.rsplit(' ', 1)[1]} | {o['seconds']:.1f} s | {b['seconds']:.1f} s "
                  f"| {w['seconds']:.1f} s | {o['seconds'] / b['seconds']:.2f} | {o['seconds'] / w['seconds']:.2f} "
                  f"| {o['cpu'] / b['cpu']:.2f} | {o['cpu'] / w['cpu']:.2f} "
                  f"| {o['wer']:.3f} / {w['wer']:.3f} | {o['deleted']} / {w['deleted']} | {o['words']} / {o['spoken']} "
                  f"| {o['redecoded']} ({o['recovery_windows']}, {o['alone']}) |")
    return 0


def parse_variant(text: str) -> dict:
    """workers=1,batch_size=8 -> {"workers": 1, "batch_size": 8} (values read as JSON where they parse)."""
    settings = {}
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


def measure(args, media: Path, reference: str, spoken: int, label: str, minutes: float, model: str,
            out: Path) -> list[dict]:
    """Every path on one media and model, args.rounds times interleaved; prints and returns the rows."""
    runs: dict[str, list[dict]] = {}
    for round_ in range(args.rounds):  # interleaved, so a busy spell on the machine hits every path
        # Each round starts with another path, so that no path is always the one run first (after
        # another model's runs, on a cache or a machine that has just changed).
        paths = {"ours": lambda: run_ours(media, out / f"ours-{round_}", model, speakers=args.speakers),
                 "batched": lambda: run_batched(media, model, False),
                 "batched+w": lambda: run_batched(media, model, True)}
        for index, variant in enumerate(args.variant):
            paths[f"ours[{variant}]"] = functools.partial(run_ours, media, out / f"v{index}-{round_}", model,
                                                          speakers=args.speakers, asr=parse_variant(variant))
        names = list(paths)
        names = names[round_ % len(names):] + names[:round_ % len(names)]
        found = {name: paths[name]() for name in names}
        found = {name: found[name] for name in paths}  # printed in the usual order
        if args.whisperx:
            found["whisperx"] = run_whisperx(media, model, out / f"wx-{round_}")
        if args.mlx:
            mlx_copy(model)
            found["ours-mlx"] = run_ours(media, out / f"mlx-{round_}", model, "mlx")
            if not args.no_mlx_bare:
                found["mlx"] = run_mlx_bare(media, model)
        if args.before_packing and round_ == 0:
            found["before"] = run_before_packing(media, out / "ours-0", model)
        for path, r in found.items():
            if r:
                runs.setdefault(path, []).append(r)
        if args.rounds > 1:
            print(f"{label}  round {round_ + 1}: " + ", ".join(
                f"{path} {r['seconds']:.1f} s" for path, r in found.items() if r), flush=True)
    results = {path: best(found) for path, found in runs.items()}
    rows = []
    for path, r in results.items():
        r.update(minutes=minutes, path=path, label=label, wer=word_error_rate(reference, r["text"]),
                 words=len(words(r["text"])), spoken=spoken, **error_counts(reference, r["text"]))
        rows.append(r)
        extra = (f", windows {r['windows']}, re-decoded {r['redecoded']} (recovery windows {r['recovery_windows']}, "
                 f"alone {r['alone']}), dropped {r['dropped']}" if path.startswith("ours") else "")
        spread = f" (median {r['median']:.1f} s)" if args.rounds > 1 else ""
        print(f"{label}  {path:<9} {r['seconds']:7.1f} s{spread}  CPU {r['cpu']:6.1f} s  WER {r['wer']:.3f}  words "
              f"{r['words']}/{spoken} (deleted {r['deleted']}, inserted {r['inserted']})  "
              f"peak RSS {r['rss']:.2f} GB{extra}", flush=True)
    for ours in [p for p in results if p == "ours" or p.startswith("ours[")]:
        for base in ("batched", "batched+w"):
            print(f"{label}  {ours} / {base} time = {results[ours]['seconds'] / results[base]['seconds']:.2f}, "
                  f"CPU time = {results[ours]['cpu'] / results[base]['cpu']:.2f}", flush=True)
    if "before" in results:
        ours, before = results["ours"], results["before"]
        print(f"{label}  ours / before packing: WER {ours['wer']:.3f} / {before['wer']:.3f} (goal: no "
              f"worse), speech dropped (deleted words) {ours['deleted']} / {before['deleted']}, time "
              f"{ours['seconds'] / before['seconds']:.2f}", flush=True)
    if "ours-mlx" in results:
        bare = (f"ours-mlx / mlx_whisper.transcribe time = {results['ours-mlx']['seconds'] / results['mlx']['seconds']:.2f}; "
                if "mlx" in results else "")
        print(f"{label}  {bare}ours-mlx / ours (faster-whisper) time = "
              f"{results['ours-mlx']['seconds'] / results['ours']['seconds']:.2f}; WER ours-mlx - ours = "
              f"{results['ours-mlx']['wer'] - results['ours']['wer']:+.3f} (issue 29: within 0.01)", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
