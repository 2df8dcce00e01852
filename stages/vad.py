"""VAD: speech regions of the job's audio, by one of two engines.

silero (common venv, the default on CPU and Apple): Silero VAD v6, the ONNX model bundled in
faster-whisper, on onnxruntime; no torch and no download. The audio is read a block at a time: an
hour takes 4.3 s and 0.45 GB on 2 threads here.

pyannote (whisperx venv, the default on CUDA): pyannote.audio's VoiceActivityDetection with the
segmentation model the whisperx wheel bundles (whisperx/assets/pytorch_model.bin), so it needs no
token and no download either. Its region edges sit closer to the speech; it costs torch and about
1 s per 30 s on one CPU thread.

Both write vad.json: {"sampling_rate", "duration", "engine", "regions": [{"start", "end"}]} (seconds).
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

from faster_whisper.audio import decode_audio

from shared.core import config, schema
from shared.core.errors import UserError, run_cli
from stages._common import stage_args

SAMPLING_RATE = 16000


WINDOW = 512  # samples Silero judges at a time at 16 kHz, each with the 64 before it as context
CONTEXT = 64
BLOCK = 10000  # windows per ONNX run, as faster-whisper runs them (the same batches: the same numbers)


def silero_session(threads: int):
    """faster-whisper's Silero model (the ONNX file in its assets) on the stage's threads: faster-whisper
    opens it on one (4.7 s for an hour of audio here, 3.4 s on two)."""
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = max(1, threads)
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(str(Path(get_assets_path()) / "silero_vad_v6.onnx"),
                                        providers=["CPUExecutionProvider"], sess_options=options)


def silero_probabilities(wav, session):
    """Silero's speech probability for each 512-sample window of an open 16 kHz mono 16-bit WAV, read a
    block at a time with the model's state carried from block to block: what faster-whisper's model
    computes for the whole audio at once (padded to whole windows, the last window's tail zeroed as it
    does), without the audio in memory (it holds the audio three times over: 1 GB for an hour)."""
    import numpy as np

    total = wav.getnframes()
    windows = (total + WINDOW - total % WINDOW) // WINDOW
    state = {"h": np.zeros((1, 1, 128), dtype=np.float32), "c": np.zeros((1, 1, 128), dtype=np.float32)}
    context = np.zeros(CONTEXT, dtype=np.float32)
    wav.setpos(0)
    out = []
    for first in range(0, windows, BLOCK):
        count = min(BLOCK, windows - first)
        samples = np.zeros(count * WINDOW, dtype=np.float32)
        data = np.frombuffer(wav.readframes(count * WINDOW), dtype=np.int16)
        samples[:len(data)] = data.astype(np.float32) / 32768.0
        frames = samples.reshape(count, WINDOW)
        if first + count == windows:
            frames[-1, -CONTEXT:] = 0.0
        contexts = np.concatenate([context[None], frames[:-1, -CONTEXT:]])
        context = frames[-1, -CONTEXT:].copy()
        probabilities, state["h"], state["c"] = session.run(
            None, {"input": np.concatenate([contexts, frames], axis=1), **state})
        out.append(probabilities)
    return np.concatenate(out, axis=0)


def silero_regions(audio_path, settings: dict) -> list[tuple[float, float]]:
    """Speech regions by faster-whisper's own rules (its get_speech_timestamps: thresholds, padding,
    minimum lengths) over the probabilities computed a block at a time."""
    import numpy as np
    from faster_whisper import vad
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    with wave.open(str(audio_path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (SAMPLING_RATE, 1, 2):
            raise UserError(f"{audio_path} is not 16 kHz mono 16-bit: run the job again from its demux stage "
                            f"(./run-pipeline.sh -j JOB --from demux)")
        total = wav.getnframes()
        probabilities = silero_probabilities(wav, silero_session(int(settings.get("threads") or 1)))

    def model(padded):  # stands in for faster-whisper's model: the probabilities are computed already
        if len(padded) != len(probabilities) * WINDOW:
            raise RuntimeError("Silero windows do not match the audio")
        return probabilities

    options = VadOptions(threshold=settings["threshold"],
                         min_silence_duration_ms=settings["min_silence_duration_ms"],
                         speech_pad_ms=settings["speech_pad_ms"],
                         min_speech_duration_ms=settings["min_speech_duration_ms"])
    cached, vad.get_vad_model = vad.get_vad_model, lambda: model
    try:  # only the audio's length is read: a zero-strided stand-in, not the audio
        found = get_speech_timestamps(np.broadcast_to(np.float32(0.0), (total,)), options,
                                      sampling_rate=SAMPLING_RATE)
    finally:
        vad.get_vad_model = cached
    return [(r["start"] / SAMPLING_RATE, r["end"] / SAMPLING_RATE) for r in found]


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
    audio_path = job_path / "audio.wav"
    if engine == "pyannote":
        regions = pyannote_regions(decode_audio(str(audio_path), sampling_rate=SAMPLING_RATE), settings)
    else:
        regions = silero_regions(audio_path, settings)
    with wave.open(str(audio_path), "rb") as wav:
        duration = wav.getnframes() / wav.getframerate()
    schema.write(job_path / "vad.json", {
        "sampling_rate": SAMPLING_RATE,
        "duration": round(duration, 3),
        "engine": engine,
        "regions": [{"start": round(start, 3), "end": round(end, 3)} for start, end in regions],
    })
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    run_cli(main, prog="vad")
