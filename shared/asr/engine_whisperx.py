"""The whisperx engine (whisperx venv): WhisperX's batched pipeline on the VAD stage's regions.

The regions are merged into chunks of at most chunk_size seconds, as WhisperX merges its own VAD
output, then wav2vec2 forced alignment gives word times when the language's alignment model is
cached (catalog group "align", ./cache-models.sh --model align-<lang>). Without it each speech
region is a segment of its own and the subtitle rules spread its words over it; aligned, regions
are joined into chunks of up to chunk_size (30 s, WhisperX's default) and the words carry their own
times. A window whose text falls short of its speech is decoded again region by region.
"""

from __future__ import annotations

import sys

from shared.asr import script_check
from shared.asr.coverage import short_windows, within, word_count
from shared.asr.decoding import detect_language
from shared.asr.engine_faster_whisper import damaged, faster_whisper_decoder
from shared.asr.windows import WHISPER_WINDOW, pack, split_long
from shared.core import config
from shared.core.errors import UserError
from shared.models import catalog


def alignment_model(language: str | None):
    """The cached alignment model for the language, or None (with the reason)."""
    if not language:
        return None, "the language is unknown"
    for model in catalog.load():
        if model.stage == "align" and language in model.languages:
            path = catalog.snapshot(model)
            if path is None:
                return None, f"{model.repo} is not cached (./cache-models.sh --model {model.key})"
            punkt = config.cache_paths()["nltk_data"] / "tokenizers" / "punkt_tab" / "english"
            if not punkt.is_dir():
                return None, (f"NLTK's punkt_tab sentence splitter is not cached "
                              f"(./cache-models.sh --model {model.key} fetches it)")
            return path, ""
    return None, f"the catalog has no alignment model for '{language}'"


def prepare(settings: dict) -> None:
    """The asr stage's warm start (stages/_common.when_told): torch and WhisperX imported while the VAD
    runs (seconds: whisperx pulls in transformers). The model waits for the regions, which it is
    built with."""
    import torch

    torch.set_num_threads(int(settings.get("threads") or 1))
    import whisperx  # noqa: F401
    from whisperx.vads.vad import Vad  # noqa: F401


def whisperx_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None,
                      *, reroute=None):
    """The VAD stage's regions transcribed by WhisperX (the model the language's route names, after
    detection with -s auto), decoded again where a window fell short or a segment came out in the
    wrong script, then aligned where the language's alignment model is cached."""
    import torch

    threads = int(settings.get("threads") or 1)
    torch.set_num_threads(threads)
    import whisperx
    from whisperx.diarize import Segment
    from whisperx.vads.vad import Vad

    device = settings["device"]
    align_path, why_not = alignment_model(language) if settings["align"] else (None, "align is off")
    # Aligned, chunks join up to WhisperX's 30 s (fewer windows, the same words); unaligned, each
    # speech region stays its own segment so cue times keep the VAD's edges.
    chunk_size = float(settings["chunk_size"] if settings["chunk_size"] is not None
                       else (WHISPER_WINDOW if align_path else 0))
    windows = pack(split_long(vad["regions"], job_path / "audio.wav"), min(chunk_size, WHISPER_WINDOW))
    regions = [(w.start, w.end) for w in windows]  # what GivenRegions hands to WhisperX

    class GivenRegions(Vad):
        """The VAD stage's regions, handed to WhisperX in place of its own VAD run."""

        def __init__(self):
            super().__init__(0.5)

        @staticmethod
        def preprocess_audio(audio):
            return audio

        def __call__(self, _audio):
            return [Segment(start, end, None) for start, end in regions]

    def load(settings: dict):
        path = catalog.require(settings["model"], "asr")
        try:
            return whisperx.load_model(
                str(path), device, compute_type=settings["compute_type"], language=language,
                vad_model=GivenRegions(), threads=threads, local_files_only=True,
                asr_options={"beam_size": int(settings["beam_size"]), "hotwords": hotwords,
                             "condition_on_previous_text": bool(settings["condition_on_previous_text"])})
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"cannot load Whisper model '{settings['model']}' from {path}: {damaged(exc)}")

    model = load(settings)
    probability = None
    if language is None and model.model.model.is_multilingual:
        language, probability = detect_language(model.model, job_path / "audio.wav", vad["regions"])
        routed = reroute(language) if reroute else None
        if routed and routed != settings["model"]:
            print(f"note: {language} detected: the asr stage switches to {routed}", flush=True)
            settings = {**settings, "model": routed}
            model = load(settings)
    audio = whisperx.load_audio(str(job_path / "audio.wav"))
    batch = max(1, int(settings["batch_size"]))
    result = model.transcribe(  # chunk_size ~0: WhisperX joins nothing more, the chunks are made above
        audio, batch_size=batch, chunk_size=1e-3, language=language,
        progress_callback=lambda pct: print(f"progress: {pct / 100:.0%}", file=sys.stderr, flush=True))
    language = result["language"]
    redecoded = []
    short = short_windows(windows, result["segments"], settings)
    if short:  # decode the windows that fell short again, region by region
        regions[:] = [piece for index in short for piece in windows[index].pieces]
        again = model.transcribe(audio, batch_size=batch, chunk_size=1e-3, language=language)["segments"]
        for index in short:
            window = windows[index]
            before = [s for s in result["segments"] if within(s, window.start, window.end)]
            after = [s for s in again if within(s, window.start, window.end)]
            if word_count(after) > word_count(before):
                result["segments"] = [s for s in result["segments"] if s not in before] + after
                redecoded.append({"start": round(window.start, 3), "end": round(window.end, 3),
                                  "words_before": word_count(before), "words_after": word_count(after)})
        result["segments"].sort(key=lambda s: s["start"])
    # The script check decodes through faster-whisper's batched pipeline on WhisperX's own model
    # (a faster-whisper WhisperModel): the same prompt and language forcing as the other engines.
    result["segments"], language, script = script_check.settled_and_checked(
        result["segments"], language, probability is not None, "transcribe",
        lambda forced, prompt: faster_whisper_decoder(model.model, settings, forced, hotwords, prompt=prompt),
        job_path / "audio.wav", settings)
    decoding = {"windows": len(windows), "redecoded": redecoded, "script": script, "model": settings["model"]}
    segments = [{"start": s["start"], "end": s["end"], "text": s["text"], "words": []} for s in result["segments"]]
    if align_path is None and settings["align"]:
        align_path, why_not = alignment_model(language)  # the language was detected just now
    if align_path is None:
        print(f"note: no word alignment ({why_not}); cues follow the speech regions", file=sys.stderr, flush=True)
        return segments, language, probability, False, decoding
    align_model, metadata = whisperx.load_align_model(language, device, model_name=str(align_path))
    aligned = whisperx.align(result["segments"], align_model, metadata, audio, device)
    segments = []
    for seg in aligned["segments"]:
        words = timed_words(seg.get("words") or [], float(seg["start"]), float(seg["end"]))
        segments.append({"start": seg["start"], "end": seg["end"], "text": seg["text"], "words": words})
    return segments, language, probability, True, decoding


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
