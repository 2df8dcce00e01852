"""Cues timed to the picture (issue 12, part 3): the shots stage finds the cuts of a video made of
colour shots joined at known frames, and the subtitles land on frames, snap to nearby cuts and never
cross one by a few frames. Audio-only media keep their speech timing."""

import json
import subprocess

import pytest

from conftest import REPO, clean_env
from shared.subtitles.rules import Cue, Rules, compliance, to_picture

SAMPLE = REPO / "scripts" / "sample" / "sample.en.flac"
RULES = Rules.default()


def on_frames(t: float, fps: float) -> bool:
    return abs(t * fps - round(t * fps)) < 1e-6


def test_edges_snap_to_cuts_chain_and_land_on_frames():
    cues = [Cue(0.5, 2.95, ["a"]), Cue(3.1, 4.4, ["b"]), Cue(5.8, 7.0, ["c"]), Cue(9.0, 10.0, ["d"]),
            Cue(10.3, 11.5, ["e"])]
    adjustments = to_picture(cues, RULES, 25.0, [3.0, 6.0])
    assert cues[0].end == pytest.approx(2.92)           # out 2 frames before the cut at 3.0
    assert cues[1].start == pytest.approx(3.0)          # in 4 frames after the cut: onto it
    assert cues[2].start == pytest.approx(6.0)          # crossed the cut at 6.0 by 5 frames: starts on it
    assert cues[3].end == pytest.approx(cues[4].start - 0.08)  # a 0.3 s gap with no cut in it: chained
    assert all(on_frames(t, 25.0) for c in cues for t in (c.start, c.end))
    assert {a["why"].split(" at ")[0] for a in adjustments} == {"shot change", "chained to the next cue"}
    assert compliance(cues, RULES, [3.0, 6.0], 25.0)["shot_change_crossings"] == 0


def test_a_cue_too_short_to_move_keeps_its_speech_and_is_reported():
    cues = [Cue(2.8, 3.7, ["quick"])]
    to_picture(cues, RULES, 25.0, [3.2])
    # moving the in-time onto the cut would leave 0.5 s: it stays, and the crossing is reported
    assert cues[0].start == pytest.approx(2.8)
    assert compliance(cues, RULES, [3.2], 25.0)["shot_change_crossings"] == 1


def test_no_frame_rate_no_change():
    cues = [Cue(0.5123, 2.3456, ["a"])]
    assert to_picture(cues, RULES, None, []) == [] and cues[0].start == 0.5123


CUTS = [3.0, 6.0, 8.0]


@pytest.fixture(scope="module")
def video_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shots")
    media = tmp / "shots.mp4"
    colours = [("red", 3.0), ("blue", 3.0), ("green", 2.0), ("yellow", 10.69)]
    inputs = []
    for colour, seconds in colours:
        inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r=25:d={seconds}"]
    concat = "".join(f"[{i}:v]" for i in range(len(colours))) + f"concat=n={len(colours)}:v=1:a=0[v]"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-i", str(SAMPLE), "-filter_complex", concat,
                    "-map", "[v]", "-map", f"{len(colours)}:a", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(media)], check=True)
    out = tmp / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
                           "--model", "tiny.en"], cwd=REPO, env=env, capture_output=True, text=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    run = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return out / job_id


def test_the_shots_stage_finds_the_cuts(video_job):
    shots = json.loads((video_job / "shots.json").read_text())
    assert shots["fps"] == 25.0
    assert len(shots["changes"]) == len(CUTS)
    assert all(abs(found - cut) <= 0.04 + 1e-6 for found, cut in zip(shots["changes"], CUTS)), shots


def test_cues_sit_on_frames_and_respect_the_cuts(video_job):
    import srt

    cues = list(srt.parse(next((video_job / "subtitles").glob("*.en.srt")).read_text(encoding="utf-8")))
    assert cues
    edges = [(c.start.total_seconds(), c.end.total_seconds()) for c in cues]
    for start, end in edges:
        assert abs(start * 25 - round(start * 25)) < 0.03 and abs(end * 25 - round(end * 25)) < 0.03, (start, end)
        for cut in CUTS:
            if start < cut < end:  # a cue may cross a cut, but not by a few frames
                assert cut - start >= 12 / 25 - 1e-3 and end - cut >= 12 / 25 - 1e-3, (start, end, cut)
    for (_, end), (start, _) in zip(edges, edges[1:]):
        assert start - end >= 2 / 25 - 1e-3
    track = json.loads((video_job / "subtitles.json").read_text())["tracks"][0]
    assert track["timing"]["fps"] == 25.0 and track["timing"]["shot_changes"] == len(CUTS)
    assert track["compliance"]["shot_change_crossings"] == 0 and track["compliance"]["violations"] == 0
    assert any(a["why"].startswith("shot change") for a in track["timing"]["adjustments"])


def test_audio_only_media_keep_their_speech_timing(tmp_path):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = subprocess.run(["./prepare-job.sh", "--media", str(SAMPLE), "--workflow", "transcribe", "-s", "en",
                           "--model", "tiny.en"], cwd=REPO, env=env, capture_output=True, text=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    assert subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env).returncode == 0
    assert "shots" not in json.loads((out / job_id / "job.json").read_text())["stages"]
    assert not (out / job_id / "shots.json").exists()
    track = json.loads((out / job_id / "subtitles.json").read_text())["tracks"][0]
    assert track["timing"] == {"fps": None, "shot_changes": 0, "adjustments": []}
