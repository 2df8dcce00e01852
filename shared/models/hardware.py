"""Hardware detection and the per-stage defaults that follow from it.

Detection uses the standard library and `nvidia-smi` only, so bootstrap can run it with the system
Python before any venv exists and without importing torch (10 s and gigabytes we may not have yet).
The result is written to config/hardware_cache.json; every stage reads its settings from there
through stage_settings(), and a job may override any of them.

Usage: python -m shared.models.hardware [--write] [--print]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys

from shared.core import config, files
from shared.models import catalog

SCHEMA_VERSION = 1


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity API
        return os.cpu_count() or 1


def _memory_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def _cuda_devices() -> tuple[list[dict], str | None]:
    """GPUs as nvidia-smi reports them; none when the tool is absent or fails (no driver)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return [], None
    query = "--query-gpu=name,memory.total,compute_cap,driver_version"
    try:
        out = subprocess.run([smi, query, "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return [], None
    devices, driver = [], None
    for index, line in enumerate(l for l in out.splitlines() if l.strip()):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        name, mem_mib, cap, driver = parts[:4]
        try:
            memory_gb = round(float(mem_mib) / 1024, 1)
        except ValueError:
            memory_gb = 0.0
        devices.append({"index": index, "name": name, "memory_gb": memory_gb, "compute_capability": cap})
    return devices, driver


def detect() -> dict:
    system, machine = platform.system(), platform.machine()
    apple_silicon = system == "Darwin" and machine == "arm64"
    devices, driver = _cuda_devices()
    info = {
        "platform": {"system": system, "machine": machine, "release": platform.release(),
                     "python": platform.python_version()},
        "cpu": {"count": _cpu_count()},
        "memory_gb": _memory_gb(),
        "cuda": {"available": bool(devices), "driver": driver, "devices": devices},
        # MPS needs macOS 12.3+ on Apple Silicon; MLX needs Apple Silicon. Both are facts of the
        # machine here; whether the venv's torch/mlx can use them is checked by the stage itself.
        "mps": {"available": apple_silicon},
        "mlx": {"available": apple_silicon},
    }
    info["accelerator"] = "cuda" if devices else ("mps" if apple_silicon else "cpu")
    return info


# On a CPU every machine gets the embedded multilingual base: it is cached by bootstrap itself, so a
# fresh machine transcribes with no download, and larger models cost 3-10x the time on a CPU.
CPU_ASR_MODEL = "base"


def translation_tier(info: dict) -> tuple[str, str]:
    """Which row of the catalog's translation_tiers this machine runs, and why."""
    cpus, memory = info["cpu"]["count"], info["memory_gb"]
    if info["cuda"]["available"]:
        vram = max(d["memory_gb"] for d in info["cuda"]["devices"])
        if vram >= 16:
            return "large", f"a GPU with {vram:g} GB holds the 1B IndicTrans2 models and NLLB 3.3B in float16"
        if vram >= 8:
            return "medium", f"a GPU with {vram:g} GB holds the 1B IndicTrans2 models and NLLB 1.3B, not NLLB 3.3B"
        return "small", f"a GPU with {vram:g} GB: the distilled models leave room for ASR"
    if cpus >= 8 and memory >= 32:
        return "medium", (f"{cpus} CPU cores and {memory:g} GB run the 1B IndicTrans2 models and NLLB 1.3B "
                          "(int8); NLLB 3.3B would be too slow on a CPU")
    return "small", (f"{cpus} CPU cores and {memory:g} GB: the distilled IndicTrans2 models and NLLB 600M "
                     "(int8) keep translation quick; the larger ones need 8+ cores and 32+ GB or a GPU")


def asr_tier(info: dict) -> tuple[str, str]:
    """Which row of the catalog's asr_tiers (the Indic-tuned Whisper of each language) this machine
    runs, and why."""
    if info["cuda"]["available"]:
        vram = max(d["memory_gb"] for d in info["cuda"]["devices"])
        if vram >= 6:
            return "large", (f"a GPU with {vram:g} GB holds a large-v2 fine-tune in float16 (about 3 GB): "
                             "the best published figure of each language, medium where medium reports better")
        return "small", f"a GPU with {vram:g} GB: the small fine-tunes leave room for translation"
    return "small", ("no GPU: the small fine-tunes (about 1 GB, converted to int8) run near real time on a CPU, "
                     "where a large-v2 one would take several times the audio's length; medium for Malayalam, "
                     "which has no small fine-tune with a published figure")


def routes(stage: str, hw: dict | None = None) -> dict[str, str]:
    """The routes a stage's block of hardware_cache.json records (asr: language -> model; translate:
    route class -> model); a file written before they existed gets the tier its hardware would
    choose now."""
    hw = hw or load()
    chosen = hw.get("stages", {}).get(stage, {}).get("routes")
    if chosen:
        return chosen
    if stage == "asr":
        return catalog.asr_tiers()[asr_tier(hw)[0]]
    return catalog.translation_tiers()[translation_tier(hw)[0]]


def choose_stage_settings(info: dict) -> dict:
    """Per-stage device, compute type, batch size, engine and default model for this machine."""
    stages = _ready(_preferred_stage_settings(info))
    tier, why = translation_tier(info)
    stages["translate"].update(tier=tier, routes=dict(catalog.translation_tiers()[tier]), why=why)
    tier, why = asr_tier(info)
    stages["asr"].update(tier=tier, routes=dict(catalog.asr_tiers()[tier]), routes_why=why)
    # The voice encoder is a small LSTM: the CPU serves it on every machine (the engine is
    # config/pipeline.json's speakers.engine)
    stages["speakers"] = {"device": "cpu", "threads": max(1, info["cpu"]["count"])}
    return stages


def _preferred_stage_settings(info: dict) -> dict:
    cpus = info["cpu"]["count"]
    threads = max(1, cpus)
    memory = info["memory_gb"]
    if info["cuda"]["available"]:
        vram = max(d["memory_gb"] for d in info["cuda"]["devices"])
        major = max(int(str(d["compute_capability"]).split(".")[0] or 0) for d in info["cuda"]["devices"])
        compute = "float16" if major >= 7 else "float32"
        model = "large-v3" if vram >= 10 else ("large-v3-turbo" if vram >= 6 else "small")
        why = f"a CUDA GPU with {vram:g} GB: Whisper {model} in {compute}"
        batch = 16 if vram >= 16 else (8 if vram >= 8 else 4)
        return {
            "vad": {"engine": "pyannote", "device": "cuda", "threads": threads},
            "asr": {"engine": "whisperx", "device": "cuda", "compute_type": compute, "batch_size": batch,
                    "model": model, "threads": threads, "workers": 1, "why": why, "window_seconds": 30, "beam_size": 5,
                    "tuning_why": f"batch {batch} for {vram:g} GB of GPU memory (WhisperX's own default is 16; "
                                  "not measured here, no GPU); 30 s windows, Whisper's own; beam 5, faster-whisper's"},
            "align": {"device": "cuda", "threads": threads},
            "translate": {"backend": "ctranslate2", "device": "cuda", "compute_type": compute,
                          "batch_size": 32, "threads": threads},
        }
    if info["mlx"]["available"]:
        return {
            "vad": {"engine": "silero", "device": "cpu", "threads": threads},
            "asr": {"engine": "mlx", "device": "mlx", "compute_type": "float16", "batch_size": 1,
                    "model": "large-v3-turbo" if memory >= 16 else "small", "threads": threads,
                    "workers": 1, "window_seconds": 30, "beam_size": 5,
                    "tuning_why": "batch 1: batching the windows on Metal is not measured yet (no Mac here); "
                                  "beam 5, as faster-whisper (shared/asr/mlx_beam.py); float16 on the GPU",
                    "why": f"Apple Silicon with {memory:g} GB: MLX-Whisper on the GPU (Metal); "
                           "./cache-models.sh --mlx fetches the model"},
            "align": {"device": "cpu", "threads": threads},
            # CTranslate2 has no Metal backend, but its int8 CPU path beats transformers on MPS.
            "translate": {"backend": "ctranslate2", "device": "cpu", "compute_type": "int8",
                          "batch_size": 16, "threads": threads},
        }
    return {
        "vad": {"engine": "silero", "device": "cpu", "threads": threads},
        "asr": _cpu_asr(threads),
        "align": {"device": "cpu", "threads": threads},
        "translate": {"backend": "ctranslate2", "device": "cpu", "compute_type": "int8",
                      "batch_size": 16, "threads": threads},
    }


def cpu_workers(threads: int) -> int:
    """Batches of windows the asr stage decodes at once on a CPU, each on threads // workers threads.
    Whisper's decoder is many small matrix products that two threads share badly: on 2 cores (10 min
    of speech, tiny.en) one batch at a time on 2 threads took 9.5-10.2 s, two at a time on 1 thread
    each 6.9-7.6 s (base: 17.6 s against 14.0 s). Above 2 cores this is not measured: 2 workers up to
    7 cores, 4 from 8."""
    return 1 if threads < 2 else (2 if threads < 8 else 4)


def cpu_batch(workers: int) -> int:
    """Windows decoded at once on a CPU (shared among the workers). One worker: 8, measured. Side by
    side, 3 each: an hour on 2 workers took 39.2 s and 0.87 GB in batches of 3, 38.0 s and 1.05 GB
    in batches of 4 (the decoder's cross-attention keys and values for each beam make most of it,
    and a longer film is likelier to meet both workers at their peak together)."""
    return 8 if workers == 1 else 3 * workers


def _cpu_asr(threads: int) -> dict:
    """faster-whisper on the CPU, with the settings measured for it."""
    workers = cpu_workers(threads)
    each = max(1, threads // workers)
    side_by_side = (f"{workers} batches at a time, {each} thread{'s' if each > 1 else ''} each" if workers > 1
                    else "one batch at a time")
    return {"engine": "faster-whisper", "device": "cpu", "compute_type": "int8",
            "batch_size": cpu_batch(workers), "model": CPU_ASR_MODEL, "threads": threads, "workers": workers,
            "window_seconds": 30, "beam_size": 5,
            "tuning_why": f"{side_by_side}: on 2 cores "
                          "one batch on 2 threads took 9.5-10.2 s for 10 min of speech, two on 1 thread each "
                          "6.9-7.6 s; side by side 3 windows a batch (an hour: 39.2 s and 0.87 GB, against 38.0 s "
                          "and 1.05 GB with 4); alone batch 8: on 2 cores, 5 min of speech, tiny.en, batch 1 "
                          "took 12.5 s, 4 7.3 s, 8 7.3 s, 16 7.4 s; 30 s windows, Whisper's own (windows joined "
                          "tighter gave WER 0.143 against 0.128); beam 5, faster-whisper's default",
            "why": "no GPU: the embedded multilingual Whisper base (no download, near real time on a CPU); "
                   "larger models per job with --model small (after ./cache-models.sh --model small)"}


def _ready(stages: dict) -> dict:
    """An engine the hardware prefers but whose stage code is not built (engines_not_built in the
    venv map) is recorded as preferred_engine; the stage runs the first built one meanwhile."""
    for stage in ("asr", "vad"):
        ready = config.engines(stage)
        preferred = stages[stage].get("engine")
        if preferred not in ready:
            stages[stage]["engine"] = ready[0]
            stages[stage]["preferred_engine"] = preferred
    return stages


def default_venvs(info: dict) -> list[str]:
    """The venvs this hardware's chosen engines need; bootstrap --with adds to these."""
    venv_map = config.venv_map()
    wanted = ["common"]
    for stage, settings in choose_stage_settings(info).items():
        engine = settings.get("engine")
        entry = venv_map["stages"].get(stage, {})
        venv = entry.get("engines", {}).get(engine, entry.get("venv")) if engine else entry.get("venv")
        if stage == "align":
            continue  # alignment is opt-in (--with whisperx): that venv is 7.6 GB
        if venv and venv not in wanted:
            wanted.append(venv)
    return wanted


def build(cache_dir: str | None = None) -> dict:
    info = detect()
    hardware = {"schema_version": SCHEMA_VERSION,
                "detected_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    hardware.update(info)
    hardware["stages"] = choose_stage_settings(info)
    hardware["venvs"] = default_venvs(info)
    base = cache_dir or config.cache_dir_override() or _previous_cache_base() or config.DEFAULT_CACHE_DIR
    hardware["cache"] = config.cache_block(base)
    return hardware


def _previous_cache_base() -> str | None:
    """Keep a cache location the user chose earlier when bootstrap runs again."""
    if not config.HARDWARE_CACHE_PATH.exists():
        return None
    try:
        return json.loads(config.HARDWARE_CACHE_PATH.read_text(encoding="utf-8")).get("cache", {}).get("base_dir")
    except (OSError, json.JSONDecodeError):
        return None


def write(cache_dir: str | None = None) -> dict:
    hardware = build(cache_dir)
    files.write_json_atomic(config.HARDWARE_CACHE_PATH, hardware)
    return hardware


def load() -> dict:
    """hardware_cache.json, or a fresh detection when bootstrap has not written one yet."""
    if config.HARDWARE_CACHE_PATH.exists():
        return config.load_json(config.HARDWARE_CACHE_PATH)
    return build()


def stage_settings(stage: str, hardware: dict | None = None) -> dict:
    """A stage's settings as this machine chose them (hardware_cache.json), then SUBTITLER_THREADS.
    Job overrides and pipeline defaults are merged by shared/workflows.stage_settings."""
    hardware = hardware or load()
    settings = dict(hardware.get("stages", {}).get(stage, {}))
    if config.threads_override():
        settings["threads"] = config.threads_override()
    return settings


def summary(hardware: dict) -> str:
    asr = hardware["stages"]["asr"]
    if hardware["cuda"]["available"]:
        gpus = ", ".join(f"{d['name']} ({d['memory_gb']} GB)" for d in hardware["cuda"]["devices"])
        accel = f"CUDA: {gpus}"
    elif hardware["mlx"]["available"]:
        accel = "Apple Silicon: MPS + MLX"
    else:
        accel = "no GPU (CPU only)"
    return (f"{hardware['platform']['system']} {hardware['platform']['machine']}, "
            f"{hardware['cpu']['count']} CPUs, {hardware['memory_gb']} GB RAM, {accel}; "
            f"ASR: {asr['engine']} {asr['model']} on {asr['device']} ({asr['compute_type']})")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.models.hardware", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write config/hardware_cache.json")
    args = parser.parse_args()
    hardware = write() if args.write else build()
    json.dump(hardware, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    from shared.core.errors import run_cli

    run_cli(main)
