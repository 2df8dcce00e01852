"""Translating subtitles a user already has (issue 13, part 4): prepare-job.sh --subs FILE, the subs
workflow, no media and no ASR. Real stages started by run-pipeline.sh, on the tiny NLLB model
overfitted on Hindi->English pairs (tests/tiny_models.py), fetched and converted by cache-models.sh.

What a user sees is asserted: the translation on the cue times of their file, cues that are fragments
of one sentence translated as that sentence and laid back onto their own times, every input format
read, the results muxed when --media is given too, and one-line errors for files that are not
subtitles.
"""

import json
import subprocess

import pytest
import srt

from conftest import NLLB_KEY, REPO, clean_env
from shared.translation.plan import Sentence, onto_pieces
from tiny_models import HINDI_ENGLISH_PAIRS

PAIRS = dict(HINDI_ENGLISH_PAIRS)
# (start, end, text) of the user's Hindi cues: one sentence split over two cues (a fragment each), one
# cue in italics over two lines, and a pause between sentences.
CUES = [
    (1.0, 2.2, "प्रधानमंत्री आज"),
    (2.3, 3.9, "मुंबई पहुंचे।"),
    (5.0, 6.8, "<i>आज मौसम\nअच्छा है।</i>"),
    (8.0, 9.5, "कल बारिश होगी।"),
    (10.0, 12.0, "सरकार ने नई योजना की घोषणा की।"),
]
SENTENCES = ["प्रधानमंत्री आज मुंबई पहुंचे।", "आज मौसम अच्छा है।", "कल बारिश होगी।", "सरकार ने नई योजना की घोषणा की।"]


def stamp(seconds: float, sep: str = ",") -> str:
    whole = int(round(seconds * 1000))
    return f"{whole // 3600000:02d}:{whole // 60000 % 60:02d}:{whole // 1000 % 60:02d}{sep}{whole % 1000:03d}"


def as_srt(cues=CUES) -> str:
    return "".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues, 1))


def as_vtt(cues=CUES) -> str:
    body = "".join(f"{stamp(a, '.')} --> {stamp(b, '.')}\n{text}\n\n" for a, b, text in cues)
    return "WEBVTT\n\n" + body


def as_ass(cues=CUES) -> str:
    def t(s: float) -> str:
        cs = int(round(s * 100))
        return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"
    def ass_text(text: str) -> str:
        return text.replace("<i>", r"{\i1}").replace("</i>", r"{\i0}").replace("\n", r"\N")
    events = "".join(f"Dialogue: 0,{t(a)},{t(b)},Default,,0,0,0,,{ass_text(text)}\n" for a, b, text in cues)
    return ("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
            "Style: Default,Arial,20\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
            "MarginV, Effect, Text\nComment: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,a translator's note\n" + events)


def sh(args, cache, out):
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def run_subs(cache, out, subs, *extra):
    prep = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "en", "--translator", NLLB_KEY, *extra],
              cache, out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out / job_id


def english_expected() -> list[str]:
    return [PAIRS[s] for s in SENTENCES]


@pytest.mark.parametrize("fmt,write", [("srt", as_srt), ("vtt", as_vtt), ("ass", as_ass)])
def test_translation_sits_on_the_users_cue_times(overfit_nllb_cache, tmp_path, fmt, write):
    subs = tmp_path / f"समाचार.hi.{fmt}"
    subs.write_bytes(("\ufeff" if fmt == "srt" else "").encode() + write().encode("utf-8"))  # a BOM, as Windows tools save
    job = run_subs(overfit_nllb_cache, tmp_path / "out", subs)
    record = json.loads((job / "job.json").read_text())
    assert record["workflow"] == "subs" and "media" not in record
    assert record["stages"] == ["import_subs", "subtitles", "translate", "translated_subtitles", "review"]
    english = list(srt.parse((job / "subtitles" / "समाचार.en.srt").read_text(encoding="utf-8")))
    # every cue of the user's file is a cue of the translation, on its time, to the millisecond
    assert [(c.start.total_seconds(), c.end.total_seconds()) for c in english] == [(a, b) for a, b, _ in CUES]
    # the two fragments were translated as one sentence, then laid back onto their two cues
    assert " ".join(c.content.replace("\n", " ") for c in english) == " ".join(english_expected())
    assert english[0].content and english[1].content.endswith("today.")
    assert [c.content.replace("\n", " ") for c in english[2:]] == english_expected()[1:]
    hindi = list(srt.parse((job / "subtitles" / "समाचार.hi.srt").read_text(encoding="utf-8")))
    assert [c.content.replace("\n", " ") for c in hindi][2] == "आज मौसम अच्छा है।"  # tags gone, lines laid out again
    assert len(hindi) == len(CUES)
    for name in ("vtt", "ass", "ttml"):
        assert (job / "subtitles" / f"समाचार.en.{name}").stat().st_size > 0


def test_with_media_the_results_are_muxed(overfit_nllb_cache, tmp_path):
    media = tmp_path / "film.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:r=10:d=13",
                    "-f", "lavfi", "-i", "sine=f=440:d=13", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(media)], check=True)
    subs = tmp_path / "film.hi.srt"
    subs.write_text(as_srt(), encoding="utf-8")
    job = run_subs(overfit_nllb_cache, tmp_path / "out", subs, "--media", str(media))
    assert json.loads((job / "job.json").read_text())["stages"][-2:] == ["mux", "review"]
    muxed = job / json.loads((job / "mux.json").read_text())["output"]
    streams = json.loads(subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams",
                                         str(muxed)], capture_output=True, text=True, check=True).stdout)["streams"]
    assert [s["tags"]["language"] for s in streams if s["codec_type"] == "subtitle"] == ["eng", "hin"]
    english = list(srt.parse((job / "subtitles" / "film.en.srt").read_text(encoding="utf-8")))
    assert [(c.start.total_seconds(), c.end.total_seconds()) for c in english] == [(a, b) for a, b, _ in CUES]


NOT_SUBTITLES = {
    "missing": None,
    "prose": "This is a letter, not subtitles.\nRegards.\n".encode(),
    "cp1252": as_srt([(1.0, 2.0, "café déjà vu")]).encode("cp1252"),
    "no cues": b"\n\n",
}


@pytest.mark.parametrize("case", list(NOT_SUBTITLES))
def test_a_file_that_is_not_subtitles_is_refused_in_one_line(tmp_path, case):
    subs = tmp_path / "input.srt"
    if NOT_SUBTITLES[case] is not None:
        subs.write_bytes(NOT_SUBTITLES[case])
    out = tmp_path / "out"
    result = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "en"], tmp_path, out)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "input.srt" in result.stderr
    assert not out.exists() or not any(out.iterdir())  # no job left behind


@pytest.mark.parametrize("args,says", [
    (["--subs", "{subs}", "--workflow", "transcribe", "-s", "hi"], "--subs belongs to the subs workflow"),
    (["--media", "{subs}", "--workflow", "subs", "-s", "hi", "-t", "en"], "add --subs"),
    (["--subs", "{subs}", "-s", "hi"], "needs target languages"),
    (["--subs", "{subs}", "-s", "hi", "-t", "en", "--model", "small"], "--model"),
    (["-s", "hi", "-t", "en"], "nothing to subtitle"),
])
def test_subs_options_are_checked(tmp_path, args, says):
    subs = tmp_path / "film.hi.srt"
    subs.write_text(as_srt(), encoding="utf-8")
    result = sh(["./prepare-job.sh", *[a.format(subs=subs) for a in args]], tmp_path, tmp_path / "out")
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_fragments_laid_back_by_the_share_of_text():
    sentence = Sentence(1.0, 4.0, "and the river rose in the night.",
                        [(1.0, 2.5, " and the river"), (2.6, 4.0, " rose in the night.")])
    assert onto_pieces(sentence, "and the river rose in the night.") == [
        (1.0, 2.5, "and the river"), (2.6, 4.0, "rose in the night.")]
    # a translation with fewer words than cues: the word takes the whole span
    assert onto_pieces(sentence, "नदी") == [(1.0, 4.0, "नदी")]
    # a postposition is not torn from its word when a cut beside it is about as near
    hindi_break = lambda before, after: after in ("में", "की")  # noqa: E731
    parts = onto_pieces(sentence, "और नदी रात में बढ़ गई।", hindi_break)
    assert [p[2] for p in parts] == ["और नदी", "रात में बढ़ गई।"]


def test_microdvd_is_timed_at_the_videos_frame_rate(tmp_path):
    """A MicroDVD file counts frames and, without a rate line, only the video tells how long one is:
    prepare-job refuses it alone in one line, and with --media the import stage reads it at the
    video's 24 fps."""
    media = tmp_path / "film.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:r=24:d=8",
                    "-f", "lavfi", "-i", "sine=f=440:d=8", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(media)], check=True)
    subs = tmp_path / "film.sub"
    subs.write_text("{24}{72}नमस्ते।\n{96}{144}आज मौसम अच्छा है।\n", encoding="utf-8")
    alone = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "en"], tmp_path, tmp_path / "out")
    assert alone.returncode != 0 and len(alone.stderr.strip().splitlines()) == 1
    assert "MicroDVD (times in frames) without its frame rate: give the video with --media" in alone.stderr
    prep = sh(["./prepare-job.sh", "--subs", str(subs), "--media", str(media), "-s", "hi", "-t", "en"], tmp_path,
              tmp_path / "out")
    assert prep.returncode == 0, prep.stderr
    job = tmp_path / "out" / prep.stdout.strip().splitlines()[-1]
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path / "out"))
    stage = subprocess.run([str(REPO / ".venvs/common/bin/python"), "-m", "stages.import_subs", "--job", str(job)],
                           cwd=REPO, env=env, capture_output=True, text=True)
    assert stage.returncode == 0, stage.stderr
    segments = json.loads((job / "transcript.json").read_text())["segments"]
    assert [(s["start"], s["end"], s["text"]) for s in segments] == [(1.0, 3.0, "नमस्ते।"), (4.0, 6.0, "आज मौसम अच्छा है।")]
