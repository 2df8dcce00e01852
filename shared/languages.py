"""Languages, mapped once: the code a user types -> name, FLORES-200 code(s), Indic or not.

Users type ISO 639-1 codes (hi, ta, bn, en, fr ...). Six of the 22 scheduled Indian languages have no
ISO 639-1 code; they use their ISO 639-2/3 code (brx, doi, kok, mai, mni, sat). Where a language is
written in more than one script the first FLORES code is the default and `code-Script` picks
another (ks-Deva, sd-Deva, mni-Mtei). IndicTrans2 serves the Indic set; NLLB-200 serves the rest.
"""

from __future__ import annotations

from shared.errors import UserError

# code: (English name, FLORES-200 codes, first is the default script)
INDIC: dict[str, tuple[str, tuple[str, ...]]] = {
    "as": ("Assamese", ("asm_Beng",)),
    "bn": ("Bengali", ("ben_Beng",)),
    "brx": ("Bodo", ("brx_Deva",)),
    "doi": ("Dogri", ("doi_Deva",)),
    "gu": ("Gujarati", ("guj_Gujr",)),
    "hi": ("Hindi", ("hin_Deva",)),
    "kn": ("Kannada", ("kan_Knda",)),
    "ks": ("Kashmiri", ("kas_Arab", "kas_Deva")),
    "kok": ("Konkani", ("gom_Deva",)),
    "mai": ("Maithili", ("mai_Deva",)),
    "ml": ("Malayalam", ("mal_Mlym",)),
    "mni": ("Manipuri", ("mni_Beng", "mni_Mtei")),
    "mr": ("Marathi", ("mar_Deva",)),
    "ne": ("Nepali", ("npi_Deva",)),
    "or": ("Odia", ("ory_Orya",)),
    "pa": ("Punjabi", ("pan_Guru",)),
    "sa": ("Sanskrit", ("san_Deva",)),
    "sat": ("Santali", ("sat_Olck",)),
    "sd": ("Sindhi", ("snd_Arab", "snd_Deva")),
    "ta": ("Tamil", ("tam_Taml",)),
    "te": ("Telugu", ("tel_Telu",)),
    "ur": ("Urdu", ("urd_Arab",)),
}

OTHER: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": ("English", ("eng_Latn",)),
    "af": ("Afrikaans", ("afr_Latn",)), "ak": ("Akan", ("aka_Latn",)), "am": ("Amharic", ("amh_Ethi",)),
    "ar": ("Arabic", ("arb_Arab",)), "az": ("Azerbaijani", ("azj_Latn",)), "ba": ("Bashkir", ("bak_Cyrl",)),
    "be": ("Belarusian", ("bel_Cyrl",)), "bg": ("Bulgarian", ("bul_Cyrl",)), "bm": ("Bambara", ("bam_Latn",)),
    "bo": ("Tibetan", ("bod_Tibt",)), "bs": ("Bosnian", ("bos_Latn",)), "ca": ("Catalan", ("cat_Latn",)),
    "cs": ("Czech", ("ces_Latn",)), "cy": ("Welsh", ("cym_Latn",)), "da": ("Danish", ("dan_Latn",)),
    "de": ("German", ("deu_Latn",)), "dz": ("Dzongkha", ("dzo_Tibt",)), "ee": ("Ewe", ("ewe_Latn",)),
    "el": ("Greek", ("ell_Grek",)), "eo": ("Esperanto", ("epo_Latn",)), "es": ("Spanish", ("spa_Latn",)),
    "et": ("Estonian", ("est_Latn",)), "eu": ("Basque", ("eus_Latn",)), "fa": ("Persian", ("pes_Arab",)),
    "ff": ("Fulah", ("fuv_Latn",)), "fi": ("Finnish", ("fin_Latn",)), "fj": ("Fijian", ("fij_Latn",)),
    "fo": ("Faroese", ("fao_Latn",)), "fr": ("French", ("fra_Latn",)), "ga": ("Irish", ("gle_Latn",)),
    "gd": ("Scottish Gaelic", ("gla_Latn",)), "gl": ("Galician", ("glg_Latn",)), "gn": ("Guarani", ("grn_Latn",)),
    "ha": ("Hausa", ("hau_Latn",)), "he": ("Hebrew", ("heb_Hebr",)), "hr": ("Croatian", ("hrv_Latn",)),
    "ht": ("Haitian Creole", ("hat_Latn",)), "hu": ("Hungarian", ("hun_Latn",)), "hy": ("Armenian", ("hye_Armn",)),
    "id": ("Indonesian", ("ind_Latn",)), "ig": ("Igbo", ("ibo_Latn",)), "is": ("Icelandic", ("isl_Latn",)),
    "it": ("Italian", ("ita_Latn",)), "ja": ("Japanese", ("jpn_Jpan",)), "jv": ("Javanese", ("jav_Latn",)),
    "ka": ("Georgian", ("kat_Geor",)), "kg": ("Kongo", ("kon_Latn",)), "ki": ("Kikuyu", ("kik_Latn",)),
    "kk": ("Kazakh", ("kaz_Cyrl",)), "km": ("Khmer", ("khm_Khmr",)), "ko": ("Korean", ("kor_Hang",)),
    "ku": ("Kurdish", ("kmr_Latn",)), "ky": ("Kyrgyz", ("kir_Cyrl",)), "lb": ("Luxembourgish", ("ltz_Latn",)),
    "lg": ("Ganda", ("lug_Latn",)), "li": ("Limburgish", ("lim_Latn",)), "ln": ("Lingala", ("lin_Latn",)),
    "lo": ("Lao", ("lao_Laoo",)), "lt": ("Lithuanian", ("lit_Latn",)), "lv": ("Latvian", ("lvs_Latn",)),
    "mg": ("Malagasy", ("plt_Latn",)), "mi": ("Maori", ("mri_Latn",)), "mk": ("Macedonian", ("mkd_Cyrl",)),
    "mn": ("Mongolian", ("khk_Cyrl",)), "ms": ("Malay", ("zsm_Latn",)), "mt": ("Maltese", ("mlt_Latn",)),
    "my": ("Burmese", ("mya_Mymr",)), "nl": ("Dutch", ("nld_Latn",)), "nn": ("Norwegian Nynorsk", ("nno_Latn",)),
    "no": ("Norwegian Bokmal", ("nob_Latn",)), "ny": ("Chichewa", ("nya_Latn",)), "oc": ("Occitan", ("oci_Latn",)),
    "om": ("Oromo", ("gaz_Latn",)), "pl": ("Polish", ("pol_Latn",)), "ps": ("Pashto", ("pbt_Arab",)),
    "pt": ("Portuguese", ("por_Latn",)), "qu": ("Quechua", ("quy_Latn",)), "rn": ("Rundi", ("run_Latn",)),
    "ro": ("Romanian", ("ron_Latn",)), "ru": ("Russian", ("rus_Cyrl",)), "rw": ("Kinyarwanda", ("kin_Latn",)),
    "sc": ("Sardinian", ("srd_Latn",)), "sg": ("Sango", ("sag_Latn",)), "si": ("Sinhala", ("sin_Sinh",)),
    "sk": ("Slovak", ("slk_Latn",)), "sl": ("Slovenian", ("slv_Latn",)), "sm": ("Samoan", ("smo_Latn",)),
    "sn": ("Shona", ("sna_Latn",)), "so": ("Somali", ("som_Latn",)), "sq": ("Albanian", ("als_Latn",)),
    "sr": ("Serbian", ("srp_Cyrl",)), "ss": ("Swati", ("ssw_Latn",)), "st": ("Southern Sotho", ("sot_Latn",)),
    "su": ("Sundanese", ("sun_Latn",)), "sv": ("Swedish", ("swe_Latn",)), "sw": ("Swahili", ("swh_Latn",)),
    "tg": ("Tajik", ("tgk_Cyrl",)), "th": ("Thai", ("tha_Thai",)), "ti": ("Tigrinya", ("tir_Ethi",)),
    "tk": ("Turkmen", ("tuk_Latn",)), "tl": ("Tagalog", ("tgl_Latn",)), "tn": ("Tswana", ("tsn_Latn",)),
    "tr": ("Turkish", ("tur_Latn",)), "ts": ("Tsonga", ("tso_Latn",)), "tt": ("Tatar", ("tat_Cyrl",)),
    "tw": ("Twi", ("twi_Latn",)), "ug": ("Uyghur", ("uig_Arab",)), "uk": ("Ukrainian", ("ukr_Cyrl",)),
    "uz": ("Uzbek", ("uzn_Latn",)), "vi": ("Vietnamese", ("vie_Latn",)), "wo": ("Wolof", ("wol_Latn",)),
    "xh": ("Xhosa", ("xho_Latn",)), "yi": ("Yiddish", ("ydd_Hebr",)), "yo": ("Yoruba", ("yor_Latn",)),
    "zh": ("Chinese", ("zho_Hans", "zho_Hant")), "zu": ("Zulu", ("zul_Latn",)),
}

LANGUAGES = {**INDIC, **OTHER}
AUTO = "auto"


def normalize(code: str, *, allow_auto: bool = False) -> str:
    """A user's language code, checked: `hi`, `HI` -> `hi`; `ks-Deva` keeps its script; bad -> UserError."""
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
        scripts = {f.split("_")[1].lower(): f.split("_")[1] for f in LANGUAGES[base][1]}
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
_ISO639_2_FROM_FLORES = {
    "arb": "ara", "pes": "fas", "npi": "nep", "ory": "ori", "pbt": "pus", "azj": "aze", "lvs": "lav",
    "zsm": "msa", "khk": "mon", "plt": "mlg", "als": "sqi", "swh": "swa", "uzn": "uzb", "ydd": "yid",
    "gaz": "orm", "quy": "que", "kmr": "kur", "fuv": "ful", "gom": "kok",
}


def iso639_2(code: str) -> str:
    """Three-letter language tag for container metadata: hi -> hin, ur -> urd, fa -> fas."""
    prefix = flores(code).split("_")[0]
    return _ISO639_2_FROM_FLORES.get(prefix, prefix)


def is_indic(code: str) -> bool:
    return code.partition("-")[0] in INDIC


def name(code: str) -> str:
    return LANGUAGES[code.partition("-")[0]][0]


# Marks that end a sentence in the scripts we subtitle: Latin, Devanagari and Bengali (danda, double
# danda), Arabic and Urdu question mark and full stop, and the ellipsis.
SENTENCE_END = (".", "?", "!", "।", "॥", "…", "؟", "۔")
CLOSING = "\"'”’»)]"


def ends_sentence(text: str) -> bool:
    """Whether a word or line ends a sentence (a closing quote or bracket after the mark counts)."""
    return text.strip().rstrip(CLOSING).endswith(SENTENCE_END)

