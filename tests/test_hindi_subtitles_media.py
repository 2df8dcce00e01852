"""Hindi subtitles on real media (issue 12): espeak-ng Hindi speech with pauses, under a video of colour
shots cut at known frames, through the real demux, shots and subtitles stages started by run-pipeline.sh.

No Whisper model that understands Hindi exists offline here (OFFLINE_FACTS.md: the embedded base answers
espeak-ng's Hindi in Urdu script or romanised), so transcript.json holds what Hindi ASR would produce: the
spoken sentences at their measured times, each word timed in proportion to its length. Everything a
viewer sees is asserted: every word once and in order, no line starting with a postposition or ending on
a conjunction, no cue broken after an honorific, no cue under the minimum, edges on frames, 2-frame gaps,
no cut crossed by a few frames, and the styled formats naming a Devanagari font.
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import srt

from conftest import REPO, clean_env
from shared.core import config
from shared.subtitles.rules import Rules

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import make  # noqa: E402

FPS = 25
SENTENCES = [
    "डॉ. शर्मा ने आज सुबह अस्पताल में आए सभी मरीज़ों को घर पर आराम करने की सलाह दी।",
    "राम के बड़े भाई ने कल शाम बाज़ार से सब्ज़ियाँ और फल ख़रीदे और घर आकर अपनी माँ को दिए।",
    "हाँ।",
    "मौसम विभाग ने पूरे दिन के लिए चेतावनी जारी की है, इसलिए बच्चों के स्कूल आज बंद रहेंगे।",
    "श्री. वर्मा ने कहा कि शहर की सड़कों पर पानी भरने से यातायात पर बुरा असर पड़ा है।",
]
LANGUAGE_RULES = json.loads((REPO / "config" / "subtitle_languages.json").read_text(encoding="utf-8"))["hi"]


def frame(t: float) -> float:
    return round(t * FPS) / FPS


def transcript(truth: dict) -> dict:
    """The spoken sentences at their times; words timed in proportion to their length (with a space's
    worth for the pause between words), as ASR word timestamps would be."""
    segments = []
    for i, sentence in enumerate(truth["sentences"]):
        tokens = sentence["text"].split()
        weights = [len(t) + 1 for t in tokens]
        span, at, words = sentence["end"] - sentence["start"], sentence["start"], []
        for token, weight in zip(tokens, weights):
            step = span * weight / sum(weights)
            words.append({"start": round(at, 3), "end": round(at + step * 0.9, 3), "word": " " + token,
                          "probability": 1.0})
            at += step
        segments.append({"id": i, "start": sentence["start"], "end": sentence["end"], "text": sentence["text"],
                         "language": "hi", "words": words})
    return {"language": "hi", "language_probability": 1.0, "duration": truth["duration"], "engine": "test",
            "model": "hindi speech as spoken", "segments": segments}


@pytest.fixture(scope="module")
def hindi_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hindi")
    spoken = tmp / "spoken.mp4"
    truth = make(spoken, lang="hi", sentences=SENTENCES, gap=1.0)
    first, second = truth["sentences"][0], truth["sentences"][1]
    # one cut just after the first sentence ends (its out-point snaps before it), one inside the
    # second sentence (a cue may hold it, but not by a few frames)
    cuts = [frame(first["end"] + 0.2), frame((second["start"] + second["end"]) / 2)]
    bounds = [0.0, *cuts, truth["duration"] + 0.5]
    colours = ["red", "blue", "green"]
    inputs = []
    for colour, (a, b) in zip(colours, zip(bounds, bounds[1:])):
        inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r={FPS}:d={b - a:.2f}"]
    concat = "".join(f"[{i}:v]" for i in range(len(colours))) + f"concat=n={len(colours)}:v=1:a=0[v]"
    media = tmp / "समाचार.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-i", str(spoken), "-filter_complex", concat,
                    "-map", "[v]", "-map", f"{len(colours)}:a", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "copy", "-shortest", str(media)], check=True)
    out = tmp / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "hi",
                           "--model", "base"], cwd=REPO, env=env, capture_output=True, text=True)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    job = out / job_id
    for stage in ("demux", "shots"):
        run = subprocess.run(["./run-pipeline.sh", "-j", job_id, "--only", stage], cwd=REPO, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    (job / "transcript.json").write_text(json.dumps(transcript(truth), ensure_ascii=False), encoding="utf-8")
    run = subprocess.run(["./run-pipeline.sh", "-j", job_id, "--only", "subtitles"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    cues = list(srt.parse(next((job / "subtitles").glob("*.hi.srt")).read_text(encoding="utf-8")))
    return job, truth, cuts, cues


def test_the_shots_stage_finds_the_known_cuts(hindi_job):
    job, _, cuts, _ = hindi_job
    found = json.loads((job / "shots.json").read_text())["changes"]
    assert len(found) == len(cuts) and all(abs(f - c) <= 1 / FPS + 1e-6 for f, c in zip(found, cuts)), (found, cuts)


def test_every_word_once_in_order_and_no_break_after_an_honorific(hindi_job):
    _, _, _, cues = hindi_job
    assert [w for c in cues for w in c.content.split()] == [w for s in SENTENCES for w in s.split()]
    for cue in cues:
        assert cue.content.split()[-1] not in ("डॉ.", "श्री."), cue.content
    assert not any(c.content.split() == ["शर्मा"] or c.content.split()[0] == "शर्मा" for c in cues)


def test_lines_keep_postpositions_with_their_word(hindi_job):
    _, _, _, cues = hindi_job
    lines = [line.split() for c in cues for line in c.content.split("\n")]
    assert any(len(c.content.split("\n")) == 2 for c in cues)  # the long sentences need two lines
    for line in lines:
        assert line[0] not in LANGUAGE_RULES["keep_with_previous"], line
        assert line[-1].rstrip(",।") not in LANGUAGE_RULES["no_line_end"], line


def test_cue_timing_a_viewer_would_accept(hindi_job):
    job, truth, cuts, cues = hindi_job
    rules = Rules.from_settings(config.pipeline_defaults()["subtitles"], "hi")
    edges = [(c.start.total_seconds(), c.end.total_seconds()) for c in cues]
    for start, end in edges:
        assert end - start >= rules.min_duration - 1e-3, (start, end)
        assert abs(start * FPS - round(start * FPS)) < 0.03 and abs(end * FPS - round(end * FPS)) < 0.03
        for cut in cuts:
            if start < cut < end:
                assert min(cut - start, end - cut) >= rules.snap_frames / FPS - 1e-3, (start, end, cut)
    for (_, end), (start, _) in zip(edges, edges[1:]):
        assert start - end >= rules.min_gap_frames / FPS - 1e-3
    # the short "हाँ।" keeps its own moment: its cue holds its speech's start
    yes = truth["sentences"][2]
    holder = next(c for c in cues if "हाँ।" in c.content)
    assert holder.start.total_seconds() <= yes["start"] + 0.5 and holder.end.total_seconds() >= yes["end"] - 0.05
    track = json.loads((job / "subtitles.json").read_text())["tracks"][0]
    assert track["compliance"]["violations"] == 0, track["compliance"]
    assert track["timing"]["fps"] == FPS and track["timing"]["shot_changes"] == len(cuts)


def test_styled_formats_name_a_devanagari_font_and_parse_back(hindi_job):
    job, _, _, cues = hindi_job
    ass = next((job / "subtitles").glob("*.hi.ass")).read_text(encoding="utf-8")
    assert "Noto Sans Devanagari" in ass
    ttml = ET.parse(next((job / "subtitles").glob("*.hi.ttml")))
    ns = {"tt": "http://www.w3.org/ns/ttml"}
    assert ttml.getroot().get("{http://www.w3.org/XML/1998/namespace}lang") == "hi"
    assert len(ttml.getroot().findall(".//tt:p", ns)) == len(cues)
