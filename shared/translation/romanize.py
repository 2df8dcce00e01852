"""Subtitles in another script: a target tag with a script subtag (BCP 47: hi-Latn, pa-Arab, sa-Deva)
that is not a script the language has a translation model for asks for transliteration.

From the same language it is transliteration only, no model (a Devanagari hi.srt to hi-Latn works
offline on a fresh machine); from another language the text is translated into the language first.
The work is aksharamukha's (translate venv); config/languages.json "transliteration" holds its
script names. Latin is written as a reader expects (aksharamukha's RomanColloquial: no diacritics;
the inherent vowel dropped where Hindi drops it, "kamal" not "kamala"); --romanization iso gives
ISO 15919 with diacritics. A nasal vowel at a word's end reads as n (main, hain, nahin), as the
readers of romanized Hindi write it, not as the m of a scholarly anusvara.
"""

from __future__ import annotations

from shared.core import languages, scripts
from shared.core.errors import UserError

STYLES = ("readable", "iso")

# Devanagari's anusvara and candrabindu at a word's end: a nasal vowel, read as n
_DEVANAGARI_FINAL_NASAL = r"[\u0901\u0902](?![\u0915-\u0939\u0958-\u095F])"
_VIRAMA_NA = "\u0928\u094d"


def target_script(target: str) -> str | None:
    """The script a target asks to be transliterated into (hi-Latn -> Latn); None for a plain target
    or a script the language has a model for (ks-Deva, sd-Deva)."""
    base, _, script = target.partition("-")
    if not script or script in scripts.expected(base):
        return None
    return script


def language_of(target: str) -> str:
    """The language a transliterated target is translated into first: hi-Latn -> hi; ks-Deva stays."""
    return target.partition("-")[0] if target_script(target) else target


def check(source: str, target: str) -> None:
    """A one-line error for a transliteration that cannot be done."""
    script = target_script(target)
    if script is None:
        return
    base = target.partition("-")[0]
    readable = [s for s in scripts.expected(base) if s in languages.TRANSLITERATION["read"]]
    if not readable:
        raise UserError(f"{languages.name(base)} is written in {', '.join(scripts.expected(base))}, which "
                        f"cannot be transliterated reliably (no short vowels written): drop -t {target}")
    if source != languages.AUTO and source.partition("-")[0] == base and target_script(source):
        raise UserError(f"-s {source}: name the spoken language without a script (-s {base})")


def _name(script: str, language: str, style: str) -> str:
    if script == "Latn":
        return languages.TRANSLITERATION["latin"][style]
    return languages.TRANSLITERATION["by_language"].get(language, {}).get(script) or languages.TRANSLITERATION["write"][script]


def transliterate(texts: list[str], target: str, style: str = "readable") -> list[str]:
    """Each text (in its language's own script) written in the target's script; a text already in
    it, or in none the language is written in (an English word, a number), stays as it is."""
    import regex
    from aksharamukha import transliterate as aksharamukha

    if style not in STYLES:
        raise UserError(f"unknown romanization '{style}': choose {' or '.join(STYLES)}")
    language, script = target.partition("-")[0], target_script(target)
    if script is None:
        return list(texts)
    to_name = _name(script, language, style)
    schwa = language in languages.TRANSLITERATION["schwa_deletion"]
    out = []
    for text in texts:
        source = scripts.dominant(text)
        if source is None or source == script or source not in languages.TRANSLITERATION["read"]:
            out.append(text)
            continue
        if source == "Deva" and script == "Latn" and style == "readable":
            text = regex.sub(_DEVANAGARI_FINAL_NASAL, _VIRAMA_NA, text)
        written = aksharamukha.process(_name(source, language, "readable"), to_name, text,
                                       pre_options=["RemoveSchwaHindi"] if schwa and source == "Deva" else [])
        out.append(written)
    return out
