"""A cue someone already timed (a user's subtitle file, or a translation laid onto its cues), kept as
it was wherever the rules allow.

Its start, end and lines stay. Lines are laid out again only when the cue breaks the layout rules
(a line over max_chars_per_line, more than max_lines lines); the cue is split only when its text
cannot be set in max_lines lines at all, at the best point the rules find (a sentence end, then a
clause end, then the cheapest break, as balanced as may be), its time shared by characters, and never
into cues shorter than min_duration: a cue too short for that stays whole, over the limits, and is
reported. A dialogue cue (each line a speaker's, starting with a dash) stays one cue with its lines.
A cue's length on screen and its reading speed are the timer's choice: kept, and flagged by the
compliance report where they break the limits.
"""

from __future__ import annotations

from shared.subtitles.rules import CLAUSE_END, HARD, Cue, Rules, TextRules, Unit, break_cost, layout, length

DASHES = ("-", "–", "—", "‐")


def _units(text: str, start: float, end: float, speaker: str | None) -> list[Unit]:
    tokens = text.split()
    step = (end - start) / max(len(tokens), 1)
    return [Unit(start + i * step, start + (i + 1) * step, " " + t, speaker) for i, t in enumerate(tokens)]


def _fits(lines: list[str], rules: Rules) -> bool:
    return len(lines) <= rules.max_lines and all(length(line) <= rules.max_chars_per_line for line in lines)


def _why(lines: list[str], rules: Rules) -> str:
    longest = max(length(line) for line in lines)
    if longest > rules.max_chars_per_line:
        return f"a line of {longest} characters (limit {rules.max_chars_per_line})"
    return f"{len(lines)} lines (limit {rules.max_lines})"


def _wrapped(text: str, rules: Rules) -> list[str]:
    """Every word kept, in as many lines as it takes (lines filled up to the limit): a cue the rules
    cannot save, shown whole."""
    lines: list[str] = []
    for word in text.split():
        if lines and length(lines[-1]) + 1 + length(word) <= rules.max_chars_per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _set(units: list[Unit], rules: Rules, text: TextRules) -> list[str] | None:
    return layout(units, rules, text=text, strict=True) or layout(units, rules, text=text)


def _split_point(units: list[Unit], rules: Rules, text: TextRules) -> int | None:
    """Where to cut a run of words that does not fit one cue: the first part must fit; a sentence
    end beats a clause end beats a plain break; a break the language forbids comes last; then the
    more balanced cut."""
    total = length(" ".join(u.text.strip() for u in units))
    best, best_key = None, None
    for i in range(1, len(units)):
        if _set(units[:i], rules, text) is None:
            break
        last = units[i - 1].text
        kind = 0 if text.ends_sentence(last, units[i].text) else 1 if last.strip().endswith(CLAUSE_END) else 2
        first = length(" ".join(u.text.strip() for u in units[:i]))
        key = (break_cost(units[:i], units[i:], text) >= HARD, kind, abs(total - 2 * first))
        if best_key is None or key < best_key:
            best, best_key = i, key
    return best


def _pieces(units: list[Unit], rules: Rules, text: TextRules) -> list[list[Unit]] | None:
    """The fewest runs of words that each fit a cue, cut at the best points; None where one word
    alone is too long for a line."""
    out = []
    while _set(units, rules, text) is None:
        cut = _split_point(units, rules, text)
        if cut is None:
            return None
        out.append(units[:cut])
        units = units[cut:]
    return out + [units]


def keep(seg: dict, rules: Rules, language: str | None) -> tuple[list[Cue], str | None]:
    """A timed cue's cues (one unless it must be split) and what was changed and why (None: kept
    as it was)."""
    start, end = float(seg["start"]), float(seg["end"])
    lines = [" ".join(line.split()) for line in seg.get("text", "").split("\n") if line.strip()]
    if not lines:
        return [], None
    speaker = seg.get("speaker")
    speakers = [speaker] if speaker else []
    if _fits(lines, rules):
        return [Cue(start, end, lines, speakers)], None
    text = TextRules.of(language)
    if len(lines) >= 2 and all(line.startswith(DASHES) for line in lines):
        return [Cue(start, end, lines, speakers)], f"kept: a dialogue cue with {_why(lines, rules)}"
    units = _units(" ".join(lines), start, end, speaker)
    laid = _set(units, rules, text)
    if laid is not None:
        return [Cue(start, end, laid, speakers)], f"lines laid out again: {_why(lines, rules)}"
    pieces = _pieces(units, rules, text)
    if pieces is None:
        return [Cue(start, end, lines, speakers)], f"kept over the limits ({_why(lines, rules)}): a word longer than a line"
    sizes = [max(1, length(" ".join(u.text.strip() for u in piece))) for piece in pieces]
    spare = (end - start) - len(pieces) * rules.min_duration - (len(pieces) - 1) * rules.min_gap
    if spare < 0:
        wide = _wrapped(" ".join(lines), rules)
        return [Cue(start, end, wide, speakers)], (f"kept over the limits ({_why(lines, rules)}): too short to split "
                                                   f"into {len(pieces)} cues of at least {rules.min_duration:g} s")
    cues, at = [], start
    for i, (piece, size) in enumerate(zip(pieces, sizes)):  # the time over the minimum shared by characters
        until = end if i == len(pieces) - 1 else at + rules.min_duration + spare * size / sum(sizes)
        cues.append(Cue(at, until, _set(piece, rules, text), speakers))
        at = until + rules.min_gap
    return cues, f"split into {len(cues)} cues: {_why(lines, rules)}, more than one cue holds"
