"""Translation planning: which model serves a language pair, and what text goes to it.

Routing: Indic to English by IndicTrans2 indic-en, English to Indic by en-indic, Indic to Indic by
indic-indic, every other pair by NLLB-200. Which size of each serves the route is the machine's
translation tier (config/models.json "translation_tiers", chosen by shared/hardware.py and recorded in
config/hardware_cache.json). A job may name another catalog model for all its pairs.

ASR segments are fragments cut by pauses and window limits; a translator given "and the river" and
"rose in the night" separately gives two bad halves. So words are joined into sentences first (at
sentence-ending punctuation, or at a long pause), each sentence is translated once, and the
translation is laid back onto the sentence's time span; the subtitle rules then cut it into cues.
Standard library only: planning runs in any venv.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import hardware, languages, model_catalog
from shared.errors import UserError

PAUSE_BREAK = 1.5          # seconds of silence that end a sentence even without punctuation
MAX_SENTENCE_SECONDS = 20  # a run-on with no punctuation is cut here


def route_class(source: str, target: str) -> str:
    src_indic, tgt_indic = languages.is_indic(source), languages.is_indic(target)
    src_en, tgt_en = source.partition("-")[0] == "en", target.partition("-")[0] == "en"
    if src_indic and tgt_en:
        return "indic-en"
    if src_en and tgt_indic:
        return "en-indic"
    if src_indic and tgt_indic:
        return "indic-indic"
    return "other"


def routes(hw: dict | None = None) -> dict[str, str]:
    """{route class: model key} on this machine: hardware_cache.json's choice (a file written before
    the tiers existed gets the tier its hardware would choose now)."""
    hw = hw or hardware.load()
    chosen = hw.get("stages", {}).get("translate", {}).get("routes")
    if chosen:
        return chosen
    tier, _ = hardware.translation_tier(hw)
    return model_catalog.translation_tiers()[tier]


def route(source: str, target: str, override: str | None = None) -> model_catalog.Model:
    """The catalog model that translates source -> target (a job's override wins)."""
    key = override or routes()[route_class(source, target)]
    model = model_catalog.find(key, "translate")
    if model is None:
        raise UserError(f"unknown translation model '{key}': see ./cache-models.sh --list")
    if model.group == "indictrans2" and not (
            (languages.is_indic(source) or source == "en") and (languages.is_indic(target) or target == "en")):
        raise UserError(f"{model.key} translates only between English and the Indic languages: "
                        f"use an NLLB model for {languages.name(source)} -> {languages.name(target)}")
    return model


@dataclass
class Sentence:
    start: float
    end: float
    text: str


def sentences(segments: list[dict]) -> list[Sentence]:
    """Join the transcript's words into sentences with their time spans."""
    out: list[Sentence] = []
    words: list[tuple[float, float, str]] = []
    for seg in segments:
        seg_words = [(w["start"], w["end"], w["word"]) for w in seg.get("words") or [] if w["word"].strip()]
        if not seg_words and seg.get("text", "").strip():
            seg_words = [(seg["start"], seg["end"], " " + seg["text"].strip())]
        words += seg_words

    current: list[tuple[float, float, str]] = []

    def close():
        if current:
            out.append(Sentence(current[0][0], current[-1][1], "".join(w[2] for w in current).strip()))
            current.clear()

    for start, end, text in words:
        if current and (start - current[-1][1] >= PAUSE_BREAK or end - current[0][0] > MAX_SENTENCE_SECONDS):
            close()
        current.append((start, end, text))
        if languages.ends_sentence(text):
            close()
    close()
    return out


def translated_transcript(source: list[Sentence], translations: list[str], target: str, model: str,
                          backend: str, duration: float) -> dict:
    """The translation in the transcript schema: one segment per sentence, on the sentence's time span
    (no word times: the subtitle rules spread the words over the span)."""
    segments = [{"id": i, "start": s.start, "end": s.end, "text": t.strip(), "language": target, "words": []}
                for i, (s, t) in enumerate(zip(source, translations)) if t.strip()]
    return {"language": target, "language_probability": None, "duration": duration, "engine": backend,
            "model": model, "segments": segments}
