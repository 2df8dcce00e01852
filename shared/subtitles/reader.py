"""Subtitle files a user already has (SRT, WebVTT, ASS/SSA), read into timed cues of clean text.

Each cue keeps its start, end and lines. What is not speech never reaches its text: WebVTT's own
syntax is read by its parser (webvtt-py: cue identifiers, NOTE/STYLE/REGION blocks), then inline
timestamps, class, language and ruby readings (<rt>) are removed and voice spans kept as the cue's
speaker; SRT and ASS are read by pysubs2, which drops ASS override tags, and of the HTML-like tags in
an SRT line only the known ones (i, b, u, s, font, and the WebVTT ones a converter left) are removed:
a bare "<" ("x < y, but y > z") is text. Character references (&amp;, &lt;, &nbsp;, &lrm;...) are
decoded once, here; the writers escape once.

The text's encoding: its byte-order mark (UTF-8, UTF-16, UTF-32), else UTF-8, else a guess checked
two ways (UTF-16 without its mark; the code pages the language's files were saved in before UTF-8;
charset-normalizer's finding), said on the terminal; otherwise a one-line error names the likely
encoding and the iconv command that writes the same format in UTF-8. Line endings may be LF, CRLF or
CR alone.

Nothing is dropped silently: a cue without text, of no length, or ending before it starts is
skipped, and one starting before zero is cut at zero; each is listed with its number (its place in
the file) in Imported.skipped / .repaired, which the import stage prints as one warning line.
The subs workflow's import_subs stage and prepare-job's check read files through here, so what
prepare-job accepts is what the stage reads.
"""

from __future__ import annotations

import functools
import html
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from shared.core.errors import UserError

# Every format pysubs2 reads (its names), whatever the file's suffix says; WebVTT by webvtt-py
FORMATS = {"srt": "SubRip", "vtt": "WebVTT", "ass": "ASS", "ssa": "SSA", "microdvd": "MicroDVD", "mpl2": "MPL2",
           "tmp": "TMPlayer", "sami": "SAMI", "ttml": "TTML", "whisper_jax": "Whisper JAX", "json": "pysubs2 JSON"}
TAKES = "SubRip, WebVTT, ASS/SSA, TTML/DFXP, SAMI, MicroDVD, MPL2 or TMPlayer"
# Files that are not subtitle text, told by their first bytes: (pattern, what it is, what to do)
NOT_TEXT = (
    (re.compile(rb"^\x1a\x45\xdf\xa3"), "a Matroska/WebM media file", "media"),
    (re.compile(rb"^....ftyp", re.S), "an MP4/MOV media file", "media"),
    (re.compile(rb"^RIFF....(?:AVI |WAVE)", re.S), "an AVI/WAV media file", "media"),
    (re.compile(rb"^(?:OggS|fLaC|ID3)"), "an audio file", "media"),
    (re.compile(rb"^(?:\x47.{187}\x47|\x47.{203}\x47|.{4}\x47.{191}\x47)", re.S), "an MPEG transport stream", "media"),
    (re.compile(rb"^\d{3}STL\d\d\.\d\d", re.S), "EBU STL (binary) subtitles",
     "export SubRip (.srt) or EBU-TT from the program that made it"),
    (re.compile(rb"^(?:\x00\x00\x01\xba|PG.{8}[\x14-\x17\x80]|# VobSub index file)", re.S), "subtitles stored as pictures (VobSub or PGS)",
     "they need OCR into .srt (e.g. Subtitle Edit) before --subs"),
)
SCC = re.compile(r"^Scenarist_SCC", re.I)
PICTURES = {"dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle", "xsub"}
# A MicroDVD file's first line may give the frame rate its times count in: {1}{1}23.976 (or {0}{0})
MICRODVD_RATE = re.compile(r"\s*\{[01]\}\{[01]\}(\d{1,3}(?:\.\d+)?)[ \t]*\n")
# A feature film's subtitles are well under 1 MB; 50 MB holds about 700,000 SRT cues.
MAX_BYTES = 50 * 2**20

BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# How sure charset-normalizer must be to read a file without asking: its "chaos" (the share of the
# text that looks like mojibake) at most this.
MOST_CHAOS = 0.05
# Two code pages that both read so: the one whose text fits the language's letter frequencies better
# (charset-normalizer's coherence) by at least this much is taken; closer, the file is not certain.
CLEARER = 0.05

# HTML-like tags a subtitle line may carry (SRT's own, and WebVTT's left by converters): removed.
# Anything else between "<" and ">" is text.
KNOWN_TAG = re.compile(r"</?(?:i|b|u|s|font|c|v|lang|ruby|rb|span)(?:[\s.][^<>]*)?>", re.I)
VOICE = re.compile(r"<v(?:\.[^\s>]+)*\s+([^>]+?)\s*>", re.I)
READING = re.compile(r"<(rt|rp)(?:[\s.][^<>]*)?>.*?(?:</\1>|(?=</ruby>)|$)", re.I | re.S)
TIMESTAMP = re.compile(r"<\d{1,}:\d{2}(?::\d{2})?\.\d{3}>")
TIMING_LINE = re.compile(r"^\s*\d+:\d+[:.,\d]*\s*-->")
# In WebVTT every "<...>" is a tag (a literal "<" is written &lt;): any that is left is removed, and
# one never closed runs to the end of the line
ANY_TAG = re.compile(r"<[^>]*(?:>|$)")
# A WebVTT timing line's two times, read more widely than the format allows: a comma for the dot,
# minutes past 59 without hours (120:00.000), one to three digits of fraction
ARROW = re.compile(r"^(\s*)(\S+)[ \t]*-->[ \t]*(\S+)(.*)$")
WIDE_TIME = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2})[.,](\d{1,3})$")


@dataclass
class Imported:
    cues: list[dict]                    # {"start", "end", "text" (lines joined by "\n"), "speaker"?}
    format: str                         # srt, vtt, ass, ssa, ttml... (FORMATS)
    encoding: str
    detected: bool = False              # the encoding was chosen by charset-normalizer
    skipped: list[tuple[int, str]] = field(default_factory=list)   # (cue number, why)
    repaired: list[tuple[int, str]] = field(default_factory=list)

    def report(self) -> str | None:
        """One line that lists every cue skipped or repaired, by number, or None."""
        def listed(items: list[tuple[int, str]]) -> str:
            by_reason: dict[str, list[int]] = {}
            for number, why in items:
                by_reason.setdefault(why, []).append(number)
            return "; ".join(f"{why}: {_numbers(numbers)}" for why, numbers in by_reason.items())

        parts = []
        if self.skipped:
            parts.append(f"{len(self.skipped)} cue{'s' if len(self.skipped) > 1 else ''} skipped ({listed(self.skipped)})")
        if self.repaired:
            parts.append(f"{len(self.repaired)} repaired ({listed(self.repaired)})")
        return ", ".join(parts) or None


def _numbers(numbers: list[int], shown: int = 12) -> str:
    text = ", ".join(f"#{n}" for n in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


@functools.lru_cache(maxsize=1)
def _language_table() -> dict:
    from shared.core import config

    return config.load_json(config.CONFIG_DIR / "subtitle_languages.json")


def legacy_encodings(language: str | None) -> list[str]:
    """The code pages the language's subtitles were saved in before UTF-8 (config/subtitle_languages.json)."""
    return _language_table()["legacy_encodings"].get((language or "").partition("-")[0], [])


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without its byte-order mark: most of one byte of each pair zero (text in a script
    of the first 256 code points)."""
    if len(data) < 8 or len(data) % 2:
        return None
    odd, even = data[1::2].count(0), data[0::2].count(0)
    if max(odd, even) < 0.3 * (len(data) // 2) or min(odd, even) > 0.05 * (len(data) // 2):
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def _reads_right(text: str, language: str | None) -> bool:
    """Whether decoded text is in the language's script (where there is enough of it to tell)."""
    from shared.core import scripts

    if not language:
        return True
    wrong = scripts.wrong_script(text, language)
    also = _language_table().get("also_written_in", {})
    return wrong is None or wrong in {s for code in also.get(language.partition("-")[0], [])
                                      for s in scripts.unicode_scripts(code)}


def decode(data: bytes, name: str, language: str | None = None) -> tuple[str, str, bool]:
    """(text, encoding, guessed): by the byte-order mark, else UTF-8, else UTF-16 without its mark,
    else the language's legacy code page, else what charset-normalizer finds; a guess is taken only
    where charset-normalizer sees no mojibake in it (chaos at most MOST_CHAOS) and its letters are in
    the language's script. Otherwise, or for a UTF-16/32 file cut short or damaged, a one-line
    UserError that names the likely encoding and the command that converts the file."""
    for mark, encoding in BOMS:
        if data.startswith(mark):
            try:
                return data[len(mark):].decode(encoding), encoding, False
            except UnicodeDecodeError as exc:
                raise UserError(f"{name} is {encoding.upper()} (its byte-order mark says so) but is cut short or "
                                f"damaged at byte {exc.start + len(mark)}: export it again from the program "
                                "that made it") from None
    wide = _utf16_without_bom(data)
    if wide:
        try:
            text = data.decode(wide)
        except UnicodeDecodeError:
            raise UserError(f"{name} looks like {wide.upper()} without a byte-order mark but is cut short or damaged: "
                            "export it again from the program that made it") from None
        if _reads_right(text, language):
            return text, wide, True
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    usual = legacy_encodings(language)
    readings = []  # (coherence, encoding, text) of each code page that reads without mojibake in the right script
    for encoding in usual:
        found = from_bytes(data, cp_isolation=[encoding]).best()
        if found is not None and found.chaos <= MOST_CHAOS and _reads_right(str(found), language):
            readings.append((found.coherence, encoding, str(found)))
    readings.sort(key=lambda r: -r[0])
    if readings and (len(readings) == 1 or readings[0][0] - readings[1][0] >= CLEARER
                     or readings[0][2] == readings[1][2]):
        return readings[0][2], readings[0][1], True
    best = from_bytes(data).best()
    if not usual and best is not None and best.chaos <= MOST_CHAOS and _reads_right(str(best), language):
        return str(best), best.encoding, True
    if len(readings) > 1:
        usual = [readings[0][1], readings[1][1]]
    likely = " or ".join(usual[:2]) if usual else best.encoding if best is not None else "cp1252"
    stem, suffix = Path(name).stem, Path(name).suffix or ".srt"
    raise UserError(f"{name} is not UTF-8 and its encoding is not certain (most likely {likely}): convert it, e.g. "
                    f"iconv -f {likely.split()[0]} -t utf-8 '{name}' > '{stem}.utf8{suffix}', check the text reads right, and "
                    "prepare the job with the converted file")


def clean(line: str, any_tag: bool = False) -> tuple[str, list[str]]:
    """A line of cue text without markup, its character references decoded once; and the voices
    (speakers) its voice spans named. any_tag: every "<...>" is markup (WebVTT), not only the tags
    subtitle files use (SRT, where "x < y, but y > z" is text)."""
    voices = [v.strip() for v in VOICE.findall(line)]
    line = TIMESTAMP.sub("", line)
    line = READING.sub("", line)
    line = (ANY_TAG if any_tag else KNOWN_TAG).sub("", line)
    line = html.unescape(line).replace("\u00a0", " ")
    line = re.sub(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]", "", line)  # direction marks (&lrm; ...)
    return re.sub(r"[ \t\f\v]+", " ", line).strip(), voices


def _cue(number: int, start: float, end: float, lines: list[str], found: Imported, any_tag: bool = False) -> None:
    """Clean one cue's lines and keep it, or record why it was skipped or repaired."""
    timing = next((i for i, line in enumerate(lines) if TIMING_LINE.search(line)), None)
    if timing is not None:  # the next cue's timing was unreadable, and a parser took it for text
        found.repaired.append((number, "held a cue whose time is unreadable: its text left out"))
        lines = lines[:timing - 1 if timing and lines[timing - 1].strip().isdigit() else timing]
    cleaned, voices = [], []
    for line in lines:
        text, said = clean(line, any_tag)
        voices += said
        if text:
            cleaned.append(text)
    if not cleaned:
        found.skipped.append((number, "no text"))
        return
    if end == start:
        found.skipped.append((number, "no length"))
        return
    if end < start or end <= 0:
        found.skipped.append((number, "ends before it starts" if end < start else "before zero"))
        return
    if start < 0:
        found.repaired.append((number, "started before zero: cut at 0"))
        start = 0.0
    cue = {"start": start, "end": end, "text": "\n".join(cleaned), "number": number}
    if voices:
        cue["speaker"] = voices[0]
    found.cues.append(cue)


def _wide_seconds(stamp: str) -> float | None:
    found = WIDE_TIME.match(stamp)
    if not found:
        return None
    hours, minutes, whole, fraction = found.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(whole) + int(fraction) / 10 ** len(fraction)


def _vtt_timings(text: str) -> tuple[str, list[tuple[float, float] | None], set[int]]:
    """The text with each timing line webvtt-py would not read but whose times are plain (a comma
    for the dot, minutes past 59 without hours) written as WebVTT; and the times of every timing
    line in order (None where unreadable), so a cue the parser leaves out can be told by number; and
    the numbers of the timing lines written anew."""
    import webvtt.vtt

    from shared.subtitles.writer import clock

    pattern = webvtt.vtt.WebVTTCueBlock.CUE_TIMINGS_PATTERN
    lines, times, rewritten = text.split("\n"), [], set()
    for index, line in enumerate(lines):
        if "-->" not in line or not re.search(r"\d:\d", line):
            continue
        arrow = ARROW.match(line)
        start, end = (_wide_seconds(arrow.group(2)), _wide_seconds(arrow.group(3))) if arrow else (None, None)
        if start is None or end is None:
            times.append(None)
            continue
        times.append((round(start, 3), round(end, 3)))
        if not pattern.match(line):
            lines[index] = f"{arrow.group(1)}{clock(start)} --> {clock(end)}{arrow.group(4)}"
            rewritten.add(len(times))
    return "\n".join(lines), times, rewritten


def _webvtt(text: str, name: str, found: Imported) -> None:
    """WebVTT by webvtt-py. Every cue is numbered by its timing line: one whose time cannot be read,
    or that the parser leaves out, is reported skipped by that number, never lost without a word."""
    import io

    import webvtt

    text, timings, rewritten = _vtt_timings(text)
    try:
        captions = webvtt.from_buffer(io.StringIO(text)).captions
    except webvtt.errors.MalformedFileError as exc:
        raise UserError(f"{name} is not a WebVTT file its parser can read ({str(exc).strip() or 'malformed'}): "
                        "check the file (it must start with WEBVTT)") from None
    def seconds(stamp) -> float:
        hours, minutes, whole, milliseconds = stamp.to_tuple()
        return hours * 3600 + minutes * 60 + whole + milliseconds / 1000.0

    def skip(indices: range) -> None:
        found.skipped += [(i + 1, "time unreadable" if timings[i] is None else "not read as a cue") for i in indices]

    at = 0  # the next timing line
    for caption in captions:
        start, end = seconds(caption.start_time), seconds(caption.end_time)
        ahead = next((i for i in range(at, len(timings)) if timings[i] == (round(start, 3), round(end, 3))), None)
        if ahead is None:  # not a timing line of ours (cannot be): number it after the last
            ahead = at
            timings[at:at] = [(round(start, 3), round(end, 3))]
        skip(range(at, ahead))
        if ahead + 1 in rewritten:
            found.repaired.append((ahead + 1, "time not in WebVTT's form (a comma, or minutes past 59): read as written"))
        _cue(ahead + 1, start, end, caption.lines, found, any_tag=True)
        at = ahead + 1
    skip(range(at, len(timings)))


EVENT_FIELDS = {"ass": ["Layer", "Start", "End", "Style", "Name", "MarginL", "MarginR", "MarginV", "Effect", "Text"],
                "ssa": ["Marked", "Start", "End", "Style", "Name", "MarginL", "MarginR", "MarginV", "Effect", "Text"]}
EVENTS_FORMAT = re.compile(r"^\[Events\][ \t]*\n(?:[;!].*\n|[ \t]*\n)*Format:[ \t]*(.*)$", re.M | re.I)


def _events_in_their_usual_order(text: str) -> str:
    """An ASS/SSA file whose [Events] Format line orders or omits fields otherwise than usual (FFmpeg's
    legacy "Layer, Start, End, Style, Text") with its events written in the usual order, which is
    the only one pysubs2 reads (it would take a comma of the text for a field and lose the text)."""
    declared = EVENTS_FORMAT.search(text)
    if not declared:
        return text
    fields = [f.strip().lower() for f in declared.group(1).split(",")]
    usual = EVENT_FIELDS["ssa" if "marked" in fields else "ass"]
    if fields == [f.lower() for f in usual] or "text" not in fields or fields[-1] != "text":
        return text
    defaults = {"layer": "0", "marked": "Marked=0", "style": "Default", "name": "", "marginl": "0", "marginr": "0",
                "marginv": "0", "effect": ""}

    def reordered(line: str) -> str:
        kind, _, rest = line.partition(":")
        values = dict(zip(fields, rest.lstrip().split(",", len(fields) - 1)))
        return f"{kind}: " + ",".join(values.get(f.lower(), defaults.get(f.lower(), "")) for f in usual)

    events = text[declared.end():].split("\n")
    return (text[:declared.start(1)] + ", ".join(usual)
            + "\n".join(reordered(line) if re.match(r"(?:Dialogue|Comment):", line, re.I) else line for line in events))


def _pysubs2(text: str, name: str, found: Imported, fps: float | None = None) -> None:
    import pysubs2

    text = _events_in_their_usual_order(text)
    # an ASS file without a styles section (hand-made, or cut down) is still ASS: pysubs2 finds the
    # format by that section, so it is named where the file has the [Events] of one
    events = re.search(r"^\[Events\]", text, re.M | re.I) and not re.search(r"V4\+? Styles", text, re.I)
    named = {"format_": "ssa" if re.search(r"ScriptType:\s*v4\.00\s*$", text, re.M | re.I) else "ass"} if events else {}
    if re.match(r"\s*<sami[\s>]", text, re.I):  # pysubs2 knows SAMI only by an upper-case <SAMI>
        named = {"format_": "sami"}
    if "music.apple.com/lyric-ttml-internal" in text[:4096]:
        # Apple's lyric TTML times each line from the start, not from its <div>'s begin as TTML's
        # nesting would (pysubs2 issue #108)
        named = {"format_": "ttml", "ignore_par_time_offset": True}
    declared = MICRODVD_RATE.match(text)
    if declared:  # the rate the file was timed at wins over the video's
        fps, text = float(declared.group(1)), text[declared.end():]
    try:
        with warnings.catch_warnings():  # a style field it cannot parse: its default is all a cue needs
            warnings.simplefilter("ignore", RuntimeWarning)
            subs = pysubs2.SSAFile.from_string(text, keep_unknown_html_tags=True, fps=fps, **named)
    except pysubs2.exceptions.UnknownFPSError:
        raise UserError(f"{name} is MicroDVD (times in frames) without its frame rate: give the video with --media "
                        "(its frame rate is used), or convert the file to .srt") from None
    except (pysubs2.exceptions.Pysubs2Error, ValueError, KeyError, IndexError, SyntaxError) as exc:
        raise UserError(f"{name} is not a subtitle file pysubs2 can read ({type(exc).__name__}): "
                        f"--subs takes {TAKES}") from None
    if subs.format not in FORMATS:
        raise UserError(f"{name} is {subs.format}, not a format this workflow takes: convert it to .srt first")
    found.format = subs.format
    number = 0
    for event in subs:
        if event.is_comment:
            continue
        number += 1
        if event.is_drawing:
            found.skipped.append((number, "a drawing, not text"))
            continue
        if subs.format == "sami" and not event.plaintext.strip(" \n\u00a0"):
            number -= 1  # SAMI clears the screen with an empty sync: not a cue
            continue
        _cue(number, event.start / 1000.0, event.end / 1000.0, event.plaintext.split("\n"), found)


def _media_hint(path: Path, what: str) -> str:
    """What to do with a media file given as subtitles: its subtitle streams, and how to take one out."""
    from shared.core import media

    streams = media.subtitle_streams(path)
    text = [s for s in streams if s.get("codec_name") in ("subrip", "ass", "ssa", "webvtt", "mov_text", "text")]
    name = path.name
    if text:
        first = text[0]
        codec = "ass" if first["codec_name"] in ("ass", "ssa") else "srt"
        tag = (first.get("tags") or {}).get("language")
        return (f"{name} is {what}, not a subtitle file; it holds {len(text)} text subtitle stream"
                f"{'s' if len(text) > 1 else ''}: take one out, e.g. ffmpeg -i '{name}' -map 0:{first['index']} "
                f"'{Path(name).stem}{'.' + tag if tag else ''}.{codec}' (give the video itself to --media)")
    codecs = ", ".join(sorted({s.get("codec_name") or "unknown" for s in streams}))
    if streams and all(s.get("codec_name") in PICTURES for s in streams):
        return (f"{name} is {what} whose subtitles are pictures ({codecs}): they need OCR into .srt (e.g. "
                "Subtitle Edit) before --subs; give the video itself to --media")
    if streams:
        return (f"{name} is {what} whose subtitles ffmpeg cannot write as text ({codecs}): convert them to .srt "
                "first (e.g. with Subtitle Edit); give the video itself to --media")
    return f"{name} is {what} without subtitles: --subs takes a subtitle file; give the media to --media"


def read(path: Path, language: str | None = None, fps: float | None = None) -> Imported:
    """The file's cues in time order, with how it was read and what was skipped or repaired; a
    one-line UserError for a file that is missing, too big, not text, not a subtitle format, or
    without any cue. `language`: the subtitles' language, which tells what a legacy encoding is
    likely to be; `fps`: the video's frame rate, for MicroDVD files that count frames without
    saying the rate."""
    name = path.name
    if not path.is_file():
        raise UserError(f"no subtitle file {path}: check the path given to --subs")
    with path.open("rb") as head:
        start = head.read(512)
    for pattern, what, todo in NOT_TEXT:
        if pattern.match(start):
            raise UserError(_media_hint(path, what) if todo == "media" else f"{name} is {what}: {todo}")
    if path.stat().st_size > MAX_BYTES:
        raise UserError(f"{name} is over {MAX_BYTES // 2**20} MB: not a subtitle file (--subs takes {TAKES})")
    data = path.read_bytes()
    if not data.strip():
        raise UserError(f"{name} is empty: check the file given to --subs")
    if b"\0" in data[:65536] and not data.startswith(tuple(m for m, _ in BOMS)) and not _utf16_without_bom(data):
        raise UserError(f"{name} is a binary file, not subtitle text: --subs takes {TAKES}")
    text, encoding, detected = decode(data, name, language)
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    found = Imported([], "", encoding, detected)
    if re.match(r"WEBVTT(?=$|[ \t\n])", text):
        found.format = "vtt"
        _webvtt(text, name, found)
    elif SCC.match(text):
        raise UserError(f"{name} is Scenarist Closed Captions (SCC), which --subs does not take: convert it, e.g. "
                        f"ffmpeg -i '{name}' '{Path(name).stem}.srt'")
    else:
        _pysubs2(text, name, found, fps)
    if not found.cues:
        why = f" ({found.report()})" if found.skipped else ""
        raise UserError(f"{name} holds no subtitle with text and a time{why}: check the file (--subs)")
    found.cues.sort(key=lambda c: (c["start"], c["end"]))
    return found


def transcript(cues: list[dict], language: str, source_name: str) -> dict:
    """The cues as a transcript (docs/segments.md): one segment per cue, on the cue's time, its lines
    as the file gave them ("\\n" between them), without word times; a voice span's name as its
    speaker."""
    segments = [{"id": i, "start": round(c["start"], 3), "end": round(c["end"], 3), "text": c["text"],
                 "language": language, "words": [], **({"speaker": c["speaker"]} if c.get("speaker") else {})}
                for i, c in enumerate(cues)]
    return {"language": language, "language_probability": None, "duration": round(max(c["end"] for c in cues), 3),
            "engine": "subtitles", "model": source_name, "segments": segments}
