"""A stage started by the environment manager runs on its own venv's interpreter and sees the cache
variables. These start the real doctor stage as a subprocess in each venv the README's set-up builds."""

import json
from pathlib import Path

import pytest

from shared.core import config
from shared.environment_manager import EnvironmentManager
from shared.models import hardware
from conftest import REPO


def built_venvs() -> list[str]:
    """The venvs the README's set-up command builds on this machine: its defaults plus dev."""
    return hardware.load()["venvs"] + ["dev"]


def run_doctor(tmp_path: Path, venv: str, **kwargs) -> dict:
    manager = EnvironmentManager()
    out, log = tmp_path / f"doctor-{venv}.json", tmp_path / "logs" / f"doctor-{venv}.log"
    spec = config.venv_map()["venvs"][venv]
    args = ["--output", str(out)] + [f"--import={m}" for m in spec["imports"]]
    code = manager.run_stage("doctor", args, venv=venv, log_path=log, **kwargs)
    assert code == 0, log.read_text()
    assert "stages.doctor" in log.read_text()
    return json.loads(out.read_text())


@pytest.mark.parametrize("venv", built_venvs())
def test_stage_runs_in_its_venv_with_cache_variables(tmp_path, venv):
    report = run_doctor(tmp_path, venv)
    venv_root = REPO / ".venvs" / venv
    assert report["python"] == str(venv_root / "bin" / "python")
    assert Path(report["prefix"]) == venv_root
    assert all(result["ok"] for result in report["imports"].values()), report["imports"]
    env = report["env"]
    cache = REPO / ".cache"
    assert env["SUBTITLER_VENV"] == venv
    assert env["HF_HOME"] == str(cache / "huggingface")
    assert env["HF_HUB_CACHE"] == str(cache / "huggingface" / "hub")
    assert env["TRANSFORMERS_CACHE"] == str(cache / "huggingface" / "hub")
    assert env["TORCH_HOME"] == str(cache / "torch")
    assert env["MLX_CACHE_DIR"] == str(cache / "mlx")
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["PYTHONPATH"] == str(REPO)
    assert env["OMP_NUM_THREADS"] == str(hardware.load()["cpu"]["count"])
    assert report["cache_writable"]


@pytest.mark.parametrize("stage,engine,venv", [
    ("asr", "faster-whisper", "common"), ("asr", "whisperx", "whisperx"), ("vad", "silero", "common"),
    ("vad", "pyannote", "whisperx"), ("subtitles", None, "common"), ("translate", None, "translate"),
])
def test_stage_chosen_by_the_map_runs_in_that_venv(tmp_path, stage, engine, venv):
    """Each stage and engine starts the interpreter of the venv config/venvs.json names for it."""
    cmd = EnvironmentManager().command(stage, ["--job", str(tmp_path)], engine=engine)
    assert cmd[0] == str(REPO / ".venvs" / venv / "bin" / "python")
    assert cmd[1:] == ["-m", f"stages.{stage}", "--job", str(tmp_path)]


def test_downloads_allowed_only_when_asked(tmp_path):
    env = run_doctor(tmp_path, "common", allow_download=True)["env"]
    assert env["HF_HUB_OFFLINE"] is None and env["TRANSFORMERS_OFFLINE"] is None
    assert env["SUBTITLER_ALLOW_DOWNLOAD"] == "1"


def test_cache_moves_with_one_environment_variable(tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere"
    monkeypatch.setenv("SUBTITLER_CACHE_DIR", str(moved))
    env = run_doctor(tmp_path, "common")["env"]
    assert env["HF_HOME"] == str(moved / "huggingface")
    assert env["HF_HUB_CACHE"] == str(moved / "huggingface" / "hub")
    assert env["TORCH_HOME"] == str(moved / "torch")
    assert env["MLX_CACHE_DIR"] == str(moved / "mlx")
    assert (moved / "huggingface" / "hub").is_dir()


def test_thread_count_can_be_set(tmp_path, monkeypatch):
    monkeypatch.setenv("SUBTITLER_THREADS", "1")
    env = run_doctor(tmp_path, "common")["env"]
    assert env["OMP_NUM_THREADS"] == "1" and env["SUBTITLER_THREADS"] == "1"


def test_malloc_asks_for_huge_pages_and_keeps_the_callers_tunables(monkeypatch):
    """glibc.malloc.hugetlb=1 (Whisper decoding 8-16 % faster here) joins what the caller set, once,
    however deep the stages nest (a batch's pipeline starts stages too)."""
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    env = EnvironmentManager().stage_env("common")
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    monkeypatch.setenv("GLIBC_TUNABLES", env["GLIBC_TUNABLES"])
    assert EnvironmentManager().stage_env("common")["GLIBC_TUNABLES"] == env["GLIBC_TUNABLES"]


def test_caller_venv_does_not_leak_into_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/else")
    monkeypatch.setenv("PYTHONHOME", "/broken")
    report = run_doctor(tmp_path, "common")
    assert report["env"]["VIRTUAL_ENV"] == str(REPO / ".venvs" / "common")


def test_failing_stage_returns_its_exit_code(tmp_path):
    log = tmp_path / "doctor.log"
    code = EnvironmentManager().run_stage("doctor", ["--import=no_such_module_here"], venv="common", log_path=log)
    assert code == 1
    assert "cannot import no_such_module_here" in log.read_text()
