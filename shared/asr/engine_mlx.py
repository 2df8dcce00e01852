"""The mlx engine (mlx venv): MLX-Whisper, Metal on Apple Silicon and MLX's CPU backend elsewhere.

The same speech windows, batches, coverage check and records as the faster-whisper engine, decoded
by the same beam search (shared/asr/mlx_beam.py: MLX-Whisper itself decodes greedily only), from a
local model directory only.
"""

from __future__ import annotations

from shared.asr import mlx_beam, script_check
from shared.asr.coverage import decode_checked
from shared.asr.decoding import detect_language, encoder_frames
from shared.asr.windows import SAMPLE_RATE
from shared.core.errors import UserError
from shared.models import catalog


_loaded: dict = {}  # the last model loaded, by name and compute type


def prepare(settings: dict) -> None:
    """The asr stage's warm start (stages/_common.when_told): MLX and the model loaded while the VAD runs."""
    mlx_model(settings)


def mlx_model(settings: dict):
    """(model, dtype): the catalog's MLX copy of the job's model, loaded once."""
    import mlx.core as mx
    from mlx.utils import tree_map
    from mlx_whisper.load_models import load_model

    # float16 on Metal; MLX's CPU backend is faster in float32 (tiny.en on this CPU: 10 s against 14 s).
    dtype = mx.float16 if settings.get("compute_type") == "float16" else mx.float32
    key = (settings["model"], settings.get("compute_type"))
    if key in _loaded:
        return _loaded[key], dtype
    path = catalog.require(settings["model"], "asr", "mlx")
    _loaded.clear()
    try:
        model = load_model(str(path), dtype)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"cannot load the MLX Whisper model '{settings['model']}' from {path}: {exc} "
                        f"(for a converted copy run ./cache-models.sh --mlx-from {settings['model']} again)")
    if dtype == mx.float32:
        model.update(tree_map(lambda p: p.astype(mx.float32) if p.dtype == mx.float16 else p, model.parameters()))
    _loaded[key] = model
    return model, dtype


def mlx_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None):
    """The mlx engine (MLX-Whisper: Metal on Apple Silicon, MLX's CPU backend elsewhere): the same
    speech windows, batches, coverage check and records as the faster-whisper engine, decoded with
    beam_size beams (shared/asr/mlx_beam.py); the model is
    the catalog's mlx-community copy or one converted by ./cache-models.sh --mlx-from, always a local
    directory, so nothing is downloaded."""
    model, dtype = mlx_model(settings)
    audio_path = job_path / "audio.wav"
    probability = None
    if language is None and model.is_multilingual:
        language, probability = detect_language(model, audio_path, vad["regions"], mlx_detector(model, dtype))
    language = language or "en"
    one_stream = {**settings, "workers": 1}  # one MLX stream
    out, redecoded, counts = decode_checked(mlx_decoder(model, dtype, settings, language, hotwords),
                                             audio_path, vad, one_stream)
    out, language, script = script_check.settled_and_checked(
        out, language, probability is not None, "transcribe",
        lambda forced, prompt: mlx_decoder(model, dtype, settings, forced, hotwords, prompt=prompt),
        audio_path, one_stream)
    return out, language, probability, {**counts, "redecoded": redecoded, "script": script}


def mlx_detector(model, dtype):
    """detector(samples) -> (language, probability) by MLX-Whisper's language detector."""
    from mlx_whisper.audio import N_FRAMES, log_mel_spectrogram, pad_or_trim

    def detect(sample) -> tuple[str, float]:
        mel = pad_or_trim(log_mel_spectrogram(sample, n_mels=model.dims.n_mels), N_FRAMES, axis=-2).astype(dtype)
        _, probs = model.detect_language(mel)
        language = max(probs, key=probs.get)
        return language, float(probs[language])
    return detect


def mlx_decoder(model, dtype, settings: dict, language: str, hotwords: str | None, *, prompt: str | None = None):
    """transcribe(audio, clips) by MLX-Whisper's model: the clips (windows) of a batch decoded
    together by beam search, the encoder hearing the batch's longest window and a little of the padding
    (encoder_frames, as the faster-whisper engine; beam_size 1: MLX-Whisper's greedy decoder, on the
    whole 30 s window, which it needs), then
    their words timed by cross-attention on the
    encoder output the decoding computed (mlx_whisper.transcribe would run the encoder again for
    the words, and decode the rest of a window again after its last word, where phantoms appear).
    A prompt is text the decoder reads as what came before (the script check's), the hotwords after it.
    Nothing is skipped here: the guard after decoding drops and records what Whisper wrote where
    nobody speaks, for every engine alike."""
    import mlx.core as mx
    from mlx_whisper.audio import N_FRAMES, log_mel_spectrogram, pad_or_trim
    from mlx_whisper.decoding import DecodingOptions
    from mlx_whisper.timing import add_word_timestamps
    from mlx_whisper.tokenizer import get_tokenizer

    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages, language=language,
                              task="transcribe")
    before = " ".join(text.strip() for text in (prompt, hotwords) if text and text.strip())
    options = DecodingOptions(language=language, task="transcribe", temperature=0.0,
                              prompt=tokenizer.encode(" " + before) if before else None,
                              without_timestamps=bool(settings["without_timestamps"]), fp16=dtype == mx.float16)

    class Encoded:
        """The model, with the encoder output of one window already computed."""

        def __init__(self, features):
            self.features = features

        def __getattr__(self, name):
            return getattr(model, name)

        def forward_with_cross_qk(self, _mel, tokens):
            logits, _, cross_qk = model.decoder(tokens, self.features[None])
            return logits, cross_qk

    beams = int(settings["beam_size"])

    def transcribe(audio, clips: list[dict]) -> list[dict]:
        mels, frames = [], []
        heard = encoder_frames(clips, settings) if beams > 1 else N_FRAMES  # greedy: MLX-Whisper's, 30 s
        for clip in clips:
            first, last = round(clip["start"] * SAMPLE_RATE), round(clip["end"] * SAMPLE_RATE)
            mel = log_mel_spectrogram(audio[first:last], n_mels=model.dims.n_mels)
            frames.append(min(heard, mel.shape[0]))
            mels.append(pad_or_trim(mel, heard, axis=-2).astype(dtype))
        out = []
        found = mlx_beam.decode(model, mx.stack(mels), options, beams)
        for clip, mel, count, result in zip(clips, mels, frames, found):
            length = clip["end"] - clip["start"]
            segment = {"seek": 0, "start": 0.0, "end": length, "tokens": result.tokens}
            add_word_timestamps(segments=[segment], model=Encoded(result.audio_features), tokenizer=tokenizer,
                                mel=mel, num_frames=count, last_speech_timestamp=0.0)
            shift = clip["start"]
            out.append({"start": segment["start"] + shift, "end": min(segment["end"], length) + shift,
                        "text": result.text, "avg_logprob": result.avg_logprob,
                        "no_speech_prob": result.no_speech_prob, "compression_ratio": result.compression_ratio,
                        "words": [{"start": w["start"] + shift, "end": min(w["end"], length) + shift,
                                   "word": w["word"], "probability": w["probability"]}
                                  for w in segment.get("words") or []]})
        return out
    return transcribe
