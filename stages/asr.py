"""ASR on the VAD's speech regions, by the job's engine; writes transcript.json (docs/segments.md).

This module reads the job, picks the engine, and writes what it heard. How it hears lives in
shared/asr/: the regions packed into windows (windows), decoded in batches (decoding), checked for
what the batched decoder skipped and decoded again (coverage), and cleared of text where nobody
speaks (guard), by one of three engines:
  faster-whisper  CTranslate2 Whisper, common venv (shared/asr/engine_faster_whisper.py)
  mlx             MLX-Whisper, mlx venv (shared/asr/engine_mlx.py)
  whisperx        WhisperX with wav2vec2 alignment, whisperx venv (shared/asr/engine_whisperx.py)
An engine's libraries are imported only when it runs, so each venv needs only its own.
"""

from __future__ import annotations

from shared.asr import engine_faster_whisper, engine_mlx, engine_whisperx, guard
from shared.core import schema
from shared.core.errors import run_cli
from shared.translation import glossary
from stages._common import stage_args


def main() -> int:
    job_path, job, settings = stage_args("asr")
    vad = schema.read(job_path / "vad.json")
    source = job["source_language"]
    language = None if source == "auto" else source.partition("-")[0]
    if settings["model"].endswith(".en"):
        language = "en"  # English-only models have no language token to detect
    engine = settings["engine"]
    transcript = {"language": language, "language_probability": None, "duration": vad["duration"],
                  "engine": engine, "model": settings["model"], "segments": []}
    hotwords = glossary.load(job_path).hotwords() or None
    transcript["hotwords"] = hotwords
    if vad["regions"]:
        if engine == "whisperx":
            segments, detected, probability, aligned, decoding = engine_whisperx.whisperx_segments(
                job_path, vad, settings, language, hotwords)
            transcript["aligned"] = aligned
            transcript["decoding"] = decoding
        else:
            engine_segments = (engine_mlx.mlx_segments if engine == "mlx"
                               else engine_faster_whisper.faster_whisper_segments)
            segments, detected, probability, decoding = engine_segments(job_path, vad, settings, language, hotwords)
            transcript["decoding"] = decoding
        segments, transcript["dropped"] = guard.guard(segments, vad["regions"], settings)
        transcript["language"] = detected
        transcript["language_probability"] = round(probability, 3) if probability is not None else None
        for index, seg in enumerate(segments):
            text = seg["text"].strip()
            if not text:
                continue
            transcript["segments"].append({
                "id": index, "start": round(seg["start"], 3), "end": round(seg["end"], 3), "text": text,
                "language": detected,
                "words": [{"start": round(w["start"], 3), "end": round(w["end"], 3), "word": w["word"],
                           "probability": round(w["probability"], 3) if w.get("probability") is not None else None}
                          for w in seg["words"]],
            })
    if not transcript["segments"]:
        heard = "no speech" if not vad["regions"] else "speech-like sound but no words"
        print(f"warning: no speech found ({heard} in {vad['duration']:.1f} s of audio): the subtitles "
              "will be empty", flush=True)
    schema.write(job_path / "transcript.json", transcript)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="asr")
