"""Readable cues from timed words: the rules subtitlers follow (Netflix-style defaults).

At most 42 characters a line and 2 lines, 5/6 s to 7 s on screen, about 17 characters a second, a
minimum gap between cues; a sentence ends its cue; a long sentence is cut at word times, at a clause
boundary first; lines break at the most balanced word boundary that a reader takes in one glance.
Characters are user-perceived characters (extended grapheme clusters, the `regex` module's \\X),
so a Devanagari conjunct or a Tamil vowel sign counts once, as a reader sees it.

What the text means for a break comes from data, per language (config/subtitle_languages.json):
an abbreviation or an initial ends no sentence (Mr., e.g., डॉ., J.); no line or cue ends on an
article, a preposition, a conjunction or an auxiliary; a postposition or case marker stays with the
word before it (का की के में से ...); a name (two capitalised words) is not split; when two breaks
are near equal, the bottom-heavy one (shorter first line) wins. A cue shorter than the minimum is
merged with a neighbour when they fit together, else it extends into the silence after it, else the
next cue starts later where it has room; only a cue none of that can save stays short, and it is
reported (short_cues).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Iterable

import regex

from shared.core import config

# Marks that end a sentence in the scripts we subtitle: Latin, Devanagari and Bengali (danda, double
# danda), Arabic and Urdu question mark and full stop, and the ellipsis.
SENTENCE_END = (".", "?", "!", "।", "॥", "…", "؟", "۔")
CLOSING = "\"'”’»)]"
OPENING = "\"'“‘«(["


def _end_mark(text: str) -> bool:
    """Whether a word or line ends in a sentence-ending mark (a closing quote or bracket after it
    counts). Whether a sentence really ends there is TextRules.ends_sentence's to say."""
    return text.strip().rstrip(CLOSING).endswith(SENTENCE_END)


CLAUSE_END = tuple(",;:—–،")
PAUSE_SPLIT = 1.0  # a silence this long (s) between words starts a new cue
ELLIPSIS = ("...", "…")
INITIAL = regex.compile(r"^\p{Lu}\.$")
CASED_START = regex.compile(r"^[\W_]*\p{Lu}")


@dataclass(frozen=True)
class TextRules:
    """A language's words that matter for breaks (config/subtitle_languages.json)."""
    abbreviations: frozenset = frozenset()
    no_line_end: frozenset = frozenset()
    keep_with_previous: frozenset = frozenset()
    dialogue_dash: str = "- "  # what starts each speaker's line in a two-speaker cue

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def of(language: str | None) -> "TextRules":
        table = config.load_json(config.CONFIG_DIR / "subtitle_languages.json")
        entry = table.get((language or "").partition("-")[0], {})
        fold = lambda words: frozenset(w.casefold() for w in words)  # noqa: E731
        return TextRules(fold(entry.get("abbreviations", [])), fold(entry.get("no_line_end", [])),
                         fold(entry.get("keep_with_previous", [])),
                         entry.get("dialogue_dash", table["dialogue_dash"]))

    @staticmethod
    def _bare(text: str) -> str:
        return text.strip().strip(OPENING + CLOSING).casefold()

    def is_abbreviation(self, text: str) -> bool:
        word = text.strip().lstrip(OPENING)
        return word.casefold() in self.abbreviations or bool(INITIAL.match(word))

    def ends_sentence(self, text: str, following: str | None) -> bool:
        """A sentence ends after this word (and before `following`, the next word, if any). Given
        more than a word (a cue's text, as a subs job's translation joins them), its last word
        decides: the same answer for subtitles and translation."""
        words = text.split()
        if not words:
            return False
        last = words[-1]
        if not _end_mark(last) or self.is_abbreviation(last):
            return False
        if last.rstrip(CLOSING).endswith(ELLIPSIS) and following is not None:
            return _capitalised(following)  # ... then a capital: a new sentence
        return True

    def weak_end(self, text: str) -> bool:
        """A word a line or cue must not end on (also an abbreviation: "Mr." / "John")."""
        return self._bare(text) in self.no_line_end or self.is_abbreviation(text)

    def clings(self, text: str) -> bool:
        """A word that must not start a line or cue (it belongs to the word before it)."""
        return self._bare(text) in self.keep_with_previous


def _capitalised(text: str) -> bool:
    return bool(CASED_START.match(text.strip()))


@dataclass(frozen=True)
class Rules:
    """The readability limits; their defaults live in config/pipeline.json's subtitles block."""
    max_chars_per_line: int
    max_lines: int
    min_duration: float
    max_duration: float
    max_cps: float
    min_gap: float
    min_gap_frames: int
    snap_frames: int
    chain_seconds: float
    low_confidence: float  # a word the recogniser gave a lower probability is flagged for review

    @classmethod
    def from_settings(cls, settings: dict, language: str | None = None) -> "Rules":
        """The subtitles settings, with the language's own limits (settings["languages"][code],
        e.g. a reading speed) over them."""
        names = {f.name for f in fields(cls)}
        own = (settings.get("languages") or {}).get((language or "").partition("-")[0], {})
        return cls(**{k: v for k, v in {**settings, **own}.items() if k in names})

    @classmethod
    def default(cls, **changes) -> "Rules":
        """config/pipeline.json's rules, with `changes`."""
        from shared.core import config

        return cls.from_settings({**config.pipeline_defaults()["subtitles"], **changes})


@dataclass
class Unit:
    start: float
    end: float
    text: str  # a word with its leading space, as the ASR wrote it
    speaker: str | None = None  # its speaker's label, where the speakers stage ran
    probability: float | None = None  # the recogniser's word probability, where it gave one


@dataclass
class Cue:
    start: float
    end: float
    lines: list[str]
    speakers: list[str] = field(default_factory=list)  # who speaks: one, or two in a dialogue cue (a line each)
    words: list[Unit] = field(default_factory=list)  # its words with their times (karaoke), in order

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


GRAPHEME = regex.compile(r"\X")


def length(text: str) -> int:
    """User-perceived characters (ASCII: one each)."""
    return len(text) if text.isascii() else len(GRAPHEME.findall(text))


def _join(units: list[Unit]) -> str:
    return "".join(u.text for u in units).strip()


def units_from_segments(segments: Iterable[dict]) -> list[Unit]:
    """Words with times; a segment without words is spread evenly over its words."""
    units: list[Unit] = []
    for seg in segments:
        words = [w for w in seg.get("words") or [] if w.get("word", "").strip()]
        if words:
            units += [Unit(float(w["start"]), float(w["end"]), w["word"], w.get("speaker", seg.get("speaker")),
                           w.get("probability")) for w in words]
            continue
        tokens = seg.get("text", "").split()
        if not tokens:
            continue
        step = (seg["end"] - seg["start"]) / len(tokens)
        units += [Unit(seg["start"] + i * step, seg["start"] + (i + 1) * step, " " + t, seg.get("speaker"))
                  for i, t in enumerate(tokens)]
    return units


def break_cost(before: list[Unit], after: list[Unit], text: TextRules) -> int:
    """What a reader pays for a break between two runs of words (a line break or a cue boundary)."""
    last, first = before[-1].text, after[0].text
    cost = 0
    if text.weak_end(last):
        cost += HARD  # "the" / "of" / "and" left hanging
    if text.clings(first):
        cost += HARD  # a postposition torn from its word
    if _capitalised(last) and _capitalised(first) and len(before) > 1 and not _end_mark(last) \
            and not last.strip().endswith(CLAUSE_END):
        cost += 25  # a name cut in two ("John | Dashwood")
    if _end_mark(last) or last.strip().endswith(CLAUSE_END):
        cost -= 12  # a break at punctuation reads best
    return cost


HARD = 40  # a break cost this high is a fault a subtitler would reject (a weak end, a torn postposition)


def layout(units: list[Unit], rules: Rules, lines: int | None = None, text: TextRules = TextRules(),
           strict: bool = False) -> list[str] | None:
    """The best way to set units on at most `lines` lines, or None if they do not fit: balanced
    lines, bottom-heavy when near balanced, broken where the language allows (strict: only there)."""
    lines = rules.max_lines if lines is None else lines
    joined = _join(units)
    if length(joined) <= rules.max_chars_per_line:
        return [joined]
    if lines <= 1 or len(units) < 2:
        return None
    best, best_score = None, None
    for cut in range(1, len(units)):
        first = _join(units[:cut])
        if length(first) > rules.max_chars_per_line:
            break
        cost = break_cost(units[:cut], units[cut:], text)
        if strict and cost >= HARD:
            continue
        rest = layout(units[cut:], rules, lines - 1, text, strict)
        if rest is None:
            continue
        difference = length(first) - length(rest[0])
        score = abs(difference) + (3 if difference > 0 else 0) + cost
        if best_score is None or score < best_score:
            best, best_score = [first] + rest, score
    return best


def _best_cut(units: list[Unit], text: TextRules) -> int:
    """Where to end a cue that cannot grow (a cut after units[:i]): at a sentence end, else a clause
    end, in its latter two thirds; else the cheapest break near the end."""
    floor = len(units) / 3
    for wanted in (lambda u: text.ends_sentence(u.text, None), lambda u: u.text.strip().endswith(CLAUSE_END)):
        for i in range(len(units) - 1, 0, -1):
            if i >= floor and wanted(units[i - 1]):
                return i
    candidates = range(max(1, int(floor)), len(units))
    return min(candidates, key=lambda i: (break_cost(units[:i], units[i:], text) > 0, -i), default=max(1, len(units) - 1))


def _fits(units: list[Unit], rules: Rules, text: TextRules) -> bool:
    return (layout(units, rules, text=text, strict=True) is not None
            and (len(units) == 1 or units[-1].end - units[0].start <= rules.max_duration))


def group(units: list[Unit], rules: Rules, text: TextRules = TextRules()) -> list[list[Unit]]:
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    for index, unit in enumerate(units):
        if current and (unit.start - current[-1].end >= PAUSE_SPLIT or unit.speaker != current[-1].speaker):
            groups.append(current)  # a pause, or a speaker's turn, ends a cue
            current = []
        current.append(unit)
        while len(current) > 1 and not _fits(current, rules, text):
            cut = _best_cut(current[:-1], text) if len(current) > 2 else 1
            groups.append(current[:cut])
            current = current[cut:]
        following = units[index + 1].text if index + 1 < len(units) else None
        if text.ends_sentence(unit.text, following):
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


def _merge_short(groups: list[list[Unit]], rules: Rules, text: TextRules) -> list[list[Unit]]:
    """A group shorter than the minimum duration, with no silence after it to grow into, joins a
    neighbour of its own sentence (the nearer in time first) when the two fit in one cue. A sentence
    still ends its cue: across one, the timing gives room instead (build_cues)."""
    out = [list(g) for g in groups]
    i = 0
    while i < len(out):
        g = out[i]
        room = (out[i + 1][0].start - rules.min_gap) if i + 1 < len(out) else float("inf")
        if min(room, g[0].start + rules.max_duration) - g[0].start >= rules.min_duration - 1e-9:
            i += 1
            continue
        options = []
        if i > 0 and not text.ends_sentence(out[i - 1][-1].text, g[0].text) and out[i - 1][-1].speaker == g[0].speaker:
            options.append((g[0].start - out[i - 1][-1].end, i - 1))
        if i + 1 < len(out) and not text.ends_sentence(g[-1].text, out[i + 1][0].text) \
                and out[i + 1][0].speaker == g[-1].speaker:
            options.append((out[i + 1][0].start - g[-1].end, i + 1))
        for _, j in sorted(options):
            merged = out[min(i, j)] + out[max(i, j)]
            if out[max(i, j)][0].start - out[min(i, j)][-1].end < PAUSE_SPLIT and _fits(merged, rules, text):
                out[min(i, j):max(i, j) + 1] = [merged]
                i = max(0, min(i, j) - 1)
                break
        else:
            i += 1
    return out


LINGER = 0.5  # seconds an out-time may run past the speech (Netflix: 12 frames) for reading time


def _dialogue(first: list[Unit], second: list[Unit], rules: Rules, text: TextRules,
              until: float) -> list[str] | None:
    """The lines of a two-speaker cue, a dash and a line each, or None where the two turns do not
    make one: the same speaker, a pause between them, a line too long, too long on screen together,
    or too fast to read in the time they may have (until the next cue, at most LINGER past the speech)."""
    if first[-1].speaker is None or first[-1].speaker == second[0].speaker or rules.max_lines < 2:
        return None
    if second[0].start - first[-1].end >= PAUSE_SPLIT or second[-1].end - first[0].start > rules.max_duration:
        return None
    lines = [text.dialogue_dash + _join(first), text.dialogue_dash + _join(second)]
    if any(length(line) > rules.max_chars_per_line for line in lines):
        return None
    seconds = min(second[-1].end + LINGER, until, first[0].start + rules.max_duration) - first[0].start
    if sum(length(line) - length(text.dialogue_dash) for line in lines) / max(seconds, 1e-3) > rules.max_cps:
        return None
    return lines


def _cue(units: list[Unit], rules: Rules, text: TextRules) -> Cue:
    lines = layout(units, rules, text=text, strict=True) or layout(units, rules, text=text) \
        or _hard_wrap(_join(units), rules)
    return Cue(units[0].start, units[-1].end, lines, [units[0].speaker] if units[0].speaker else [], list(units))


def _cues(groups: list[list[Unit]], rules: Rules, text: TextRules) -> list[Cue]:
    """A cue per group, except that two turns of two speakers, one right after the other, share a
    dialogue cue: a line each, each line starting with the language's dash (never more than two
    speakers in a cue, never two on one line). Which turns pair is chosen over the whole track
    (dynamic programming): first so that the fewest turns too brief to read alone (under twice the
    minimum duration) stand alone, then so that the most exchanges pair."""
    n = len(groups)

    def alone(i: int) -> float:
        brief = groups[i][-1].end - groups[i][0].start < 2 * rules.min_duration
        return (1.0 if brief else 0.0) + 0.2

    pairs = [None] * n
    for i in range(n - 1):
        until = groups[i + 2][0].start - rules.min_gap if i + 2 < n else float("inf")
        pairs[i] = _dialogue(groups[i], groups[i + 1], rules, text, until)
    best = [0.0] * (n + 1)  # best[i]: the least cost of groups[i:]
    choice = [1] * (n + 1)
    for i in range(n - 1, -1, -1):
        best[i], choice[i] = alone(i) + best[i + 1], 1
        if pairs[i] is not None and 0.1 + best[i + 2] < best[i]:
            best[i], choice[i] = 0.1 + best[i + 2], 2
    cues, i = [], 0
    while i < n:
        if choice[i] == 2:
            cues.append(Cue(groups[i][0].start, groups[i + 1][-1].end, pairs[i],
                            [groups[i][0].speaker, groups[i + 1][0].speaker], groups[i] + groups[i + 1]))
        else:
            cues.append(_cue(groups[i], rules, text))
        i += choice[i]
    return cues


def build_cues(segments: Iterable[dict], rules: Rules, language: str | None = None) -> list[Cue]:
    """Cues of the segments' words by the rules and the language's text rules."""
    text = TextRules.of(language)
    groups = _merge_short(group(units_from_segments(segments), rules, text), rules, text)
    cues = _cues(groups, rules, text)
    for i, cue in enumerate(cues):
        wanted = max(rules.min_duration, length(cue.text.replace("\n", " ")) / rules.max_cps)
        end = min(max(cue.end, cue.start + wanted), max(cue.end, cue.start + rules.max_duration))
        if i + 1 < len(cues):
            following = cues[i + 1]
            shortest = cue.start + rules.min_duration
            if shortest > following.start - rules.min_gap:  # too short, no silence: the next cue starts later
                spare = following.end - following.start - rules.min_duration
                following.start += max(0.0, min(spare, shortest + rules.min_gap - following.start))
            end = min(end, following.start - rules.min_gap)
        cue.end = max(end, cue.start + 0.1)
        if i + 1 < len(cues) and cues[i + 1].start < cue.end + rules.min_gap:
            cues[i + 1].start = cue.end + rules.min_gap
            cues[i + 1].end = max(cues[i + 1].end, cues[i + 1].start + 0.1)
    return cues


def _nearest(changes: list[float], moment: float, within: float) -> float | None:
    found = min(changes, key=lambda c: abs(c - moment), default=None)
    return found if found is not None and abs(found - moment) <= within else None


def to_picture(cues: list[Cue], rules: Rules, fps: float | None, changes: list[float]) -> list[dict]:
    """Time the cues to the picture, as subtitlers do (Netflix timing guidelines): an in-time within
    snap_frames of a cut moves onto the cut; an out-time within snap_frames of a cut ends min_gap_frames
    before it (so no cue crosses a cut by a few frames); a gap shorter than chain_seconds between two
    cues, with no cut in it, is closed to min_gap_frames; then every edge lands on a frame, with the
    minimum duration kept in whole frames. Nothing happens without a frame rate (audio-only media).
    Returns the adjustments made (cut and chaining moves; every edge is also put on a frame)."""
    if not fps or not cues:
        return []
    frame, adjustments = 1.0 / fps, []
    snap, gap = rules.snap_frames / fps, rules.min_gap_frames / fps

    def move(i: int, edge: str, to: float, why: str) -> None:
        before = cues[i].start if edge == "in" else cues[i].end
        if abs(to - before) > 1e-6:
            adjustments.append({"cue": i, "edge": edge, "before": round(before, 3), "after": round(to, 3), "why": why})
            setattr(cues[i], "start" if edge == "in" else "end", to)

    def room_before(i: int, cut: float) -> bool:
        """Whether cue i may start on `cut`: the cue before it ends in time, or will end before the
        cut in the next pass (its out-time is near the cut too and it stays long enough)."""
        if i == 0:
            return True
        before = cues[i - 1]
        return before.end <= cut - gap or (abs(before.end - cut) <= snap
                                           and cut - gap >= before.start + rules.min_duration)

    for i, cue in enumerate(cues):  # in-times onto cuts
        cut = _nearest(changes, cue.start, snap)
        if cut is not None and (cut > cue.start and cue.end - cut >= rules.min_duration
                                or cut < cue.start and room_before(i, cut)):
            move(i, "in", cut, f"shot change at {cut:.3f}")
    for i, cue in enumerate(cues):  # out-times before cuts, or chained to the next cue
        following = cues[i + 1] if i + 1 < len(cues) else None
        cut = _nearest(changes, cue.end, snap)
        if cut is not None and cut - gap >= cue.start + rules.min_duration and (
                cut - gap <= cue.end or following is None or cut <= following.start):
            move(i, "out", cut - gap, f"shot change at {cut:.3f}")
        elif following is not None and 0 < following.start - cue.end < rules.chain_seconds \
                and not any(cue.end < c <= following.start for c in changes):
            move(i, "out", following.start - gap, "chained to the next cue")
    least = math.ceil(rules.min_duration * fps - 1e-6)
    for i, cue in enumerate(cues):  # onto frames
        first = round(cue.start * fps)
        if i:
            first = max(first, round(cues[i - 1].end * fps) + rules.min_gap_frames)
        last = max(round(cue.end * fps), first + least)
        if i + 1 < len(cues):
            last = max(first + 1, min(last, round(cues[i + 1].start * fps) - rules.min_gap_frames))
        cue.start, cue.end = first * frame, last * frame
    return adjustments


def cps(cue: Cue) -> float:
    """A cue's reading speed: characters (its lines joined) a second on screen."""
    return length(cue.text.replace("\n", " ")) / max(cue.end - cue.start, 1e-3)


def _crossings(cue: Cue, rules: Rules, changes, fps: float | None) -> list[float]:
    """The cuts a cue crosses by fewer than snap_frames (an edge in the shot-change zone)."""
    if not fps:
        return []
    zone = rules.snap_frames / fps - 1e-6
    return [cut for cut in changes if cue.start < cut < cue.end and min(cut - cue.start, cue.end - cut) < zone]


def cue_flags(cues: list[Cue], rules: Rules, changes=(), fps: float | None = None) -> list[list[dict]]:
    """What a reviewer should look at in each cue, as {"kind", "detail"} (the kinds compliance()
    counts, plus low-confidence words and speaker changes): reading_speed, short, long, line_length,
    lines, shot_change, low_confidence, speaker_change."""
    flags: list[list[dict]] = []
    previous: str | None = None
    for cue in cues:
        found = []
        speed = cps(cue)
        if speed > rules.max_cps + 0.05:
            found.append({"kind": "reading_speed", "detail": f"{speed:.1f} characters/s (limit {rules.max_cps:g})"})
        seconds = cue.end - cue.start
        if seconds < rules.min_duration - 1e-6:
            found.append({"kind": "short", "detail": f"{seconds:.2f} s on screen (minimum {rules.min_duration:g} s)"})
        if seconds > rules.max_duration + 1e-6:
            found.append({"kind": "long", "detail": f"{seconds:.2f} s on screen (maximum {rules.max_duration:g} s)"})
        over = [length(line) for line in cue.lines if length(line) > rules.max_chars_per_line]
        if over:
            found.append({"kind": "line_length", "detail": f"a line of {max(over)} characters "
                                                           f"(limit {rules.max_chars_per_line})"})
        if len(cue.lines) > rules.max_lines:
            found.append({"kind": "lines", "detail": f"{len(cue.lines)} lines (limit {rules.max_lines})"})
        for cut in _crossings(cue, rules, changes, fps):
            frames = round(min(cut - cue.start, cue.end - cut) * fps)
            found.append({"kind": "shot_change", "detail": f"{frames} frames from the shot change at {cut:.3f} s"})
        unsure = [w for w in cue.words if w.probability is not None and w.probability < rules.low_confidence]
        if unsure:
            found.append({"kind": "low_confidence", "detail": ", ".join(
                f"{w.text.strip()} ({w.probability:.2f})" for w in unsure)})
        speakers = cue.speakers or []
        if len(speakers) == 2:
            found.append({"kind": "speaker_change", "detail": f"two speakers: {speakers[0]}, then {speakers[1]}"})
        elif speakers and previous is not None and speakers[0] != previous:
            found.append({"kind": "speaker_change", "detail": f"{previous}, then {speakers[0]}"})
        previous = speakers[-1] if speakers else previous
        flags.append(found)
    return flags


def compliance(cues: list[Cue], rules: Rules, changes: list[float] = (), fps: float | None = None,
               flags: list[list[dict]] | None = None) -> dict:
    """What a subtitler's QC would flag in a track: lines over the character limit, cues with too
    many lines, cues shorter than the minimum or longer than the maximum (each a violation), and the
    fastest reading speed (characters per second; speech faster than the limit cannot be slowed
    without editing the words, so it is reported, not counted). Counted from cue_flags (given as
    `flags` where the caller has them), so the report and review.html's flags are the same checks."""
    flags = cue_flags(cues, rules, changes, fps) if flags is None else flags
    kinds = [[f["kind"] for f in found] for found in flags]

    def count(kind: str) -> int:
        return sum(found.count(kind) for found in kinds)

    short = [{"start": round(c.start, 3), "end": round(c.end, 3), "text": c.text}
             for c, found in zip(cues, kinds) if "short" in found]
    report = {
        "cues": len(cues),
        "max_cps": round(max((cps(c) for c in cues), default=0.0), 1),
        "cues_over_cps": count("reading_speed"),
        "lines_over_limit": sum(1 for c in cues for line in c.lines if length(line) > rules.max_chars_per_line),
        "cues_over_lines": count("lines"),
        "cues_over_duration": count("long"),
        "short_cues": short,
        "shot_change_crossings": count("shot_change"),  # a flag per crossing
    }
    if any(c.speakers for c in cues):
        report["two_speaker_cues"] = sum(1 for c in cues if len(c.speakers) == 2)
    report["violations"] = (report["lines_over_limit"] + report["cues_over_lines"] + report["cues_over_duration"]
                            + len(short) + report["shot_change_crossings"])
    return report
