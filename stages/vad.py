"""VAD: speech regions of the job's audio, by the Silero ONNX model bundled in faster-whisper.

faster-whisper ships Silero VAD v6 as ONNX and runs it on onnxruntime, so this needs no torch and
no download; on espeak English it finds sentence starts in about 0.1 s per 30 s of audio.
"""

from __future__ import annotations

from faster_whisper.audio import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps

from shared.errors import run_cli
from stages._common import stage_args, write_json

SAMPLING_RATE = 16000


def main() -> int:
    job_path, job, settings = stage_args("vad")
    audio = decode_audio(str(job_path / "audio.wav"), sampling_rate=SAMPLING_RATE)
    options = VadOptions(threshold=settings.get("threshold", 0.5),
                         min_silence_duration_ms=settings.get("min_silence_duration_ms", 500),
                         speech_pad_ms=settings.get("speech_pad_ms", 200),
                         min_speech_duration_ms=settings.get("min_speech_duration_ms", 250))
    regions = get_speech_timestamps(audio, options, sampling_rate=SAMPLING_RATE)
    write_json(job_path / "vad.json", {
        "sampling_rate": SAMPLING_RATE,
        "duration": round(len(audio) / SAMPLING_RATE, 3),
        "regions": [{"start": round(r["start"] / SAMPLING_RATE, 3), "end": round(r["end"] / SAMPLING_RATE, 3)}
                    for r in regions],
    })
    return 0


if __name__ == "__main__":
    run_cli(main, prog="vad")
