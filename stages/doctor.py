"""Doctor: a stage that reports the interpreter and environment it was started with.

Runs in any venv (`--venv` picks which through the environment manager). bootstrap uses it to check
that a freshly built venv imports what it must; tests use it to prove that the environment manager
started a stage in the right venv with the cache variables set. Standard library only, so it
answers even in a venv whose packages are broken.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

from shared.core import files

REPORTED_VARS = (
    "SUBTITLER_VENV", "SUBTITLER_CACHE_DIR", "SUBTITLER_THREADS", "SUBTITLER_ALLOW_DOWNLOAD", "VIRTUAL_ENV",
    "HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_CACHE", "TORCH_HOME", "MLX_CACHE_DIR",
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "OMP_NUM_THREADS", "PYTHONPATH",
)


def _distribution_version(module: str) -> str | None:
    top = module.split(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def report(imports: list[str]) -> dict:
    modules = {}
    for name in imports:
        try:
            importlib.import_module(name)
            modules[name] = {"ok": True, "version": _distribution_version(name)}
        except Exception as exc:  # noqa: BLE001 - any import failure is what we report
            modules[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    cache = os.environ.get("HF_HUB_CACHE")
    return {
        "stage": "doctor",
        "python": sys.executable,
        "prefix": sys.prefix,
        "version": sys.version.split()[0],
        "env": {name: os.environ.get(name) for name in REPORTED_VARS},
        "cache_writable": bool(cache) and os.access(cache, os.W_OK),
        "imports": modules,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--job", help="job directory (accepted like every stage; unused)")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        help="module that must import in this venv (repeatable)")
    parser.add_argument("--output", help="write the JSON report here instead of standard output")
    args = parser.parse_args()
    data = report(args.imports)
    text = json.dumps(data, indent=2)
    if args.output:
        files.write_text_atomic(Path(args.output), text + "\n")
    else:
        print(text)
    failed = [name for name, result in data["imports"].items() if not result["ok"]]
    for name in failed:
        print(f"doctor: cannot import {name}: {data['imports'][name]['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
