"""Batches (issue 15): prepare-job.sh --media FOLDER|FILE... makes one job per file and a manifest;
run-pipeline.sh -b BATCH runs them concurrently, each job its own process with its own lock, resume
and logs. Real fronts, real media, the real tiny.en model; nothing mocked."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, clean_env
from shared.core import config
from shared.models import hardware

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import make  # noqa: E402

SENTENCES = [["The monsoon arrived early this year.", "Schools will remain open on Monday."],
             ["Farmers in the north are hoping for steady rain.", "The river rose slowly through the night."],
             ["Good morning and welcome to the evening news.", "Thank you for listening."]]


def env(out):
    return clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")


def prepare(out, *args):
    return subprocess.run(["./prepare-job.sh", "--workflow", "transcribe", "-s", "en", "--model", "tiny.en", *args],
                          cwd=REPO, env=env(out), capture_output=True, text=True, timeout=300)


def pipeline(out, *args, timeout=600):
    return subprocess.run(["./run-pipeline.sh", *args], cwd=REPO, env=env(out), capture_output=True, text=True,
                          timeout=timeout)


def srt_text(out, job_id):
    return next((out / job_id / "subtitles").glob("*.srt")).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three short talks in a folder tree (one in a sub-folder), a corrupt 'video', a text file and a
    hidden file that are not media."""
    root = tmp_path_factory.mktemp("season")
    (root / "disc2").mkdir()
    for index, sentences in enumerate(SENTENCES):
        where = root / "disc2" if index == 2 else root
        make(where / f"episode{index + 1}.mp4", sentences=sentences)
    (root / "episode4.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 50)
    (root / "notes.txt").write_text("not media")
    (root / ".hidden.mp4").write_bytes(b"junk")
    return root


@pytest.fixture(scope="module")
def ran(folder, tmp_path_factory):
    """The folder prepared as a batch and run with 2 workers; one job's media removed after prepare,
    so it fails at run time while the others finish."""
    out = tmp_path_factory.mktemp("out")
    media = tmp_path_factory.mktemp("copy") / "season"
    shutil.copytree(folder, media)
    prep = prepare(out, "--media", str(media))
    job_ids = prep.stdout.strip().splitlines()[:-1]
    batch_id = prep.stdout.strip().splitlines()[-1]
    doomed = json.loads((out / job_ids[1] / "job.json").read_text())["media"]
    shutil.move(doomed, media / "moved-away.mp4")
    run = pipeline(out, "-b", batch_id, "--workers", "2")
    return {"out": out, "prep": prep, "jobs": job_ids, "batch": batch_id, "run": run, "media": media,
            "doomed": doomed}


def test_prepare_makes_one_job_per_media_file_and_reports_the_corrupt_one(ran):
    prep, out = ran["prep"], ran["out"]
    assert prep.returncode == 3, prep.stderr  # some files were refused
    lines = prep.stdout.strip().splitlines()
    assert lines[-1].startswith("batch-") and len(lines) == 4  # three job ids, then the batch id alone
    refused = [l for l in prep.stderr.splitlines() if l.startswith("refused ")]
    assert len(refused) == 1 and "episode4.mp4" in refused[0] and "Traceback" not in prep.stderr
    manifest = json.loads((out / "batches" / f"{ran['batch']}.json").read_text())
    assert [j["job_id"] for j in manifest["jobs"]] == lines[:-1]
    assert sorted(j["media"].rsplit("/", 1)[-1] for j in manifest["jobs"]) == ["episode1.mp4", "episode2.mp4",
                                                                             "episode3.mp4"]
    assert manifest["refused"][0]["media"].endswith("episode4.mp4") and manifest["refused"][0]["reason"]


def test_one_failed_job_does_not_stop_the_others(ran):
    run, out = ran["run"], ran["out"]
    assert run.returncode == 1, run.stdout + run.stderr
    states = json.loads(pipeline(out, "-b", ran["batch"], "--status", "--json").stdout)
    by_id = {j["job_id"]: j for j in states["jobs"]}
    assert by_id[ran["jobs"][1]]["state"] == "failed"
    assert [by_id[j]["state"] for j in (ran["jobs"][0], ran["jobs"][2])] == ["done", "done"]
    assert all(by_id[j]["outputs"] for j in (ran["jobs"][0], ran["jobs"][2]))
    assert states["counts"] == {"done": 2, "failed": 1} and states["refused"][0]["media"].endswith("episode4.mp4")
    summary = run.stdout
    assert ran["jobs"][1] in summary and "failed" in summary and ran["doomed"].rsplit("/", 1)[-1] in summary
    assert "1 of 3 jobs did not finish" in run.stderr and "Traceback" not in run.stdout + run.stderr
    assert (out / ran["jobs"][0] / "logs" / "run.log").is_file()  # each job keeps its own logs


def test_outputs_are_those_of_a_single_run(ran, tmp_path):
    """Byte for byte, with the threads each of the 2 workers had: CTranslate2's sums on 1 thread and on
    2 differ in the last bits, and a word's time in a pause (found by cross-attention) can move with
    them."""
    out = tmp_path / "single"
    media = json.loads((ran["out"] / ran["jobs"][0] / "job.json").read_text())["media"]
    prep = prepare(out, "--media", media)
    job_id = prep.stdout.strip().splitlines()[-1]
    threads = str(max(1, int(hardware.load().get("cpu", {}).get("count") or 1) // 2))  # as the batch shares them
    single = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, capture_output=True, text=True,
                            timeout=600, env={**env(out), config.ENV_THREADS: threads})
    assert single.returncode == 0, single.stdout + single.stderr
    assert srt_text(out, job_id) == srt_text(ran["out"], ran["jobs"][0])


def test_run_again_resumes_only_the_unfinished_job(ran):
    out = ran["out"]
    shutil.move(ran["media"] / "moved-away.mp4", ran["doomed"])
    before = {j: (out / j / "status.json").read_text() for j in (ran["jobs"][0], ran["jobs"][2])}
    again = pipeline(out, "-b", ran["batch"], "--workers", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 to run, 2 already done" in again.stdout
    assert {j: (out / j / "status.json").read_text() for j in before} == before  # untouched
    human = pipeline(out, "-b", ran["batch"], "--status").stdout
    assert "3 done" in human and human.count(" done ") >= 3


def test_a_batch_killed_midway_resumes(folder, tmp_path):
    out = tmp_path / "out"
    prep = prepare(out, "--media", str(folder / "episode1.mp4"), "--media", str(folder / "episode2.mp4"),
                   "--media", str(folder / "disc2"))
    assert prep.returncode == 0, prep.stderr
    batch_id = prep.stdout.strip().splitlines()[-1]
    first = prep.stdout.strip().splitlines()[0]
    driver = subprocess.Popen(["./run-pipeline.sh", "-b", batch_id, "--workers", "1"], cwd=REPO, env=env(out),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    status = {}
    while time.monotonic() < deadline:  # until the first job is done and the second has begun
        status = json.loads(pipeline(out, "-b", batch_id, "--status", "--json").stdout)
        states = [j["state"] for j in status["jobs"]]
        if states[0] == "done" and states[1] == "running":
            break
        time.sleep(0.3)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "resumes the unfinished jobs" in err, err
    states = [j["state"] for j in json.loads(pipeline(out, "-b", batch_id, "--status", "--json").stdout)["jobs"]]
    assert states[0] == "done" and states[1] in ("interrupted", "pending") and states[2] == "pending", states
    done_first = (out / first / "status.json").read_text()
    again = pipeline(out, "-b", batch_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 to run, 1 already done" in again.stdout
    assert (out / first / "status.json").read_text() == done_first
    assert json.loads(pipeline(out, "-b", batch_id, "--status", "--json").stdout)["counts"] == {"done": 3}


def test_folder_selection_and_one_line_refusals(folder, tmp_path):
    out = tmp_path / "out"
    globbed = prepare(out, "--media", str(folder), "--glob", "episode[13].mp4")
    assert globbed.returncode == 0, globbed.stderr
    manifest = json.loads(next((out / "batches").glob("*.json")).read_text())
    assert sorted(j["media"].rsplit("/", 1)[-1] for j in manifest["jobs"]) == ["episode1.mp4", "episode3.mp4"]
    for args, words in (
            (["--media", str(folder), "--glob", "*.mov"], "no media files matching '*.mov'"),
            (["--media", str(folder / "notes.txt"), "--media", str(folder / "episode4.mp4")], "none of the 2 files"),
            (["--media", str(folder), "--job-id", "x"], "--job-id takes one file"),
            (["--media", str(folder / "episode1.mp4"), "--glob", "*.mp4"], "--glob chooses files in a folder")):
        result = prepare(tmp_path / "refused", *args)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "refused" / "batches").exists() or not list((tmp_path / "refused" / "batches").iterdir())
    # a reason every file shares (a language the model cannot hear) is said once, and nothing is made
    same = subprocess.run(["./prepare-job.sh", "--workflow", "transcribe", "-s", "hi", "--model", "tiny.en",
                           "--media", str(folder)], cwd=REPO, env=env(tmp_path / "same"), capture_output=True, text=True)
    assert same.returncode == 2 and same.stderr.count("English only") == 1, same.stderr
    for args, words in ((["-b", "nope"], "invalid batch id"), (["-b", "batch-none"], "no batch 'batch-none'"),
                        (["-b", manifest["batch_id"], "--force"], "--force works on one job"),
                        (["-j", manifest["jobs"][0]["job_id"], "--workers", "2"], "--workers belongs to a batch")):
        result = pipeline(out, *args)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_terminal_shows_a_line_per_running_job_and_a_total(folder, tmp_path):
    import pexpect

    out = tmp_path / "out"
    prep = prepare(out, "--media", str(folder / "episode1.mp4"), "--media", str(folder / "episode2.mp4"))
    batch_id = prep.stdout.strip().splitlines()[-1]
    child = pexpect.spawn("./run-pipeline.sh", ["-b", batch_id, "--workers", "2"], cwd=str(REPO), env=env(out),
                          encoding="utf-8", timeout=300, dimensions=(40, 200))
    child.expect(r"\[\d/\d\] \w+")  # a running job's stage, e.g. [4/5] asr
    child.expect(r"2/2 finished \(2 done, 0 failed\), 0 running")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "0 running" in child.before or "2 done" in child.before


def test_default_workers_follow_gpus_memory_and_cores():
    from shared.jobs.batches import default_workers

    def hw(cpus, memory, gpus=0):
        devices = [{"index": i, "name": "gpu", "memory_gb": 24.0} for i in range(gpus)]
        return {"cpu": {"count": cpus}, "memory_gb": memory, "cuda": {"available": bool(gpus), "devices": devices}}

    assert default_workers(hw(2, 24.0))[0] == 1      # this machine: one job at a time
    assert default_workers(hw(16, 64.0))[0] == 8     # 2 cores a job
    assert default_workers(hw(64, 8.0))[0] == 2      # memory-bound: 3 GB a job
    assert default_workers(hw(1, 2.0))[0] == 1       # never none
    count, why = default_workers(hw(32, 128.0, gpus=4))
    assert count == 4 and "GPU" in why              # one job per GPU
