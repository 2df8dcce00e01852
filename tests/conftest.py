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
NLLB_KEY = "nllb-200-distilled-600m"  # the catalog model the overfitted tiny NLLB stands in for


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBTITLER_", "VIRTUAL_ENV", "PYTEST_", "MLX_CACHE_DIR"))}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def overfit_nllb_cache(tmp_path_factory) -> Path:
    """A project cache holding an NLLB model overfitted on Hindi->English pairs (tests/tiny_models.py),
    fetched from the local hub server and converted by cache-models.sh exactly as the real
    nllb-200-distilled-600M would be."""
    from catalog_repos import nllb_files, serve
    from hub_server import HubServer

    cache = tmp_path_factory.mktemp("nllb-cache")
    with HubServer() as hub:
        serve(hub, [NLLB_KEY], files={NLLB_KEY: nllb_files(sharded=False, overfit=True)})
        env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", SUBTITLER_CACHE_DIR=str(cache),
                        HF_HUB_DISABLE_PROGRESS_BARS="1")
        result = subprocess.run(["./cache-models.sh", "--model", NLLB_KEY], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    return cache


def pytest_configure(config):
    config.addinivalue_line("markers", "node(head_cpus, **env): tests/test_ray_cluster.py's cluster: the head "
                                       "node's CPUs and the second node's environment")
