"""Subtitle files from cues, written by pysubs2 (a well-kept subtitle library) through a temporary
file and a rename, so a reader never finds half a subtitle file.

Formats (config/pipeline.json subtitles.formats trims them; all four by default):
  srt   SubRip, what every player and muxer reads
  vtt   WebVTT, for the web
  ass   Advanced SubStation Alpha, styled: a Noto font that covers the language's script
        (config/subtitle_languages.json "fonts"), white text on a black outline, at the bottom,
        for a 1920x1080 canvas (players scale it); also what the burn-in filter (libass) draws
  ttml  TTML in the IMSC 1.1 Text profile, which broadcasters and streaming services ingest:
        pysubs2 writes the TTML body, and the profile, the language, the timing base and a bottom
        region are set here (pysubs2's TTML has none of them)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from shared.core import config, files, languages
from shared.subtitles.rules import Cue

FORMATS = ("srt", "vtt", "ass", "ttml")
# TTML's namespaces, and the IMSC 1.1 Text profile's designator
NS = {"tt": "http://www.w3.org/ns/ttml", "ttp": "http://www.w3.org/ns/ttml#parameter",
      "tts": "http://www.w3.org/ns/ttml#styling", "xml": "http://www.w3.org/XML/1998/namespace"}
IMSC_TEXT = "http://www.w3.org/ns/ttml/profile/imsc1.1/text"


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def font_for(lang: str) -> str:
    """A font that covers the language's script (its FLORES script code: hin_Deva -> Deva)."""
    fonts = config.load_json(config.CONFIG_DIR / "subtitle_languages.json")["fonts"]
    base = lang.partition("-")[0]
    script = languages.flores(lang).split("_")[1] if base in languages.LANGUAGES else "Latn"
    return fonts.get(script, fonts["Latn"])


def vtt_escape(text: str) -> str:
    """WebVTT cue text is markup: &, < and > must be escaped (pysubs2 writes them raw)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _subs(cues: list[Cue], lang: str, fmt: str):
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in cues:
        lines = [vtt_escape(line) for line in cue.lines] if fmt == "vtt" else cue.lines
        subs.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000),
                                     text=r"\N".join(lines)))
    if fmt in ("ass", "ttml"):
        subs.info.update({"PlayResX": "1920", "PlayResY": "1080", "ScaledBorderAndShadow": "yes",
                          "WrapStyle": "2"})  # 2: our line breaks, never libass's own
        subs.styles["Default"] = pysubs2.SSAStyle(
            fontname=font_for(lang), fontsize=56, primarycolor=pysubs2.Color(255, 255, 255),
            outlinecolor=pysubs2.Color(0, 0, 0), backcolor=pysubs2.Color(0, 0, 0, 128), outline=3, shadow=1,
            alignment=pysubs2.Alignment.BOTTOM_CENTER, marginl=96, marginr=96, marginv=54)
    return subs


def imsc(subs, lang: str) -> str:
    """pysubs2's TTML made an IMSC 1.1 Text document: profile, language, media time, a bottom region."""
    for prefix in ("tt", "ttp", "tts"):
        ET.register_namespace("" if prefix == "tt" else prefix, NS[prefix])
    root = ET.fromstring(subs.to_string("ttml"))
    root.set(_q("xml", "lang"), lang)
    root.set(_q("ttp", "contentProfiles"), IMSC_TEXT)
    root.set(_q("ttp", "timeBase"), "media")
    head = root.find(_q("tt", "head"))
    layout = ET.SubElement(head, _q("tt", "layout"))
    ET.SubElement(layout, _q("tt", "region"), {
        _q("xml", "id"): "bottom", _q("tts", "origin"): "10% 10%", _q("tts", "extent"): "80% 80%",
        _q("tts", "displayAlign"): "after", _q("tts", "textAlign"): "center"})
    root.find(_q("tt", "body")).set("region", "bottom")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(cues: list[Cue], path: Path, fmt: str, lang: str = "und") -> Path:
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt}")
    subs = _subs(cues, lang, fmt)
    with files.atomic_path(path) as tmp:
        if fmt == "ttml":
            tmp.write_text(imsc(subs, lang), encoding="utf-8")
        else:
            subs.save(str(tmp), encoding="utf-8", format_=fmt)
    return path
