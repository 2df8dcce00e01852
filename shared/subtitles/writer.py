"""Subtitle files from cues, written by pysubs2 (a well-kept subtitle library) through a temporary
file and a rename, so a reader never finds half a subtitle file.

Formats (config/pipeline.json subtitles.formats: the first four by default; txt on request, and for
every track whose cues have speakers):
  srt   SubRip, what every player and muxer reads
  vtt   WebVTT, for the web
  ass   Advanced SubStation Alpha, styled: a Noto font that covers the language's script
        (config/subtitle_languages.json "fonts"), white text on a black outline, at the bottom,
        for a 1920x1080 canvas (players scale it); also what the burn-in filter (libass) draws
  ttml  TTML in the IMSC 1.1 Text profile, which broadcasters and streaming services ingest:
        pysubs2 writes the TTML body, and the profile, the language, the timing base and a bottom
        region are set here (pysubs2's TTML has none of them)
  txt   a plain transcript, a cue a line with its time, each speaker's words after their label

Where the speakers stage ran, WebVTT marks each speaker's line with a voice span (<v Asha>), and ASS
names the speaker in each event's Name field, with a style per speaker (the Default look, so a user
can restyle one speaker in an editor); SRT and TTML carry the dialogue dashes only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from shared.core import config, files, languages
from shared.subtitles.rules import Cue, TextRules

FORMATS = ("srt", "vtt", "ass", "ttml", "txt")
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


def _voiced(cue: Cue) -> list[str]:
    """A cue's WebVTT lines, escaped, each speaker's in a voice span."""
    lines = [vtt_escape(line) for line in cue.lines]
    names = [vtt_escape(name) for name in cue.speakers]
    if len(names) == 2 and len(lines) == 2:
        return [f"<v {name}>{line}</v>" for name, line in zip(names, lines)]
    if names:
        lines[0] = f"<v {names[0]}>{lines[0]}"
        lines[-1] += "</v>"
    return lines


def karaoke(cue: Cue) -> list[str] | None:
    """A cue's ASS lines with each word's karaoke time (\\k, centiseconds from the one before, a
    silent \\k for a pause), from the words' own times; None where the words do not spell the lines
    (a text laid out from no word times)."""
    words = [w for w in cue.words if w.text.strip()]
    out, k, clock, limit = [], 0, round(cue.start * 100), round(cue.end * 100)
    for line in cue.lines:
        rest, parts = line, []
        head = len(line) - len(line.lstrip("-–— "))
        if head:
            parts.append(line[:head])
            rest = line[head:]
        while rest.strip():
            if k >= len(words):
                return None
            word = words[k].text.strip()
            rest = rest.lstrip()
            if not rest.startswith(word):
                return None
            start, end = min(round(words[k].start * 100), limit), round(words[k].end * 100)
            if start > clock:
                parts.append(f"{{\\k{start - clock}}}")
                clock = start
            following = round(words[k + 1].start * 100) if k + 1 < len(words) else end
            length = max(0, min(following, max(end, clock + 1), limit) - clock)  # never past the cue's end
            parts.append(f"{{\\k{length}}}{word}" + (" " if rest[len(word):].startswith(" ") else ""))
            clock += length
            rest = rest[len(word):]
            k += 1
        out.append("".join(parts).rstrip())
    return out if k == len(words) else None


def _subs(cues: list[Cue], lang: str, fmt: str, with_karaoke: bool = False):
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in cues:
        lines = _voiced(cue) if fmt == "vtt" else cue.lines
        if fmt == "ass" and with_karaoke:
            lines = karaoke(cue) or lines
        event = pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000), text=r"\N".join(lines))
        if fmt == "ass" and cue.speakers:
            event.name = " / ".join(cue.speakers)  # ASS fields are comma-separated: no comma here
            event.style = cue.speakers[0]
        subs.append(event)
    if fmt in ("ass", "ttml"):
        subs.info.update({"PlayResX": "1920", "PlayResY": "1080", "ScaledBorderAndShadow": "yes",
                          "WrapStyle": "2"})  # 2: our line breaks, never libass's own
        subs.styles["Default"] = pysubs2.SSAStyle(
            fontname=font_for(lang), fontsize=56, primarycolor=pysubs2.Color(255, 255, 255),
            outlinecolor=pysubs2.Color(0, 0, 0), backcolor=pysubs2.Color(0, 0, 0, 128), outline=3, shadow=1,
            alignment=pysubs2.Alignment.BOTTOM_CENTER, marginl=96, marginr=96, marginv=54)
        if fmt == "ass":
            for name in dict.fromkeys(name for cue in cues for name in cue.speakers):
                subs.styles[name] = subs.styles["Default"].copy()
    return subs


def clock(seconds: float) -> str:
    """A time as WebVTT writes it, hours always: 01:02:03.456."""
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def plain(cues: list[Cue], lang: str) -> str:
    """The transcript: a cue a line, "[start --> end] Speaker: text", a dialogue cue a line per speaker."""
    dash = TextRules.of(lang).dialogue_dash
    out = []
    for cue in cues:
        when = f"[{clock(cue.start)} --> {clock(cue.end)}]"
        if len(cue.speakers) == 2 and len(cue.lines) == 2:
            out += [f"{when} {name}: {line.removeprefix(dash).strip()}" for name, line in zip(cue.speakers, cue.lines)]
        else:
            label = f"{cue.speakers[0]}: " if cue.speakers else ""
            out.append(f"{when} {label}{' '.join(line.strip() for line in cue.lines)}")
    return "\n".join(out) + ("\n" if out else "")


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


def write(cues: list[Cue], path: Path, fmt: str, lang: str = "und", with_karaoke: bool = False) -> Path:
    """The cues in a format; with_karaoke, ASS events carry each word's time (\\k)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt}")
    subs = _subs(cues, lang, fmt, with_karaoke)
    with files.atomic_path(path) as tmp:
        if fmt == "ttml":
            tmp.write_text(imsc(subs, lang), encoding="utf-8")
        elif fmt == "txt":
            tmp.write_text(plain(cues, lang), encoding="utf-8")
        else:
            subs.save(str(tmp), encoding="utf-8", format_=fmt)
    return path
