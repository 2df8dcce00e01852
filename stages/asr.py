"""ASR on the VAD's speech regions, by the job's engine; writes transcript.json (docs/segments.md).

This module reads the job, picks the model (the language's route, shared/models/asr_routes.py) and
the engine, and writes what it heard. How it hears lives in shared/asr/: the regions packed into
windows (windows), decoded in batches (decoding), checked for what the batched decoder skipped and
decoded again (coverage), for text in the wrong script (script_check), and cleared of text where
nobody speaks (guard), by one of three engines:
  faster-whisper  CTranslate2 Whisper, common venv (shared/asr/engine_faster_whisper.py)
  mlx             MLX-Whisper, mlx venv (shared/asr/engine_mlx.py)
  whisperx        WhisperX with wav2vec2 alignment, whisperx venv (shared/asr/engine_whisperx.py)
An engine's libraries are imported only when it runs, so each venv needs only its own. With
--translator whisper the same windows are decoded a second time with Whisper's translate task, by
faster-whisper, into the transcript's speech_translation.
"""

from __future__ import annotations

from shared.asr import engine_faster_whisper, engine_mlx, engine_whisperx, guard
from shared.core import schema
from shared.core.errors import run_cli
from shared.jobs import workflows
from shared.models import asr_routes
from shared.translation import glossary
from stages._common import stage_args, when_told


def kept(segments: list[dict], language: str | None) -> list[dict]:
    """The segments with text, in the transcript's shape."""
    out = []
    for index, seg in enumerate(segments):
        text = seg["text"].strip()
        if not text:
            continue
        out.append({
            "id": index, "start": round(seg["start"], 3), "end": round(seg["end"], 3), "text": text,
            "language": language,
            "words": [{"start": round(w["start"], 3), "end": round(w["end"], 3), "word": w["word"],
                       "probability": round(w["probability"], 3) if w.get("probability") is not None else None}
                      for w in seg["words"]],
        })
    return out


def speech_translation(job_path, vad: dict, settings: dict, language: str, hotwords: str | None) -> dict:
    """Whisper's own English for the speech (its translate task), on the same windows and checks, by
    the machine's multilingual model or the job's --model: a fine-tune is tuned to transcribe."""
    segments, _, _, decoding = engine_faster_whisper.faster_whisper_segments(
        job_path, vad, settings, language, hotwords, task="translate")
    segments, dropped = guard.guard(segments, vad["regions"], settings)
    return {"language": "en", "task": "translate", "model": settings["model"], "source_language": language,
            "segments": kept(segments, "en"), "decoding": decoding, "dropped": dropped}


PREPARE = {"faster-whisper": engine_faster_whisper.prepare, "mlx": engine_mlx.prepare,
           "whisperx": engine_whisperx.prepare}


def main() -> int:
    job_path, job, settings = stage_args("asr")
    source = job["source_language"]
    language = None if source == "auto" else source.partition("-")[0]
    job_model = job.get("overrides", {}).get("asr", {}).get("model")
    route = asr_routes.choose(language, settings, job_model)
    if route.hint:
        print(f"warning: {route.hint}", flush=True)
    machine = settings
    settings = {**settings, "model": route.model}
    if settings["model"].endswith(".en"):
        language = "en"  # English-only models have no language token to detect
    engine = settings["engine"]
    when_told(lambda: PREPARE[engine](settings))  # the pipeline's warm start: the model loads beside the VAD
    vad = schema.read(job_path / "vad.json")
    transcript = {"language": language, "language_probability": None, "duration": vad["duration"],
                  "engine": engine, "model": settings["model"], "segments": [],
                  "route": {"model": route.model, "why": route.why}}
    hotwords = glossary.load(job_path).hotwords() or None
    transcript["hotwords"] = hotwords

    def reroute(detected: str) -> str:
        chosen = asr_routes.choose(detected, machine, None)
        if chosen.hint:
            print(f"warning: {chosen.hint}", flush=True)
        transcript["route"] = {"model": chosen.model, "why": f"after detecting {detected}: {chosen.why}"}
        return chosen.model

    if vad["regions"]:
        if engine == "whisperx":
            segments, detected, probability, aligned, decoding = engine_whisperx.whisperx_segments(
                job_path, vad, settings, language, hotwords, reroute=None if language or job_model else reroute)
            transcript["aligned"] = aligned
        elif engine == "mlx":
            segments, detected, probability, decoding = engine_mlx.mlx_segments(
                job_path, vad, settings, language, hotwords)
        else:
            segments, detected, probability, decoding = engine_faster_whisper.faster_whisper_segments(
                job_path, vad, settings, language, hotwords, reroute=None if language or job_model else reroute)
        transcript["model"] = decoding.pop("model", settings["model"])
        transcript["decoding"] = decoding
        segments, transcript["dropped"] = guard.guard(segments, vad["regions"], settings)
        transcript["language"] = detected
        transcript["language_probability"] = round(probability, 3) if probability is not None else None
        transcript["segments"] = kept(segments, detected)
        if workflows.stage_settings(job, "translate").get("translator") == "whisper":
            transcript["speech_translation"] = speech_translation(
                job_path, vad, {**machine, "model": job_model or machine["model"]}, detected, hotwords)
    if not transcript["segments"]:
        heard = "no speech" if not vad["regions"] else "speech-like sound but no words"
        print(f"warning: no speech found ({heard} in {vad['duration']:.1f} s of audio): the subtitles "
              "will be empty", flush=True)
    schema.write(job_path / "transcript.json", transcript)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="asr")
