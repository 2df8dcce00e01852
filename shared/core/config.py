"""The one place that knows where things live and reads the committed configuration.

Every environment variable the project itself reads is read here, with its default and its meaning,
so a reader finds all the knobs in one file (the huggingface_hub constants.py idea). This module uses
the standard library only: bootstrap imports it with the system Python before any venv exists.

Variables:
    SUBTITLER_OUT_DIR     where jobs are made (default: out under the repository).
    SUBTITLER_CACHE_DIR   where models are cached (default: .cache under the repository). Overrides
                          the cache block of config/hardware_cache.json, all four paths at once.
    SUBTITLER_VENV_DIR    where the per-stage virtual environments live (default: .venvs).
    SUBTITLER_THREADS     CPU threads a stage may use (default: from hardware_cache.json).
    SUBTITLER_ALLOW_DOWNLOAD  "1" in a stage's environment when the run allows downloads
                          (run-pipeline.sh --allow-download sets it; the environment manager passes it).
    MLX_CACHE_DIR         where MLX-layout models converted by ./cache-models.sh --mlx-from live (default:
                          the cache block's mlx_home, .cache/mlx); the environment manager sets it for
                          every stage.
    RAY_ADDRESS           a Ray cluster's address: run-pipeline.sh -b BATCH runs the batch's jobs there, as
                          --ray ADDRESS does (Ray's own variable).
    SUBTITLER_PROG        set by the bash fronts for `python3 -m shared.core.config`: the front's name in its
                          one-line errors.
    SUBTITLER_PUNKT_URL   where cache-models fetches NLTK's punkt_tab sentence splitter (default: the
                          nltk_data repository on GitHub; a local copy for air-gapped machines or tests).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from shared.core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]  # shared/core/config.py -> the repository
CONFIG_DIR = REPO_ROOT / "config"
VENV_MAP_PATH = CONFIG_DIR / "venvs.json"
HARDWARE_CACHE_PATH = CONFIG_DIR / "hardware_cache.json"
MODEL_CATALOG_PATH = CONFIG_DIR / "models.json"
LOG_DIR = REPO_ROOT / "logs"

ENV_OUT_DIR = "SUBTITLER_OUT_DIR"
ENV_CACHE_DIR = "SUBTITLER_CACHE_DIR"
ENV_VENV_DIR = "SUBTITLER_VENV_DIR"
ENV_THREADS = "SUBTITLER_THREADS"
ENV_ALLOW_DOWNLOAD = "SUBTITLER_ALLOW_DOWNLOAD"
ENV_PUNKT_URL = "SUBTITLER_PUNKT_URL"
ENV_MLX_CACHE_DIR = "MLX_CACHE_DIR"
ENV_RAY_ADDRESS = "RAY_ADDRESS"
PUNKT_URL = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/tokenizers/punkt_tab.zip"

DEFAULT_CACHE_DIR = ".cache"
# Written into a venv by bootstrap only after it built and passed its import check.
VENV_STAMP_NAME = ".bootstrap-stamp.json"
DEFAULT_VENV_DIR = ".venvs"


def load_json(path: Path) -> Any:
    """Read a JSON config file; a missing or broken file is a user-facing error, not a traceback."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise UserError(f"{display_path(path)} is missing: restore it from git (git checkout -- {display_path(path)})")
    except json.JSONDecodeError as exc:
        raise UserError(f"{display_path(path)} is not valid JSON (line {exc.lineno}): fix or restore it")
    except UnicodeDecodeError:
        raise UserError(f"{display_path(path)} is not UTF-8 text: fix or restore it")
    except IsADirectoryError:
        raise UserError(f"{display_path(path)} is a directory, not a JSON file: move it aside")


def display_path(path: Path) -> str:
    """A path as the user should read it: relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def user_path(value: str | os.PathLike) -> Path:
    """A path the user typed, with ~ expanded (os.path.expanduser leaves an unknown ~user as it is;
    pathlib would raise)."""
    return Path(os.path.expanduser(os.fspath(value)))


def resolve_repo_path(value: str | os.PathLike) -> Path:
    """Paths in configs are relative to the repository root unless absolute."""
    path = user_path(value)
    return path if path.is_absolute() else REPO_ROOT / path


def out_dir() -> Path:
    return resolve_repo_path(os.environ.get(ENV_OUT_DIR) or "out")


def cache_dir_override() -> str | None:
    return os.environ.get(ENV_CACHE_DIR) or None


def threads_override() -> int | None:
    threads = os.environ.get(ENV_THREADS, "")
    return int(threads) if threads.isdigit() and int(threads) > 0 else None


def downloads_allowed() -> bool:
    return os.environ.get(ENV_ALLOW_DOWNLOAD) == "1"


def punkt_url() -> str:
    return os.environ.get(ENV_PUNKT_URL) or PUNKT_URL


def venv_dir() -> Path:
    return resolve_repo_path(os.environ.get(ENV_VENV_DIR) or DEFAULT_VENV_DIR)


def pipeline_defaults() -> dict:
    """config/pipeline.json: every stage setting's default."""
    return load_json(CONFIG_DIR / "pipeline.json")


def ray_address() -> str | None:
    return os.environ.get(ENV_RAY_ADDRESS) or None


def venv_python(venv: str) -> Path | None:
    """The interpreter of a venv bootstrap finished (its stamp is written only after the build and
    its import check passed), or None. The one "is this venv built" check: the bash fronts ask it
    through `python3 -m shared.core.config --venv-python common`."""
    root = venv_dir() / venv
    python = root / "bin" / "python"
    return python if python.exists() and (root / VENV_STAMP_NAME).is_file() else None


def venv_map() -> dict:
    return load_json(VENV_MAP_PATH)


def engines(stage: str) -> list[str]:
    """The engines a job may choose for a stage: the venv map's, less those whose code is not built
    yet (engines_not_built). The one list of engines."""
    entry = venv_map()["stages"].get(stage, {})
    return [e for e in entry.get("engines", {}) if e not in entry.get("engines_not_built", [])]


def cache_block(base_dir: str | os.PathLike) -> dict:
    """The seed's cache block: every cache path derived from one base directory."""
    base = str(base_dir).rstrip("/") or "/"
    return {
        "base_dir": base,
        "torch_home": f"{base}/torch",
        "hf_home": f"{base}/huggingface",
        "mlx_home": f"{base}/mlx",
    }


def cache_paths(hardware: dict | None = None) -> dict[str, Path]:
    """Absolute cache paths. SUBTITLER_CACHE_DIR wins, then hardware_cache.json, then .cache/."""
    override = cache_dir_override()
    if override:
        block = cache_block(override)
    else:
        if hardware is None and HARDWARE_CACHE_PATH.exists():
            hardware = load_json(HARDWARE_CACHE_PATH)
        block = dict(cache_block(DEFAULT_CACHE_DIR))
        if hardware and isinstance(hardware.get("cache"), dict):
            block.update({k: v for k, v in hardware["cache"].items() if isinstance(v, str) and v})
    if os.environ.get(ENV_MLX_CACHE_DIR):
        block["mlx_home"] = os.environ[ENV_MLX_CACHE_DIR]
    paths = {key: resolve_repo_path(value) for key, value in block.items()}
    paths["hf_hub_cache"] = paths["hf_home"] / "hub"
    paths["nltk_data"] = paths["base_dir"] / "nltk"  # NLTK's punkt_tab, which WhisperX's alignment reads
    return paths


def main(argv: list[str]) -> int:
    """--venv-python VENV: print the built venv's interpreter, or say how to build it (exit 2)."""
    if len(argv) != 2 or argv[0] != "--venv-python":
        print("usage: python3 -m shared.core.config --venv-python VENV", file=sys.stderr)
        return 2
    python = venv_python(argv[1])
    if python is None:
        how = "first" if argv[1] == "common" else f"--with {argv[1]}"
        raise UserError(f"the {argv[1]} environment is not built: run ./bootstrap.sh {how}")
    print(python)
    return 0


if __name__ == "__main__":
    from shared.core.errors import run_cli

    run_cli(lambda: main(sys.argv[1:]), prog=os.environ.get("SUBTITLER_PROG"))

