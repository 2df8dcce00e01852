"""Every delivery format, written by shared/subtitles/writer.py and read back by something else: SRT
by the `srt` package, WebVTT by webvtt-py, ASS by ffmpeg (libavformat's ASS demuxer), TTML by an XML
parser against the IMSC 1.1 Text profile's markers."""

import html
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import srt
import webvtt

from shared.subtitles import writer
from shared.subtitles.rules import Rules, build_cues

TEXTS = {
    "hi": "आज सुबह से ही शहर में तेज़ बारिश हो रही है, और मौसम विभाग ने पूरे दिन के लिए चेतावनी जारी की है। लोग घर पर रहें।",
    "ta": "இன்று காலை முதல் நகரத்தில் கனமழை பெய்து வருகிறது. மக்கள் வீட்டிலேயே இருக்குமாறு கேட்டுக்கொள்ளப்பட்டுள்ளனர்.",
    "en": "And Mr. John Dashwood had the whole of it. The neighbours gathered in the square & waited <quietly>.",
}
FONTS = {"hi": "Noto Sans Devanagari", "ta": "Noto Sans Tamil", "en": "Noto Sans"}


def cues_for(lang):
    words, t = [], 0.5
    for token in TEXTS[lang].split():
        words.append({"start": t, "end": t + 0.25, "word": " " + token, "probability": 1.0})
        t += 0.3
    return build_cues([{"id": 0, "start": 0.5, "end": t, "text": TEXTS[lang], "words": words}], Rules.default(), lang)


def seconds(clock: str) -> float:
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.parametrize("lang", list(TEXTS))
def test_every_format_reads_back_with_the_same_cues(tmp_path, lang):
    cues = cues_for(lang)
    paths = {fmt: writer.write(cues, tmp_path / f"clip.{lang}.{fmt}", fmt, lang) for fmt in writer.FORMATS}
    expected = [(round(c.start, 2), round(c.end, 2), c.lines) for c in cues]

    parsed = list(srt.parse(paths["srt"].read_text(encoding="utf-8")))
    assert [(round(s.start.total_seconds(), 2), round(s.end.total_seconds(), 2), s.content.split("\n")) for s in parsed] == expected

    captions = webvtt.read(str(paths["vtt"]))
    # webvtt-py keeps character references as written; a player shows them unescaped
    assert [(round(seconds(c.start), 2), round(seconds(c.end), 2), html.unescape(c.text).split("\n"))
            for c in captions] == expected

    via_ffmpeg = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(paths["ass"]), "-f", "srt", "-"],
                                capture_output=True, text=True, check=True).stdout
    untagged = re.sub(r"</?font[^>]*>", "", via_ffmpeg)  # ffmpeg states the style as <font> tags
    assert [s.content.split("\n") for s in srt.parse(untagged)] == [c.lines for c in cues]
    style = next(line for line in paths["ass"].read_text(encoding="utf-8").splitlines() if line.startswith("Style: Default,"))
    assert style.split(",")[1] == FONTS[lang]

    root = ET.parse(paths["ttml"]).getroot()
    ns = {"tt": "http://www.w3.org/ns/ttml"}
    assert root.tag == "{http://www.w3.org/ns/ttml}tt"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == lang
    assert root.get("{http://www.w3.org/ns/ttml#parameter}contentProfiles") == "http://www.w3.org/ns/ttml/profile/imsc1.1/text"
    region = root.find("tt:head/tt:layout/tt:region", ns)
    assert region is not None and root.find("tt:body", ns).get("region") == region.get("{http://www.w3.org/XML/1998/namespace}id")
    paragraphs = root.findall("tt:body/tt:div/tt:p", ns)
    got = []
    for p in paragraphs:
        lines, current = [], p.text or ""
        for child in p:
            assert child.tag == "{http://www.w3.org/ns/ttml}br"
            lines.append(current)
            current = child.tail or ""
        got.append((round(seconds(p.get("begin")), 2), round(seconds(p.get("end")), 2), lines + [current]))
    assert got == expected
