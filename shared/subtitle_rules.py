"""Readable cues from timed words: the rules subtitlers follow (Netflix-style defaults).

At most 42 characters a line and 2 lines, 5/6 s to 7 s on screen, about 17 characters a second, a
minimum gap between cues; a sentence ends its cue; a long sentence is cut at word times, preferably
after punctuation; lines break at the most balanced word boundary, preferring punctuation.
Characters are user-perceived characters (extended grapheme clusters, the `regex` module's \\X),
so a Devanagari conjunct or a Tamil vowel sign counts once, as a reader sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable

import regex

from shared.languages import ends_sentence

CLAUSE_END = tuple(",;:—–،")
PAUSE_SPLIT = 1.0  # a silence this long (s) between words starts a new cue


@dataclass(frozen=True)
class Rules:
    """The readability limits; their defaults live in config/pipeline.json's subtitles block."""
    max_chars_per_line: int
    max_lines: int
    min_duration: float
    max_duration: float
    max_cps: float
    min_gap: float

    @classmethod
    def from_settings(cls, settings: dict) -> "Rules":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in settings.items() if k in names})

    @classmethod
    def default(cls, **changes) -> "Rules":
        """config/pipeline.json's rules, with `changes`."""
        from shared import config

        return cls.from_settings({**config.pipeline_defaults()["subtitles"], **changes})


@dataclass
class Unit:
    start: float
    end: float
    text: str  # a word with its leading space, as the ASR wrote it


@dataclass
class Cue:
    start: float
    end: float
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def length(text: str) -> int:
    """User-perceived characters."""
    return len(regex.findall(r"\X", text))


def _join(units: list[Unit]) -> str:
    return "".join(u.text for u in units).strip()


def units_from_segments(segments: Iterable[dict]) -> list[Unit]:
    """Words with times; a segment without words is spread evenly over its words."""
    units: list[Unit] = []
    for seg in segments:
        words = [w for w in seg.get("words") or [] if w.get("word", "").strip()]
        if words:
            units += [Unit(float(w["start"]), float(w["end"]), w["word"]) for w in words]
            continue
        tokens = seg.get("text", "").split()
        if not tokens:
            continue
        step = (seg["end"] - seg["start"]) / len(tokens)
        units += [Unit(seg["start"] + i * step, seg["start"] + (i + 1) * step, " " + t) for i, t in enumerate(tokens)]
    return units


def layout(units: list[Unit], rules: Rules, lines: int | None = None) -> list[str] | None:
    """The best way to set units on at most `lines` lines, or None if they do not fit."""
    lines = rules.max_lines if lines is None else lines
    text = _join(units)
    if length(text) <= rules.max_chars_per_line:
        return [text]
    if lines <= 1 or len(units) < 2:
        return None
    best, best_score = None, None
    for cut in range(1, len(units)):
        first = _join(units[:cut])
        if length(first) > rules.max_chars_per_line:
            break
        rest = layout(units[cut:], rules, lines - 1)
        if rest is None:
            continue
        score = abs(length(first) - length(rest[0]))
        if ends_sentence(first) or first.endswith(CLAUSE_END):
            score -= 12
        if best_score is None or score < best_score:
            best, best_score = [first] + rest, score
    return best


def _best_cut(units: list[Unit]) -> int:
    """Where to end a cue that cannot grow: after the last punctuation in its latter two thirds, else
    before the last unit."""
    for i in range(len(units) - 1, 0, -1):
        text = units[i - 1].text.strip()
        if i >= len(units) / 3 and (ends_sentence(text) or text.endswith(CLAUSE_END)):
            return i
    return max(1, len(units) - 1)


def _fits(units: list[Unit], rules: Rules) -> bool:
    return (layout(units, rules) is not None
            and (len(units) == 1 or units[-1].end - units[0].start <= rules.max_duration))


def group(units: list[Unit], rules: Rules) -> list[list[Unit]]:
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    for unit in units:
        if current and unit.start - current[-1].end >= PAUSE_SPLIT:
            groups.append(current)
            current = []
        current.append(unit)
        while len(current) > 1 and not _fits(current, rules):
            cut = _best_cut(current[:-1]) if len(current) > 2 else 1
            groups.append(current[:cut])
            current = current[cut:]
        if ends_sentence(unit.text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _hard_wrap(text: str, rules: Rules) -> list[str]:
    """A single word longer than a line (a URL, a long compound): cut it by characters."""
    chars = regex.findall(r"\X", text)
    size = rules.max_chars_per_line
    return ["".join(chars[i:i + size]) for i in range(0, len(chars), size)][: rules.max_lines]


def build_cues(segments: Iterable[dict], rules: Rules) -> list[Cue]:
    groups = group(units_from_segments(segments), rules)
    cues = [Cue(g[0].start, g[-1].end, layout(g, rules) or _hard_wrap(_join(g), rules)) for g in groups]
    for i, cue in enumerate(cues):
        wanted = max(rules.min_duration, length(cue.text.replace("\n", " ")) / rules.max_cps)
        end = min(max(cue.end, cue.start + wanted), max(cue.end, cue.start + rules.max_duration))
        if i + 1 < len(cues):
            end = min(end, cues[i + 1].start - rules.min_gap)
        cue.end = max(end, cue.start + 0.1)
        if i + 1 < len(cues) and cues[i + 1].start < cue.end + rules.min_gap:
            cues[i + 1].start = cue.end + rules.min_gap
            cues[i + 1].end = max(cues[i + 1].end, cues[i + 1].start + 0.1)
    return cues
