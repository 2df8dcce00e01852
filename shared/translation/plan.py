"""Translation planning: which model serves a language pair, and what text goes to it.

Routing: Indic to English by IndicTrans2 indic-en, English to Indic by en-indic, Indic to Indic by
indic-indic, every other pair by NLLB-200. Which size of each serves the route is the machine's
translation tier (config/models.json "translation_tiers", chosen by shared/models/hardware.py and recorded in
config/hardware_cache.json). A job may name another catalog model for all its pairs.

ASR segments are fragments cut by pauses and window limits; a translator given "and the river" and
"rose in the night" separately gives two bad halves. So words are joined into sentences first (at
sentence-ending punctuation, or at a long pause), each sentence is translated once, and the
translation is laid back onto the sentence's time span; the subtitle rules then cut it into cues.
Planning needs only the standard library and `regex` (the subtitle rules): it runs in the common and
translate venvs alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from shared.core import languages
from shared.core.errors import UserError
from shared.models import catalog, hardware
from shared.subtitles.rules import TextRules
from shared.translation import romanize

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
    return hardware.routes("translate", hw)


def needs_model(source: str, target: str) -> bool:
    """False where the target is the source language in another script (hi -> hi-Latn): that is
    transliteration alone (shared/translation/romanize.py)."""
    return not (romanize.target_script(target) and target.partition("-")[0] == source.partition("-")[0])


def route(source: str, target: str, override: str | None = None) -> catalog.Model:
    """The catalog model that translates source -> target (a job's override wins)."""
    key = override or routes()[route_class(source, target)]
    model = catalog.find(key, "translate")
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
    pieces: list[tuple[float, float, str]] = field(default_factory=list)  # its words (or cues), timed
    speaker: str | None = None  # who says it (the speakers stage): a sentence never spans two


def sentences(segments: list[dict], language: str | None = None) -> list[Sentence]:
    """Join the transcript's words into sentences with their time spans. Where a sentence ends is
    the subtitle rules' answer for the language (an abbreviation such as "Dr." or "डॉ." ends none);
    a speaker's turn ends one too."""
    ends = TextRules.of(language).ends_sentence
    out: list[Sentence] = []
    words: list[tuple[float, float, str]] = []
    speakers: list[str | None] = []
    for seg in segments:
        seg_words = [(w["start"], w["end"], w["word"]) for w in seg.get("words") or [] if w["word"].strip()]
        said = [w.get("speaker", seg.get("speaker")) for w in seg.get("words") or [] if w["word"].strip()]
        if not seg_words and seg.get("text", "").strip():
            seg_words, said = [(seg["start"], seg["end"], " " + seg["text"].strip())], [seg.get("speaker")]
        words += seg_words
        speakers += said

    current: list[tuple[float, float, str]] = []
    current_speaker: list[str | None] = [None]

    def close():
        if current:
            out.append(Sentence(current[0][0], current[-1][1], "".join(w[2] for w in current).strip(), list(current),
                                current_speaker[0]))
            current.clear()

    for index, (start, end, text) in enumerate(words):
        if current and (start - current[-1][1] >= PAUSE_BREAK or end - current[0][0] > MAX_SENTENCE_SECONDS
                        or speakers[index] != current_speaker[0]):
            close()
        current_speaker[0] = speakers[index]
        current.append((start, end, text))
        if ends(text, words[index + 1][2] if index + 1 < len(words) else None):
            close()
    close()
    return out


def onto_pieces(sentence: Sentence, translated: str,
                bad_break: Callable[[str, str], bool] | None = None) -> list[tuple[float, float, str]]:
    """A sentence's translation laid back onto the timed pieces it was joined from (a subs job's cues):
    the words cut where the share of text before each cut is nearest the source's share (at
    punctuation when that is about as near; not between two words bad_break(before, after) keeps
    together, such as a postposition and its noun, unless much nearer); a piece left without words
    lends its time to a neighbour."""
    tokens = translated.split()
    pieces = sentence.pieces or [(sentence.start, sentence.end, sentence.text)]
    if len(pieces) == 1 or not tokens:
        return [(sentence.start, sentence.end, translated.strip())] if tokens else []
    weights = [max(1, len(p[2].strip())) for p in pieces]
    sizes = [len(t) + 1 for t in tokens]
    total, cuts, previous = sum(sizes), [], 0
    for k in range(1, len(pieces)):
        wanted = sum(weights[:k]) / sum(weights)
        spare = len(tokens) - previous > len(pieces) - k  # enough words left for one in every piece
        lowest = previous + 1 if spare else previous
        highest = len(tokens) - (len(pieces) - k) if spare else len(tokens)
        choices = range(lowest, max(lowest, highest) + 1)

        def miss(c: int) -> float:
            at_punctuation = 0 < c and tokens[c - 1][-1] in ",;:.!?।॥-–—…"
            torn = 0 < c < len(tokens) and bad_break is not None and bad_break(tokens[c - 1], tokens[c])
            return abs(sum(sizes[:c]) / total - wanted) - (0.04 if at_punctuation else 0.0) + (0.15 if torn else 0.0)

        previous = min(choices, key=miss)
        cuts.append(previous)
    bounds = [0, *cuts, len(tokens)]
    out: list[tuple[float, float, str]] = []
    lent = None  # the start of leading pieces left without words
    for (start, end, _), a, b in zip(pieces, bounds, bounds[1:]):
        if b > a:
            out.append((start if lent is None else lent, end, " ".join(tokens[a:b])))
            lent = None
        elif out:
            out[-1] = (out[-1][0], end, out[-1][2])
        elif lent is None:
            lent = start
    return out


def translated_transcript(source: list[Sentence], translations: list[str], target: str, model: str,
                          backend: str, duration: float, keep_pieces: bool = False,
                          bad_break: Callable[[str, str], bool] | None = None) -> dict:
    """The translation in the transcript schema: one segment per sentence, on the sentence's time span
    (no word times: the subtitle rules spread the words over the span); with keep_pieces, one per
    piece the sentence was joined from (a subs job's cues), on the piece's time."""
    spans = [[(s.start, s.end, t.strip(), s.speaker)] if not keep_pieces else
             [(*piece, s.speaker) for piece in onto_pieces(s, t, bad_break)] for s, t in zip(source, translations)]
    segments = [{"id": i, "start": start, "end": end, "text": text, "language": target, "words": [],
                 **({"speaker": speaker} if speaker else {})}
                for i, (start, end, text, speaker) in enumerate(span for group in spans for span in group if span[2])]
    return {"language": target, "language_probability": None, "duration": duration, "engine": backend,
            "model": model, "segments": segments}
