"""ASR with faster-whisper on the VAD's speech regions, with word timestamps.

The regions go to faster-whisper as clip_timestamps, so only speech is decoded and every time stays
relative to the job's audio. condition_on_previous_text is off by default: on long films it is the
usual source of repeated-phrase hallucination, and subtitles gain nothing from it.
"""

from __future__ import annotations

import json
import os
import sys

from shared import glossary, model_catalog
from shared.errors import UserError, run_cli
from stages._common import stage_args, write_json


def load_model(settings: dict):
    """The Whisper model from the project cache, through the catalog (or a model directory the user
    gave). With --allow-download a missing catalog model is fetched first."""
    from faster_whisper import WhisperModel

    name = settings["model"]
    if os.environ.get("SUBTITLER_ALLOW_DOWNLOAD") == "1":
        model = model_catalog.find(name, "asr")
        if model is not None and model_catalog.snapshot(model) is None:
            from shared import model_cache

            model_cache.fetch(model)
    path = model_catalog.require(name, "asr")
    try:
        return WhisperModel(str(path), device=settings.get("device", "cpu"),
                            compute_type=settings.get("compute_type", "int8"),
                            cpu_threads=int(settings.get("threads") or 0))
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"cannot load Whisper model '{name}' from {path}: {exc}")


def main() -> int:
    job_path, job, settings = stage_args("asr")
    vad = json.loads((job_path / "vad.json").read_text())
    source = job["source_language"]
    language = None if source == "auto" else source.partition("-")[0]
    if settings["model"].endswith(".en"):
        language = "en"  # English-only models have no language token to detect
    transcript = {"language": language, "language_probability": None, "duration": vad["duration"],
                  "engine": "faster-whisper", "model": settings["model"], "segments": []}
    model = load_model(settings)
    hotwords = glossary.load(job_path).hotwords() or None
    transcript["hotwords"] = hotwords
    if vad["regions"]:
        clips = [t for r in vad["regions"] for t in (r["start"], r["end"])]
        segments, info = model.transcribe(
            str(job_path / "audio.wav"), language=language, word_timestamps=True, vad_filter=False,
            clip_timestamps=clips, beam_size=int(settings.get("beam_size", 5)), hotwords=hotwords,
            condition_on_previous_text=bool(settings.get("condition_on_previous_text", False)))
        transcript["language"] = info.language
        transcript["language_probability"] = round(info.language_probability, 3)
        for index, seg in enumerate(segments):
            print(f"progress: {min(1.0, seg.end / max(vad['duration'], 0.001)):.0%}", file=sys.stderr, flush=True)
            text = seg.text.strip()
            if not text:
                continue
            transcript["segments"].append({
                "id": index, "start": round(seg.start, 3), "end": round(seg.end, 3), "text": text,
                "language": info.language,
                "words": [{"start": round(w.start, 3), "end": round(w.end, 3), "word": w.word,
                           "probability": round(w.probability, 3)} for w in (seg.words or [])],
            })
    write_json(job_path / "transcript.json", transcript)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="asr")
