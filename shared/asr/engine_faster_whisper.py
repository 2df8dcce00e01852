"""The faster-whisper engine (common venv): CTranslate2 Whisper through BatchedInferencePipeline.

The speech windows are decoded in batches, then checked for coverage (shared/asr/coverage.py).
Word times come from cross-attention. Nothing conditions on previous text: on long films that is
the usual source of repeated-phrase hallucination.
"""

from __future__ import annotations

from shared.asr import script_check
from shared.asr.coverage import decode_checked
from shared.asr.decoding import detect_language, encoder_frames, threads_each, workers
from shared.core import config
from shared.core.errors import UserError
from shared.models import catalog


_loaded: dict = {}  # the last model loaded, by what it was loaded with (one: a rerouted job frees the first)


def prepare(settings: dict) -> None:
    """The asr stage's warm start (stages/_common.when_told): the model loaded while the VAD runs."""
    load_model(settings)


def load_model(settings: dict):
    """The Whisper model from the project cache, through the catalog (or a model directory the user
    gave). With --allow-download a missing catalog model is fetched first. Loaded once: the warm
    start's model, and the first pass's for the speech translation, are the decoding's."""
    from faster_whisper import WhisperModel

    name = settings["model"]
    key = (name, settings["device"], settings["compute_type"], threads_each(settings), workers(settings))
    if key in _loaded:
        return _loaded[key]
    if config.downloads_allowed():
        model = catalog.find(name, "asr")
        if model is not None and catalog.snapshot(model) is None:
            from shared.models import cache

            cache.fetch(model)
    path = catalog.require(name, "asr")
    _loaded.clear()
    try:
        _loaded[key] = WhisperModel(str(path), device=settings["device"],
                                    compute_type=settings["compute_type"],
                                    cpu_threads=threads_each(settings), num_workers=workers(settings))
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"cannot load Whisper model '{name}' from {path}: {damaged(exc)}")
    return _loaded[key]


def damaged(exc: Exception) -> str:
    """CTranslate2 reads a damaged header's version field as a number and blames a 'later version
    of CTranslate2': say what is likelier."""
    text = str(exc)
    if "version" in text.lower() or "unsupported" in text.lower():
        return (f"its model.bin is damaged or not a CTranslate2 model ({text}); for a cached model run "
                "./cache-models.sh --verify --repair")
    return text


def faster_whisper_decoder(model, settings: dict, language: str, hotwords: str | None, *,
                           prompt: str | None = None, task: str = "transcribe"):
    """transcribe(audio, clips) by faster-whisper's BatchedInferencePipeline: the clips of a batch of
    windows decoded together, in one batch. Safe to call from several threads: each call has a
    pipeline of its own (a pipeline keeps the last word's time between calls), over the one model,
    whose CTranslate2 workers decode that many batches at once. task "translate" is Whisper's own
    speech translation into English; a prompt is text the decoder reads as what came before."""
    from faster_whisper import BatchedInferencePipeline

    def transcribe(audio, clips: list[dict]) -> list[dict]:
        heard = _HeardOnly(model, encoder_frames(clips, settings))
        segments, _ = BatchedInferencePipeline(heard).transcribe(
            audio, language=language, task=task, initial_prompt=prompt, clip_timestamps=clips, batch_size=len(clips),
            word_timestamps=True, beam_size=int(settings["beam_size"]), hotwords=hotwords,
            without_timestamps=bool(settings["without_timestamps"]))
        return [{"start": seg.start, "end": seg.end, "text": seg.text, "avg_logprob": seg.avg_logprob,
                 "no_speech_prob": seg.no_speech_prob, "compression_ratio": seg.compression_ratio,
                 "words": [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                           for w in (seg.words or [])]} for seg in segments]
    return transcribe


class _HeardOnly:
    """The WhisperModel as BatchedInferencePipeline sees it, its encoder given only the first `frames`
    mel frames of each clip (the pipeline pads every clip to 30 s). Everything else is the model's.
    Word times stay within what is heard: the pipeline aligns a clip over its whole seconds, which
    encoder_frames always keeps."""

    def __init__(self, model, frames: int):
        self._model, self._frames = model, frames

    def __getattr__(self, name):
        return getattr(self._model, name)

    def encode(self, features):
        return self._model.encode(features[..., :self._frames])


def faster_whisper_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None,
                            *, reroute=None, task: str = "transcribe"):
    """Windows of joined regions decoded in batches; a region whose words fall short of its speech is
    decoded again on its own, and a segment in the wrong script with a prompt in the right one; both
    are recorded. With the language detected, reroute(language) names the model that hears it (the
    language's route) and the stage switches to it; Hindi against Urdu is then settled by the script
    the words came out in. task "translate": Whisper's English, checked the same way."""
    model = load_model(settings)
    probability = None
    audio_path = job_path / "audio.wav"
    if language is None and model.model.is_multilingual:
        language, probability = detect_language(model, audio_path, vad["regions"])
        routed = reroute(language) if reroute else None
        if routed and routed != settings["model"]:
            print(f"note: {language} detected: the asr stage switches to {routed}", flush=True)
            settings = {**settings, "model": routed}
            model = load_model(settings)
    language = language or "en"
    out, redecoded, counts = decode_checked(faster_whisper_decoder(model, settings, language, hotwords, task=task),
                                             audio_path, vad, settings)
    out, language, script = script_check.settled_and_checked(
        out, language, probability is not None, task,
        lambda forced, prompt: faster_whisper_decoder(model, settings, forced, hotwords, prompt=prompt, task=task),
        audio_path, settings)
    return out, language, probability, {**counts, "redecoded": redecoded, "script": script,
                                        "model": settings["model"]}
