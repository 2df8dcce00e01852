"""Languages, mapped once: the code a user types -> name, FLORES-200 code(s), Indic or not.

Users type ISO 639-1 codes (hi, ta, bn, en, fr ...). Six of the 22 scheduled Indian languages have no
ISO 639-1 code; they use their ISO 639-2/3 code (brx, doi, kok, mai, mni, sat). Where a language is
written in more than one script the first FLORES code is the default and `code-Script` picks
another (ks-Deva, sd-Deva, mni-Mtei). IndicTrans2 serves the Indic set; NLLB-200 serves the rest.
The table itself is data: config/languages.json.
"""

from __future__ import annotations

from shared.core import config
from shared.core.errors import UserError

_TABLE = config.load_json(config.CONFIG_DIR / "languages.json")
# code: (English name, FLORES-200 codes, first is the default script)
INDIC: dict[str, tuple[str, tuple[str, ...]]] = {k: (v[0], tuple(v[1])) for k, v in _TABLE["indic"].items()}
OTHER: dict[str, tuple[str, tuple[str, ...]]] = {k: (v[0], tuple(v[1])) for k, v in _TABLE["other"].items()}
LANGUAGES = {**INDIC, **OTHER}
AUTO = "auto"


# ISO 15924 codes that name a writing system of several Unicode scripts (Jpan: Hira, Kana, Hani)
SCRIPT_PARTS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _TABLE["script_parts"].items()
                                            if not k.startswith("_")}
# Languages whose speech is one and whose writing tells them apart (Hindi and Urdu)
SCRIPT_SETTLES: list[list[str]] = _TABLE["script_settles"]
# What romanize reads: the scripts a target may be transliterated into (hi-Latn), and how
TRANSLITERATION: dict = _TABLE["transliteration"]
TRANSLITERATION_SCRIPTS: tuple[str, ...] = tuple(TRANSLITERATION["write"])


def written_in(base: str) -> tuple[str, ...]:
    """The ISO 15924 scripts a language of the table is written in, the default first: sd -> (Arab, Deva)."""
    return tuple(dict.fromkeys(f.split("_")[1] for f in LANGUAGES[base][1]))


def normalize(code: str, *, allow_auto: bool = False, target: bool = False) -> str:
    """A user's language code, checked: `hi`, `HI` -> `hi`; `ks-Deva` keeps its script; a target
    may name any script it can be transliterated into (`hi-Latn`, `pa-Arab`); bad -> UserError."""
    raw = (code or "").strip()
    if allow_auto and raw.lower() == AUTO:
        return AUTO
    base, _, script = raw.partition("-")
    base = base.lower()
    if base not in LANGUAGES:
        hint = " (or auto to detect it)" if allow_auto else ""
        raise UserError(f"unknown language '{code}': use an ISO 639-1 code such as hi, ta, bn, en{hint}; "
                        "see docs/languages.md")
    if script:
        scripts = {s.lower(): s for s in written_in(base)}
        if target:
            scripts.update({s.lower(): s for s in TRANSLITERATION_SCRIPTS})
        if script.lower() not in scripts:
            raise UserError(f"unknown script '{script}' for {LANGUAGES[base][0]}: choose "
                            + " or ".join(f"{base}-{s}" for s in scripts.values()))
        return f"{base}-{scripts[script.lower()]}"
    return base


def flores(code: str) -> str:
    base, _, script = code.partition("-")
    options = LANGUAGES[base][1]
    return next((f for f in options if script and f.endswith("_" + script)), options[0])


# FLORES uses ISO 639-3 individual-language codes; containers (MP4, Matroska) want ISO 639-2.
_ISO639_2_FROM_FLORES: dict[str, str] = _TABLE["iso639_2_from_flores"]


def iso639_2(code: str) -> str:
    """Three-letter language tag for container metadata: hi -> hin, ur -> urd, fa -> fas."""
    prefix = flores(code).split("_")[0]
    return _ISO639_2_FROM_FLORES.get(prefix, prefix)


def is_indic(code: str) -> bool:
    return code.partition("-")[0] in INDIC


def name(code: str) -> str:
    return LANGUAGES[code.partition("-")[0]][0]
