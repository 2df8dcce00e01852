"""The asr stage's warm start (issue 27): the pipeline starts the asr stage with the job, held; it loads
its model while demux and VAD run, reads nothing they write until it is told to go, and ends, having
written nothing, when a stage before it fails or the run is stopped. Real stages, real tiny.en."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import REPO, clean_env
from shared.environment_manager import EnvironmentManager

SAMPLE = REPO / "scripts" / "sample" / "sample.en.flac"


def sh(*cmd, env):
    return subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def prepared(tmp_path, media: Path = SAMPLE) -> tuple[Path, dict]:
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = sh("./prepare-job.sh", "--media", media, "--workflow", "transcribe", "-s", "en", "--model", "tiny.en",
              "--speakers", "off", env=env)
    assert prep.returncode == 0, prep.stderr
    return out / prep.stdout.strip().splitlines()[-1], env


def wait_for(predicate, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def asr_runs(log: Path) -> list[str]:
    """The command lines the asr log records, one per start of the stage."""
    return [line for line in log.read_text().splitlines() if line.startswith("$ ") and "stages.asr" in line]


def test_a_job_starts_its_asr_stage_held_and_the_words_come_out(tmp_path):
    job, env = prepared(tmp_path)
    run = sh("./run-pipeline.sh", "-j", job.name, env=env)
    assert run.returncode == 0, run.stderr
    log = job / "logs" / "asr.log"
    assert [line.endswith("--held") for line in asr_runs(log)] == [True]
    assert "held: ready (model loaded)" in log.read_text()
    words = " ".join(s["text"] for s in json.loads((job / "transcript.json").read_text())["segments"]).lower()
    assert len(words.split()) > 20
    status = json.loads((job / "status.json").read_text())["stages"]
    assert status["asr"]["state"] == "done" and status["asr"]["started"] >= status["vad"]["finished"]
    # asr first in a run (--from asr): nothing runs before it, so it starts in its turn
    again = sh("./run-pipeline.sh", "-j", job.name, "--from", "asr", env=env)
    assert again.returncode == 0, again.stderr
    assert [line.endswith("--held") for line in asr_runs(log)] == [True, False]


def test_warm_start_off_starts_the_asr_stage_in_its_turn(tmp_path):
    job, env = prepared(tmp_path)
    spec = json.loads((job / "job.json").read_text())
    spec.setdefault("overrides", {}).setdefault("asr", {})["warm_start"] = False
    (job / "job.json").write_text(json.dumps(spec))
    run = sh("./run-pipeline.sh", "-j", job.name, env=env)
    assert run.returncode == 0, run.stderr
    assert [line.endswith("--held") for line in asr_runs(job / "logs" / "asr.log")] == [False]


def test_a_held_asr_stage_reads_no_input_before_go_and_writes_nothing_when_cancelled(tmp_path):
    job, env = prepared(tmp_path)
    for stage in ("demux", "vad"):
        assert sh("./run-pipeline.sh", "-j", job.name, "--only", stage, env=env).returncode == 0
    regions = job / "vad.json"
    aside = regions.rename(job / "vad.json.aside")  # what the VAD writes is not there yet
    log = job / "logs" / "asr.log"
    manager = EnvironmentManager()

    held = manager.start_stage("asr", ["--job", str(job)], log_path=log, held=True)
    wait_for(lambda: "held: ready" in log.read_text(), "the held stage never said it was ready")
    time.sleep(0.5)
    assert held.proc.poll() is None, log.read_text()  # waiting, not failed on the missing vad.json
    aside.rename(regions)
    held.go()
    assert held.wait() == 0, log.read_text()
    assert json.loads((job / "transcript.json").read_text())["segments"]

    (job / "transcript.json").unlink()
    cancelled = manager.start_stage("asr", ["--job", str(job)], log_path=log, held=True)
    wait_for(lambda: log.read_text().count("held: ready") == 2, "the second held stage never got ready")
    cancelled.cancel()
    assert cancelled.proc.returncode == 0
    assert not (job / "transcript.json").exists()
    assert "Traceback" not in log.read_text()


def test_a_run_stopped_before_the_asr_stage_stops_the_held_one_too(tmp_path):
    """An hour of noise: the VAD takes seconds, and the run is stopped while it runs."""
    media = tmp_path / "hour.flac"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=3600:a=0.05:r=16000",
                    "-ac", "1", str(media)], check=True)
    job, env = prepared(tmp_path, media=media)
    run = subprocess.Popen(["./run-pipeline.sh", "-j", job.name], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)

    def held() -> list[int]:
        return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_held_asr(p, job)]

    wait_for(lambda: held() and "held: ready" in (job / "logs" / "asr.log").read_text()
             or run.poll() is not None, "the asr stage was not started held")
    pids = held()
    assert run.poll() is None and pids, "the run ended before its asr stage was seen held"
    states = json.loads((job / "status.json").read_text())["stages"]
    assert states.get("asr", {}).get("state", "pending") == "pending", states
    os.kill(run.pid, signal.SIGINT)  # Ctrl-C while demux or VAD runs
    _, stderr = run.communicate(timeout=60)
    assert run.returncode != 0 and "Traceback" not in stderr
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() and _is_held_asr(Path(f"/proc/{pid}"), job)
                             for pid in pids), "the held asr stage outlived the run", seconds=15)
    assert not (job / "transcript.json").exists()
    states = {s["stage"]: s["state"] for s in json.loads(
        sh("./run-pipeline.sh", "-j", job.name, "--status", "--json", env=env).stdout)["stages"]}
    assert states["asr"] == "pending", states


def _is_held_asr(proc: Path, job: Path) -> bool:
    try:
        cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        alive = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
    return alive and "stages.asr" in cmd and "--held" in cmd and str(job) in cmd


def test_a_stage_failing_before_the_asr_stage_ends_the_held_one_while_the_run_goes_on(tmp_path, monkeypatch):
    """The pipeline called in this process (as a batch's or a caller's would be): its VAD stage fails on
    audio that is not 16 kHz mono, and the held asr stage is gone when run() raises, not when we exit."""
    import sys

    import pytest

    from shared.core.errors import UserError
    from shared.jobs import pipeline

    job, env = prepared(tmp_path)
    assert sh("./run-pipeline.sh", "-j", job.name, "--only", "demux", env=env).returncode == 0
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=3:r=8000",
                    str(job / "audio.wav")], check=True)
    monkeypatch.setenv("SUBTITLER_OUT_DIR", str(job.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sys, "argv", ["run-pipeline.sh", "-j", job.name, "--from", "vad"])
    with pytest.raises(UserError, match="stage vad failed: .*not 16 kHz mono"):
        pipeline.main()
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_held_asr(p, job)]
    assert any(line.endswith("--held") for line in asr_runs(job / "logs" / "asr.log"))
    assert not (job / "transcript.json").exists()
