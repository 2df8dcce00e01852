"""Shared fixtures. No test may reach a model hub: the hub is offline for the whole session."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("SUBTITLER_CACHE_DIR", None)
os.environ.pop("SUBTITLER_VENV_DIR", None)

REPO = Path(__file__).resolve().parent.parent


def repo_files() -> list[str]:
    """Tracked files and untracked files git does not ignore: what a clean clone would hold, plus work
    not yet committed."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True).stdout
    return sorted({name for name in out.decode().split("\0") if name and (REPO / name).exists()})


def copy_repo(dest: Path) -> Path:
    for name in repo_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return dest


@pytest.fixture(scope="session")
def fresh_clone(tmp_path_factory) -> Path:
    """A copy of the repository with no venvs, cache or generated config, as a new user has it."""
    return copy_repo(tmp_path_factory.mktemp("clone") / "repo")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBTITLER_", "VIRTUAL_ENV", "PYTEST_"))}
    env.update(extra)
    return env
