"""Faults and bad input, through the real fronts: each ends in one line that says what to do, a
non-zero exit, no traceback, and nothing lost or left behind (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, clean_env

SAMPLE = REPO / "scripts" / "sample" / "sample.en.flac"


def sh(*cmd, env, timeout=600, **kw):
    return subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def one_line_error(result) -> str:
    """The error a front printed: one line, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    errors = [l for l in result.stderr.splitlines() if "error:" in l]
    assert len(errors) == 1, result.stderr
    return errors[0]


def prepare(out: Path, media: Path, *flags, env=None) -> str:
    env = env or clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = sh("./prepare-job.sh", "--media", media, "--workflow", "transcribe", "-s", "en", "--model", "tiny.en",
              *flags, env=env)
    assert prep.returncode == 0, prep.stderr
    return prep.stdout.strip().splitlines()[-1]


def status(job_id: str, env) -> dict:
    result = sh("./run-pipeline.sh", "-j", job_id, "--status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


# -- 1. a damaged model --------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["header", "weights"])
def test_a_damaged_model_stops_the_run_and_the_export_and_repair_mends_it(tmp_path, where):
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    assert sh("./cache-models.sh", "--model", "tiny.en", env=env).returncode == 0
    blob = next((cache / "huggingface/hub/models--Systran--faster-whisper-tiny.en/snapshots").glob("*/model.bin")).resolve()
    job_id = prepare(out, SAMPLE, env=env)
    first = sh("./run-pipeline.sh", "-j", job_id, env=env)  # a good model, checked once and remembered
    assert first.returncode == 0, first.stderr
    offset = 0 if where == "header" else blob.stat().st_size // 2
    with open(blob, "r+b") as handle:  # 64 KiB flipped in place: CTranslate2's header, or weights
        handle.seek(offset)
        chunk = handle.read(65536)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in chunk))
    again = sh("./run-pipeline.sh", "-j", job_id, "--force", env=env)
    line = one_line_error(again)
    assert "damaged" in line and "--verify --repair" in line and "later version" not in line, line
    assert status(job_id, env)["outputs"] == [] or all(s["state"] != "running" for s in status(job_id, env)["stages"])
    export = sh("./cache-models.sh", "--export", tmp_path / "models.tar", "--model", "tiny.en", env=env)
    assert "damaged" in one_line_error(export) and not (tmp_path / "models.tar").exists()
    repaired = sh("./cache-models.sh", "--verify", "--repair", env=env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert sh("./run-pipeline.sh", "-j", job_id, "--force", env=env).returncode == 0


# -- 2. truncated media --------------------------------------------------------------------------

def test_truncated_media_is_refused_or_warned_never_silently_cut(tmp_path):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    whole = tmp_path / "whole.mp4"  # 45 s, its index at the front (faststart), as downloads are
    ffmpeg("-stream_loop", "3", "-i", SAMPLE, "-t", "45", "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", whole)
    half = tmp_path / "half.mp4"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    job_id = prepare(out, half, env=env)
    refused = sh("./run-pipeline.sh", "-j", job_id, env=env)
    line = one_line_error(refused)
    assert "truncated" in line and "--allow-partial-media" in line, line
    assert not (out / job_id / "audio.wav").exists() and leftovers(out / job_id) == []
    assert status(job_id, env)["stages"][0]["state"] == "failed"
    allowed = sh("./run-pipeline.sh", "-j", job_id, "--allow-partial-media", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: only" in allowed.stdout and "truncated" in allowed.stdout
    demux = status(job_id, env)["stages"][0]
    assert demux["state"] == "done" and "truncated" in demux["warnings"][0]

    most = tmp_path / "most.mp4"  # 80 % there: transcribed, with the warning
    most.write_bytes(whole.read_bytes()[: whole.stat().st_size * 8 // 10])
    job_id = prepare(out, most, env=env)
    run = sh("./run-pipeline.sh", "-j", job_id, env=env)
    assert run.returncode == 0 and "warning: only" in run.stdout, run.stdout + run.stderr


# -- 3. a full disk, a read-only directory ---------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB file system of its own (tmpfs; needs root's mount, else the test is skipped)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, small_disk):
    env = clean_env(SUBTITLER_OUT_DIR=str(small_disk), HF_HUB_OFFLINE="1")
    media = tmp_path / "long.flac"  # 3 min: 5.8 MB of 16 kHz WAV, more than the disk holds
    ffmpeg("-stream_loop", "12", "-i", SAMPLE, "-t", "180", media)
    job_id = prepare(small_disk, media, env=env)
    full = sh("./run-pipeline.sh", "-j", job_id, env=env)
    line = one_line_error(full)
    assert "no space left on" in line and str(small_disk) in line, line
    assert leftovers(small_disk) == [] and not (small_disk / job_id / "audio.wav").exists()
    assert status(job_id, env)["stages"][0]["state"] == "failed"


def test_a_read_only_output_directory_is_one_line(tmp_path, small_disk):
    env = clean_env(SUBTITLER_OUT_DIR=str(small_disk), HF_HUB_OFFLINE="1")
    job_id = prepare(small_disk, SAMPLE, env=env)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    line = one_line_error(sh("./run-pipeline.sh", "-j", job_id, env=env))
    assert "read-only" in line, line
    line = one_line_error(sh("./prepare-job.sh", "--media", SAMPLE, "--workflow", "transcribe", "-s", "en", env=env))
    assert "read-only" in line, line


# -- 4. kills: no orphan, no stale state -----------------------------------------------------------

def _processes_naming(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and (proc / "stat").read_text().split()[2] != "Z":
                found.append(cmdline)
    return found


def demuxing(tmp_path):
    """A run caught while its ffmpeg demuxes 30 min of 48 kHz stereo (about a second's work):
    (out, env, job_id, the run-pipeline process)."""
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    media = tmp_path / "long.flac"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=1800:a=0.05:r=48000", "-ac", "2", media)
    job_id = prepare(out, media, env=env)
    run = subprocess.Popen(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any("ffmpeg" in c for c in _processes_naming(str(out / job_id))):
        assert time.monotonic() < deadline and run.poll() is None, "ffmpeg never started"
        time.sleep(0.01)
    return out, env, job_id, run


def test_a_killed_demux_stage_takes_its_ffmpeg_with_it(tmp_path):
    out, env, job_id, run = demuxing(tmp_path)
    stage = next(int(p.name) for p in Path("/proc").iterdir()
                 if p.name.isdigit() and "stages.demux" in _cmd(p) and str(out / job_id) in _cmd(p))
    os.kill(stage, signal.SIGKILL)
    _, stderr = run.communicate(timeout=30)
    time.sleep(1.0)
    assert "stage demux failed: killed by SIGKILL" in stderr, stderr
    assert _processes_naming(str(out / job_id)) == [], "ffmpeg outlived its stage"
    assert status(job_id, env)["stages"][0]["state"] == "failed"
    assert sh("./run-pipeline.sh", "-j", job_id, "--only", "demux", env=env).returncode == 0
    assert leftovers(out / job_id) == []


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_leaves_no_ffmpeg_and_no_temp_file_and_says_interrupted(tmp_path, how):
    out, env, job_id, run = demuxing(tmp_path)
    os.kill(run.pid, how)
    _, stderr = run.communicate(timeout=30)
    time.sleep(1.0)
    assert _processes_naming(str(out / job_id)) == [], "a stage or its ffmpeg outlived the run"
    state = status(job_id, env)
    assert state["stages"][0]["state"] == "interrupted" and all(s["state"] == "pending" for s in state["stages"][1:])
    if how == signal.SIGINT:
        assert "Traceback" not in stderr and "interrupted" in stderr
        assert leftovers(out / job_id) == []
        assert "Traceback" not in (out / job_id / "logs" / "demux.log").read_text()
    resumed = sh("./run-pipeline.sh", "-j", job_id, "--only", "demux", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert leftovers(out / job_id) == []


def test_a_stage_killed_by_a_signal_is_reported_as_such(tmp_path):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    job_id = prepare(out, SAMPLE, env=env)
    run = subprocess.Popen(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (stages := [c for c in _processes_naming(str(out / job_id)) if "stages.asr" in c]):
        assert time.monotonic() < deadline and run.poll() is None, "the asr stage never started"
        time.sleep(0.02)
    pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _cmd(p) == stages[0])
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode != 0 and "stage asr failed: killed by SIGKILL" in stderr, stderr
    state = {s["stage"]: s["state"] for s in status(job_id, env)["stages"]}
    assert state == {"demux": "done", "vad": "done", "asr": "failed", "speakers": "pending",
                     "subtitles": "pending", "review": "pending"}  # audio: no shots stage


def _cmd(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_after_a_failed_rerun_downstream_is_stale_and_old_outputs_are_not_offered(tmp_path):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    job_id = prepare(out, SAMPLE, env=env)
    assert sh("./run-pipeline.sh", "-j", job_id, env=env).returncode == 0
    assert status(job_id, env)["outputs"]
    job = json.loads((out / job_id / "job.json").read_text())
    job["overrides"]["asr"]["model"] = str(tmp_path)  # a directory that is no Whisper model
    (out / job_id / "job.json").write_text(json.dumps(job))
    failed = sh("./run-pipeline.sh", "-j", job_id, env=env)
    assert "stage asr failed" in one_line_error(failed)
    state = status(job_id, env)
    assert {s["stage"]: s["state"] for s in state["stages"]}["subtitles"] == "stale"
    assert state["outputs"] == []


# -- 5. state files of the wrong shape ---------------------------------------------------------------

@pytest.mark.parametrize("content", [b"[]", b'{"job_id": "x"}', b"\xff\xfe not utf-8", b'{"job_id": 1, "stages": 3}'])
def test_a_wrong_shape_job_json_is_one_line(tmp_path, content):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    job_id = prepare(out, SAMPLE, env=env)
    (out / job_id / "job.json").write_bytes(content)
    for flags in ([], ["--status"]):
        line = one_line_error(sh("./run-pipeline.sh", "-j", job_id, *flags, env=env))
        assert "job.json" in line and "prepare" in line, line


def test_a_broken_status_json_is_moved_aside_and_rebuilt(tmp_path):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    job_id = prepare(out, SAMPLE, env=env)
    assert sh("./run-pipeline.sh", "-j", job_id, env=env).returncode == 0
    (out / job_id / "status.json").write_text('{"stages": {"demux": "done"}}')
    again = sh("./run-pipeline.sh", "-j", job_id, env=env)
    assert again.returncode == 0 and "rebuilt from the outputs present" in again.stderr, again.stderr
    assert "nothing to do" in again.stdout  # every output was there: nothing is decoded again
    assert list((out / job_id).glob("status.json.damaged-*"))


def test_a_glossary_saved_with_a_bom_works_and_one_in_utf16_is_one_line(tmp_path):
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path / "out"), HF_HUB_OFFLINE="1")
    text = "source\ten\tta\nKerala\tKerala\tகேரளா\n"
    for encoding, works in (("utf-8-sig", True), ("utf-16", False)):
        glossary = tmp_path / f"terms-{encoding}.tsv"
        glossary.write_text(text, encoding=encoding)
        result = sh("./prepare-job.sh", "--media", SAMPLE, "--workflow", "transcribe", "-s", "en",
                    "--glossary", glossary, env=env)
        if works:
            assert result.returncode == 0, result.stderr
        else:
            assert "UTF-8" in one_line_error(result)


def test_a_glossary_that_is_a_directory_is_one_line(tmp_path):
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path / "out"), HF_HUB_OFFLINE="1")
    line = one_line_error(sh("./prepare-job.sh", "--media", SAMPLE, "--workflow", "transcribe", "-s", "en",
                             "--glossary", tmp_path, env=env))
    assert "directory" in line, line


# -- 6. messages -------------------------------------------------------------------------------------

def test_the_target_hint_never_suggests_the_source_language(tmp_path):
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path / "out"), HF_HUB_OFFLINE="1")
    line = one_line_error(sh("./prepare-job.sh", "--media", SAMPLE, "--workflow", "translate", "-s", "en", env=env))
    assert "-t en" not in line and "-t hi" in line, line


@pytest.mark.parametrize("source", ["anullsrc=r=16000:cl=mono:d=20", "anoisesrc=color=brown:amplitude=0.02:d=20",
                                    "anullsrc=r=16000:cl=mono:d=0.4"])
def test_no_speech_is_said_on_the_terminal_and_in_the_status(tmp_path, source):
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    media = tmp_path / "quiet.wav"
    ffmpeg("-f", "lavfi", "-i", source, "-ac", "1", "-ar", "16000", media)
    job_id = prepare(out, media, env=env)
    run = sh("./run-pipeline.sh", "-j", job_id, env=env)
    assert run.returncode == 0, run.stderr
    assert "warning: no speech found" in run.stdout
    asr = next(s for s in status(job_id, env)["stages"] if s["stage"] == "asr")
    assert any("no speech found" in w for w in asr["warnings"])
