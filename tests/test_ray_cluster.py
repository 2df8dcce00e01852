"""A batch on a real Ray cluster (issue 15): `ray start --head` on 127.0.0.1 plus a second node process,
both from the cluster venv, started here and stopped at the end whatever happens. The batch's jobs run
as Ray tasks (run-pipeline.sh -b BATCH --ray ADDRESS) with outputs identical to single runs; then
again with the second node killed mid-batch: its job is run again on the head node and resumes from
its last finished stage."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import REPO, clean_env
from shared.core import processes

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import make  # noqa: E402

RAY = REPO / ".venvs" / "cluster" / "bin" / "ray"
pytestmark = pytest.mark.skipif(not RAY.exists(), reason="the cluster venv is not built (./bootstrap.sh --with cluster)")
SENTENCES = [["The monsoon arrived early this year.", "Schools will remain open on Monday."],
             ["Farmers in the north are hoping for steady rain.", "The river rose slowly through the night."],
             ["Good morning and welcome to the evening news.", "Thank you for listening."]]


def ray_env():
    return clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_ADDRESS="")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nodes_alive(address):
    status = subprocess.run([str(RAY), "status", "--address", address], env=ray_env(), capture_output=True,
                            text=True, timeout=60)
    active = status.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
    return active.count("node_")


def power_off(node):
    """Everything the node runs dies at once, as when its machine goes down: all stopped first, so
    none sees another die."""
    doomed = processes.descendants(node.pid)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    processes.kill_all(doomed)


def start_node(address, **env):
    """A second node, in a session of its own (its whole process tree is killed with power_off)."""
    return subprocess.Popen([str(RAY), "start", "--address", address, "--node-ip-address", "127.0.0.1",
                             "--num-cpus", "2", "--disable-usage-stats", "--block"], env={**ray_env(), **env},
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture()
def cluster(request):
    """Head and second node on 127.0.0.1; a test's `node` mark gives the head's CPUs and the second
    node's environment."""
    mark = request.node.get_closest_marker("node")
    head_cpus, node_env = (mark.args[0], mark.kwargs) if mark else (2, {})
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port()
    address = f"127.0.0.1:{port}"
    second = None
    try:
        head = subprocess.run([str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                               "--num-cpus", str(head_cpus), "--temp-dir", temp, "--include-dashboard", "false",
                               "--disable-usage-stats"], env=ray_env(), capture_output=True, text=True, timeout=120)
        assert head.returncode == 0, head.stdout + head.stderr
        second = start_node(address, **node_env)
        deadline = time.monotonic() + 90
        while nodes_alive(address) < 2:
            assert time.monotonic() < deadline, "the second Ray node did not join"
            time.sleep(1)
        yield {"address": address, "second": second}
    finally:  # only this cluster's processes (`ray stop` would stop every Ray on the machine)
        processes.stop_ray_cluster(temp, second)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    root = tmp_path_factory.mktemp("season")
    for index, sentences in enumerate(SENTENCES):
        make(root / f"episode{index + 1}.mp4", sentences=sentences)
    return root


def env(out):
    return clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1", RAY_ADDRESS="")


def prepare(out, *media):
    args = [a for m in media for a in ("--media", str(m))]
    prep = subprocess.run(["./prepare-job.sh", "--workflow", "transcribe", "-s", "en", "--model", "tiny.en", *args],
                          cwd=REPO, env=env(out), capture_output=True, text=True, timeout=300)
    assert prep.returncode == 0, prep.stderr
    lines = prep.stdout.strip().splitlines()
    return lines[:-1], lines[-1]


def srt(out, job_id):
    return next((out / job_id / "subtitles").glob("*.srt")).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def single(season, tmp_path_factory):
    """Each episode's subtitles from an ordinary single run, to compare with."""
    out = tmp_path_factory.mktemp("single")
    found = {}
    for media in sorted(season.glob("*.mp4")):
        _, job_id = prepare(out, media)  # one file: a single job, its id last
        run = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env(out), capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        found[media.name] = srt(out, job_id)
    return found


def media_name(out, job_id):
    return json.loads((out / job_id / "job.json").read_text())["media"].rsplit("/", 1)[-1]


def test_a_batch_runs_as_ray_tasks_with_the_outputs_of_single_runs(cluster, season, single, tmp_path):
    out = tmp_path / "out"
    job_ids, batch_id = prepare(out, season)
    run = subprocess.run(["./run-pipeline.sh", "-b", batch_id, "--ray", cluster["address"]], cwd=REPO, env=env(out),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "on the Ray cluster" in run.stdout and "3 done" in run.stdout
    for job_id in job_ids:
        assert srt(out, job_id) == single[media_name(out, job_id)]
        assert "--- ray task on node" in (out / job_id / "logs" / "run.log").read_text()
    nodes = {(out / j / "logs" / "run.log").read_text().split("ray task on node ", 1)[1].split()[0] for j in job_ids}
    assert len(nodes) == 2  # both nodes took jobs
    again = subprocess.run(["./run-pipeline.sh", "-b", batch_id, "--ray", cluster["address"]], cwd=REPO,
                           env=env(out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 to run" in again.stdout


def test_a_node_lost_mid_batch_its_job_runs_again_elsewhere_and_resumes(cluster, season, single, tmp_path):
    out = tmp_path / "out"
    job_ids, batch_id = prepare(out, season)
    driver = subprocess.Popen(["./run-pipeline.sh", "-b", batch_id, "--ray", cluster["address"]], cwd=REPO,
                              env=env(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        victim = None
        while victim is None:  # a job of the second node's that has finished a stage, and not its last
            assert time.monotonic() < deadline and driver.poll() is None, "no job ran on the second node"
            for job_id in job_ids:
                log = out / job_id / "logs" / "run.log"
                status = out / job_id / "status.json"
                if not log.exists() or not status.exists():
                    continue
                worker = int(log.read_text().split(" pid ", 1)[1].split()[0])
                stages = json.loads((out / job_id / "job.json").read_text())["stages"]
                done = [s for s, r in json.loads(status.read_text())["stages"].items() if r.get("state") == "done"]
                if worker in processes.descendants(cluster["second"].pid) and 1 <= len(done) < len(stages):
                    victim = job_id
                    break
            time.sleep(0.1)
        power_off(cluster["second"])
        first_done = json.loads((out / victim / "status.json").read_text())["stages"]["demux"]["finished"]
        stdout, stderr = driver.communicate(timeout=420)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stdout + stderr
    log = (out / victim / "logs" / "run.log").read_text()
    assert log.count("--- ray task on node") == 2  # run again, on the head node
    assert json.loads((out / victim / "status.json").read_text())["stages"]["demux"]["finished"] == first_done
    for job_id in job_ids:
        assert srt(out, job_id) == single[media_name(out, job_id)]


def test_an_unreachable_cluster_and_misused_flags_are_one_line(season, tmp_path):
    out = tmp_path / "out"
    job_ids, batch_id = prepare(out, season / "episode1.mp4", season / "episode2.mp4")
    closed = free_port()
    for args, words in ((["-b", batch_id, "--ray", f"127.0.0.1:{closed}"], "cannot reach the Ray cluster"),
                        (["-b", batch_id, "--ray", f"127.0.0.1:{closed}", "--workers", "2"], "--workers is for a batch"),
                        (["-j", job_ids[0], "--ray", f"127.0.0.1:{closed}"], "--ray belongs to a batch")):
        started = time.monotonic()
        result = subprocess.run(["./run-pipeline.sh", *args], cwd=REPO, env=env(out), capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert time.monotonic() - started < 30
    assert all(not (out / j / "status.json").exists() for j in job_ids)  # nothing ran


@pytest.mark.node(0, SUBTITLER_CACHE_DIR="/nonexistent/empty-cache")
def test_a_job_on_a_node_without_its_models_fails_with_the_fetch_command(cluster, season, tmp_path):
    """The head takes no tasks (0 CPUs); the second node's cache is empty: each job there stops before
    any work with the usual one-line fetch command, and the batch reports it."""
    out = tmp_path / "out"
    job_ids, batch_id = prepare(out, season / "episode1.mp4", season / "episode2.mp4")
    run = subprocess.run(["./run-pipeline.sh", "-b", batch_id, "--ray", cluster["address"]], cwd=REPO, env=env(out),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.count("./cache-models.sh --model whisper-tiny.en") == 2 and "Traceback" not in run.stdout
    assert "2 failed" in run.stdout
