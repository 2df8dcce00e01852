"""VAD: speech regions of the job's audio, by one of two engines.

silero (common venv, the default on CPU and Apple): Silero VAD v6, the ONNX model bundled in
faster-whisper, on onnxruntime; no torch and no download. About 0.1 s per 30 s of audio.

pyannote (whisperx venv, the default on CUDA): pyannote.audio's VoiceActivityDetection with the
segmentation model the whisperx wheel bundles (whisperx/assets/pytorch_model.bin), so it needs no
token and no download either. Its region edges sit closer to the speech; it costs torch and about
1 s per 30 s on one CPU thread.

Both write vad.json: {"sampling_rate", "duration", "engine", "regions": [{"start", "end"}]} (seconds).
"""

from __future__ import annotations

import os
from pathlib import Path

from faster_whisper.audio import decode_audio

from shared import config, schema
from shared.errors import UserError, run_cli
from stages._common import stage_args

SAMPLING_RATE = 16000


def silero_regions(audio, settings: dict) -> list[tuple[float, float]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=settings["threshold"],
                         min_silence_duration_ms=settings["min_silence_duration_ms"],
                         speech_pad_ms=settings["speech_pad_ms"],
                         min_speech_duration_ms=settings["min_speech_duration_ms"])
    return [(r["start"] / SAMPLING_RATE, r["end"] / SAMPLING_RATE)
            for r in get_speech_timestamps(audio, options, sampling_rate=SAMPLING_RATE)]


def pyannote_checkpoint() -> Path:
    """The segmentation model inside the installed whisperx package (found without importing it:
    whisperx's import pulls in transformers and costs seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("whisperx")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the pyannote VAD runs in the whisperx venv: run ./bootstrap.sh --with whisperx")
    path = Path(list(spec.submodule_search_locations)[0]).resolve() / "assets" / "pytorch_model.bin"
    if not path.is_file():
        raise UserError(f"the whisperx package has no bundled VAD model at {path}: rebuild its venv with "
                        "./bootstrap.sh --only whisperx --force")
    return path


def pyannote_regions(audio, settings: dict) -> list[tuple[float, float]]:
    import torch

    torch.set_num_threads(int(settings.get("threads") or 1))
    from pyannote.audio import Model
    from pyannote.audio.pipelines import VoiceActivityDetection

    model = Model.from_pretrained(str(pyannote_checkpoint()))
    pipeline = VoiceActivityDetection(segmentation=model, device=torch.device(settings["device"]))
    # whisperx's defaults for this model; the minimum durations fill tiny gaps and drop clicks
    pipeline.instantiate({"onset": settings["onset"], "offset": settings["offset"],
                          "min_duration_on": settings["min_duration_on"],
                          "min_duration_off": settings["min_duration_off"]})
    annotation = pipeline({"waveform": torch.from_numpy(audio)[None], "sample_rate": SAMPLING_RATE})
    # pyannote's edges are already tight and right; the padding Silero wants (speech_pad_ms) only
    # pulls silence and the previous sentence's tail into each region, and hurts WhisperX there.
    pad = settings["pyannote_pad_ms"] / 1000
    end_of_audio = len(audio) / SAMPLING_RATE
    regions: list[tuple[float, float]] = []
    for segment in annotation.get_timeline().support():
        start, end = max(0.0, segment.start - pad), min(end_of_audio, segment.end + pad)
        if regions and start <= regions[-1][1]:  # padding joined two regions
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


def main() -> int:
    job_path, job, settings = stage_args("vad")
    engine = settings["engine"]
    if engine not in config.engines("vad"):
        raise UserError(f"unknown VAD engine '{engine}': choose one of {', '.join(config.engines('vad'))}")
    audio = decode_audio(str(job_path / "audio.wav"), sampling_rate=SAMPLING_RATE)
    regions = (pyannote_regions if engine == "pyannote" else silero_regions)(audio, settings)
    schema.write(job_path / "vad.json", {
        "sampling_rate": SAMPLING_RATE,
        "duration": round(len(audio) / SAMPLING_RATE, 3),
        "engine": engine,
        "regions": [{"start": round(start, 3), "end": round(end, 3)} for start, end in regions],
    })
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    run_cli(main, prog="vad")
