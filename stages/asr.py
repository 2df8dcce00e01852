"""ASR on the VAD's speech regions, by one of two engines; writes transcript.json (docs/segments.md).

faster-whisper (common venv): the regions go to faster-whisper as clip_timestamps, so only speech is
decoded and every time stays relative to the job's audio; word times come from cross-attention.
condition_on_previous_text is off by default: on long films it is the usual source of repeated-phrase
hallucination, and subtitles gain nothing from it.

whisperx (whisperx venv): WhisperX's batched pipeline, given the VAD stage's regions (merged into
chunks of at most chunk_size seconds, as WhisperX merges its own VAD output), then wav2vec2 forced
alignment for word times when the language's alignment model is cached (catalog group "align",
./cache-models.sh --model align-<lang>). Without it each speech region is a segment of its own and
the subtitle rules spread its words over it; aligned, regions are joined into chunks of up to
chunk_size (30 s, WhisperX's default) and the words carry their own times.
"""

from __future__ import annotations

import json
import math
import os
import sys
import wave

from shared import config, glossary, model_catalog
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


DETECTION_SECONDS = 30.0  # one Whisper window of speech decides the language


def speech_sample(audio_path, regions: list[dict], seconds: float = DETECTION_SECONDS):
    """The first `seconds` of speech: the VAD regions' samples joined, read from the WAV without
    loading the whole film. Whisper's own detection listens to the first 30 s of the audio, which
    in a film is often music, silence or titles."""
    import numpy as np

    pieces, wanted = [], 0
    with wave.open(str(audio_path), "rb") as wav:
        rate, total = wav.getframerate(), wav.getnframes()
        for region in regions:
            start = min(total, int(float(region["start"]) * rate))
            count = min(total - start, int(float(region["end"]) * rate) - start, int(seconds * rate) - wanted)
            if count <= 0:
                continue
            wav.setpos(start)
            pieces.append(np.frombuffer(wav.readframes(count), dtype=np.int16))
            wanted += count
            if wanted >= int(seconds * rate):
                break
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    return joined.astype(np.float32) / 32768.0


def detect_language(whisper_model, audio_path, regions: list[dict]) -> tuple[str, float]:
    """The spoken language and its probability, from the speech alone (faster-whisper's detector)."""
    sample = speech_sample(audio_path, regions)
    language, probability, _ = whisper_model.detect_language(audio=sample, language_detection_segments=1)
    print(f"note: detected language {language} (probability {probability:.2f}) from "
          f"{len(sample) / 16000:.1f} s of speech", file=sys.stderr, flush=True)
    return language, probability


def faster_whisper_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None):
    model = load_model(settings)
    probability = None
    if language is None and model.model.is_multilingual:
        language, probability = detect_language(model, job_path / "audio.wav", vad["regions"])
    clips = [t for r in vad["regions"] for t in (r["start"], r["end"])]
    segments, info = model.transcribe(
        str(job_path / "audio.wav"), language=language, word_timestamps=True, vad_filter=False,
        clip_timestamps=clips, beam_size=int(settings.get("beam_size", 5)), hotwords=hotwords,
        condition_on_previous_text=bool(settings.get("condition_on_previous_text", False)))
    out = []
    for seg in segments:
        print(f"progress: {min(1.0, seg.end / max(vad['duration'], 0.001)):.0%}", file=sys.stderr, flush=True)
        out.append({"start": seg.start, "end": seg.end, "text": seg.text,
                    "words": [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                              for w in (seg.words or [])]})
    return out, info.language, probability if probability is not None else info.language_probability


WHISPER_WINDOW = 30.0  # seconds Whisper hears at a time


def chunks(regions: list[dict], merge_up_to: float) -> list[tuple[float, float]]:
    """The regions as Whisper chunks: neighbours joined while the chunk stays within merge_up_to
    seconds (0: never joined), and any region longer than Whisper's window cut into equal parts."""
    pieces = []
    for region in regions:
        start, end = float(region["start"]), float(region["end"])
        parts = max(1, math.ceil((end - start) / WHISPER_WINDOW - 1e-9))
        step = (end - start) / parts
        pieces += [(start + i * step, start + (i + 1) * step) for i in range(parts)]
    out: list[tuple[float, float]] = []
    for start, end in pieces:
        if out and end - out[-1][0] <= merge_up_to:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def alignment_model(language: str | None):
    """The cached alignment model for the language, or None (with the reason)."""
    if not language:
        return None, "the language is unknown"
    for model in model_catalog.load():
        if model.stage == "align" and language in model.languages:
            path = model_catalog.snapshot(model)
            if path is None:
                return None, f"{model.repo} is not cached (./cache-models.sh --model {model.key})"
            punkt = config.cache_paths()["nltk_data"] / "tokenizers" / "punkt_tab" / "english"
            if not punkt.is_dir():
                return None, (f"NLTK's punkt_tab sentence splitter is not cached "
                              f"(./cache-models.sh --model {model.key} fetches it)")
            return path, ""
    return None, f"the catalog has no alignment model for '{language}'"


def whisperx_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None):
    import torch

    threads = int(settings.get("threads") or 1)
    torch.set_num_threads(threads)
    import whisperx
    from whisperx.diarize import Segment
    from whisperx.vads.vad import Vad

    device = settings.get("device", "cpu")
    align_path, why_not = alignment_model(language) if settings.get("align", True) else (None, "align is off")
    # Aligned, chunks join up to WhisperX's 30 s (fewer windows, the same words); unaligned, each
    # speech region stays its own segment so cue times keep the VAD's edges.
    chunk_size = float(settings["chunk_size"] if settings.get("chunk_size") is not None
                       else (WHISPER_WINDOW if align_path else 0))
    regions = chunks(vad["regions"], min(chunk_size, WHISPER_WINDOW))

    class GivenRegions(Vad):
        """The VAD stage's regions, handed to WhisperX in place of its own VAD run."""

        def __init__(self):
            super().__init__(0.5)

        @staticmethod
        def preprocess_audio(audio):
            return audio

        def __call__(self, _audio):
            return [Segment(start, end, None) for start, end in regions]

    path = model_catalog.require(settings["model"], "asr")
    try:
        model = whisperx.load_model(
            str(path), device, compute_type=settings.get("compute_type", "int8"), language=language,
            vad_model=GivenRegions(), threads=threads, local_files_only=True,
            asr_options={"beam_size": int(settings.get("beam_size", 5)), "hotwords": hotwords,
                         "condition_on_previous_text": bool(settings.get("condition_on_previous_text", False))})
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"cannot load Whisper model '{settings['model']}' from {path}: {exc}")
    probability = None
    if language is None and model.model.model.is_multilingual:
        language, probability = detect_language(model.model, job_path / "audio.wav", vad["regions"])
    audio = whisperx.load_audio(str(job_path / "audio.wav"))
    result = model.transcribe(  # chunk_size ~0: WhisperX joins nothing more, the chunks are made above
        audio, batch_size=int(settings.get("batch_size") or 8), chunk_size=1e-3, language=language,
        progress_callback=lambda pct: print(f"progress: {pct / 100:.0%}", file=sys.stderr, flush=True))
    language = result["language"]
    segments = [{"start": s["start"], "end": s["end"], "text": s["text"], "words": []} for s in result["segments"]]
    if align_path is None and settings.get("align", True):
        align_path, why_not = alignment_model(language)  # the language was detected just now
    if align_path is None:
        print(f"note: no word alignment ({why_not}); cues follow the speech regions", file=sys.stderr, flush=True)
        return segments, language, probability, False
    align_model, metadata = whisperx.load_align_model(language, device, model_name=str(align_path))
    aligned = whisperx.align(result["segments"], align_model, metadata, audio, device)
    segments = []
    for seg in aligned["segments"]:
        words = timed_words(seg.get("words") or [], float(seg["start"]), float(seg["end"]))
        segments.append({"start": seg["start"], "end": seg["end"], "text": seg["text"], "words": words})
    return segments, language, probability, True


def timed_words(words: list[dict], start: float, end: float) -> list[dict]:
    """Alignment leaves some words (digits, symbols the model has no letter for) without times: they
    take the gap between their timed neighbours."""
    out = []
    for i, word in enumerate(words):
        w_start = word.get("start")
        w_end = word.get("end")
        if w_start is None or w_end is None:
            w_start = out[-1]["end"] if out else start
            later = [w["start"] for w in words[i + 1:] if w.get("start") is not None]
            w_end = max(w_start, later[0] if later else end)
        out.append({"start": float(w_start), "end": float(w_end), "word": " " + word["word"].strip(),
                    "probability": word.get("score")})
    return out


def main() -> int:
    job_path, job, settings = stage_args("asr")
    vad = json.loads((job_path / "vad.json").read_text())
    source = job["source_language"]
    language = None if source == "auto" else source.partition("-")[0]
    if settings["model"].endswith(".en"):
        language = "en"  # English-only models have no language token to detect
    engine = settings.get("engine", "faster-whisper")
    transcript = {"language": language, "language_probability": None, "duration": vad["duration"],
                  "engine": engine, "model": settings["model"], "segments": []}
    hotwords = glossary.load(job_path).hotwords() or None
    transcript["hotwords"] = hotwords
    if vad["regions"]:
        if engine == "whisperx":
            segments, detected, probability, aligned = whisperx_segments(job_path, vad, settings, language, hotwords)
            transcript["aligned"] = aligned
        else:
            segments, detected, probability = faster_whisper_segments(job_path, vad, settings, language, hotwords)
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
    write_json(job_path / "transcript.json", transcript)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="asr")
