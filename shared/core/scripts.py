"""Which script a text is written in, by the Unicode Script property, and whether that is a script
its language is written in.

A language's scripts are the ISO 15924 codes of its FLORES-200 codes (config/languages.json: hin_Deva
-> Deva; sd has Arab and Deva); those codes are the Unicode Script property's own short values, so
`regex` matches them as \\p{sc=Deva}. A code that names a writing system of several scripts (Jpan,
Hans) is expanded by the table's script_parts. Letters and combining marks count; digits,
punctuation and the danda belong to no one script (Common) and do not.
"""

from __future__ import annotations

import functools

from shared.core import languages

# Fewer letters than this say too little about a segment's script ("OK", a name)
MIN_LETTERS = 4
# A segment is in the wrong script when less than this share of its letters are in its language's
# scripts: Hindi with an English word or two (code-mixing) is still Hindi.
WRONG_SHARE = 0.5


def unicode_scripts(code: str) -> tuple[str, ...]:
    """The Unicode scripts an ISO 15924 code's text is made of: Deva -> (Deva,), Jpan -> (Hira, Kana, Hani)."""
    return languages.SCRIPT_PARTS.get(code, (code,))


def expected(language: str) -> tuple[str, ...]:
    """The ISO 15924 scripts a language is written in: hi -> (Deva,), sd -> (Arab, Deva); a tag with a
    script subtag (hi-Latn, sd-Deva) names its one script."""
    base, _, script = language.partition("-")
    if script:
        return (script,)
    if base not in languages.LANGUAGES:  # a language Whisper detects that our table does not hold
        return ()
    return languages.written_in(base)


def _allowed(language: str) -> set[str]:
    """The Unicode scripts a language's text may be in."""
    return {s for code in expected(language) for s in unicode_scripts(code)}


@functools.lru_cache(maxsize=1)
def _candidates() -> tuple[tuple[str, object], ...]:
    """(script, compiled pattern) for every script a language of the table is written in, and Latin."""
    import regex

    codes = {"Latn"}
    for base in languages.LANGUAGES:
        codes.update(languages.written_in(base))
    scripts = dict.fromkeys(s for code in sorted(codes) for s in unicode_scripts(code))
    return tuple((s, regex.compile(rf"\p{{sc={s}}}")) for s in scripts)


@functools.lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    """A letter's or mark's Unicode script among the table's scripts ("Zyyy" for one of another
    script); None for what is not a letter or a mark."""
    import regex

    if not regex.match(r"[\p{L}\p{M}]", char):
        return None
    for script, pattern in _candidates():
        if pattern.match(char):
            return script
    return "Zyyy"


def letters_by_script(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        script = script_of(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


def dominant(text: str) -> str | None:
    """The script most of the text's letters are in (None for a text without letters)."""
    counts = letters_by_script(text)
    return max(counts, key=counts.get) if counts else None


def wrong_script(text: str, language: str) -> str | None:
    """The script a text is written in when that is not one of its language's (Urdu script for hi,
    Telugu for ta, Latin for bn); None when it is right, or too short to say."""
    counts = letters_by_script(text)
    total = sum(counts.values())
    if total < MIN_LETTERS or not expected(language):
        return None
    wanted = _allowed(language)
    if sum(n for s, n in counts.items() if s in wanted) >= WRONG_SHARE * total:
        return None
    return max(counts, key=counts.get)


def settle(language: str, texts: list[str]) -> str:
    """A detected language, settled by the script its text came out in, where the speech of two
    languages is one and only the writing tells them apart (config: script_settles; Hindi and Urdu):
    Devanagari text is Hindi, Arabic-script text Urdu, whatever the detector said."""
    for group in languages.SCRIPT_SETTLES:
        if language in group:
            written = dominant(" ".join(texts))
            return next((candidate for candidate in group if written in _allowed(candidate)), language)
    return language
