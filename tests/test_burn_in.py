"""Burned-in subtitles (issue 12, part 5): the mux stage draws the first track into the picture with
libass, in a Noto font for its script; prepare-job refuses --burn-in where it cannot apply."""

import json
import subprocess

import numpy as np
import pytest

from conftest import REPO, clean_env
from shared.environment_manager import EnvironmentManager

SAMPLE = REPO / "scripts" / "sample" / "sample.en.flac"


def sh(*args, out):
    return subprocess.run([str(a) for a in args], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1"))


def frame(video, at: float) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{at:.2f}", "-i", str(video), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-s", "320x240", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(240, 320).astype(int)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("burn") / "scene.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x204060:s=320x240:r=25:d=18",
                    "-i", str(SAMPLE), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
                   check=True)
    return path


def test_the_first_track_is_drawn_into_the_picture(video, tmp_path):
    out = tmp_path / "out"
    prep = sh("./prepare-job.sh", "--media", video, "--workflow", "transcribe", "-s", "en", "--model", "tiny.en", out=out)
    job_path = out / prep.stdout.strip().splitlines()[-1]
    assert sh("./run-pipeline.sh", "-j", job_path.name, out=out).returncode == 0
    job = json.loads((job_path / "job.json").read_text())
    job["overrides"]["mux"] = {"burn_in": True}  # what --burn-in records (the subtitle workflow's mux stage)
    (job_path / "job.json").write_text(json.dumps(job))
    code = EnvironmentManager().run_stage("mux", ["--job", str(job_path)], log_path=job_path / "logs" / "mux.log")
    assert code == 0, (job_path / "logs" / "mux.log").read_text()
    record = json.loads((job_path / "mux.json").read_text())
    burned = job_path / record["burned"]
    assert burned.name == "scene.burned.mp4" and record["burned_track"] == "en"
    assert not list(job_path.glob(".burn-in.*"))
    streams = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(burned)],
                                        capture_output=True, text=True, check=True).stdout)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio"] and streams[0]["codec_name"] == "h264"
    cue = json.loads((job_path / "subtitles.json").read_text())["tracks"][0]
    assert cue["ass"]
    import srt

    first = next(srt.parse((job_path / cue["srt"]).read_text(encoding="utf-8")))
    middle = (first.start.total_seconds() + first.end.total_seconds()) / 2
    plain, drawn = frame(video, middle), frame(burned, middle)
    changed = np.abs(drawn - plain) > 40
    assert changed[160:].sum() > 150, changed[160:].sum()  # white text on a black outline in the lower third
    assert changed[:120].sum() == 0                          # the upper half untouched


@pytest.mark.parametrize("media,workflow,why", [
    ("video", "transcribe", "subtitle workflow"),
    ("audio", "subtitle", "no picture"),
])
def test_burn_in_is_refused_where_it_cannot_apply(video, tmp_path, media, workflow, why):
    path = video if media == "video" else SAMPLE
    result = sh("./prepare-job.sh", "--media", path, "--workflow", workflow, "-s", "en", "-t", "hi" if workflow != "transcribe" else "",
                "--burn-in", out=tmp_path / "out")
    assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr, result.stderr
