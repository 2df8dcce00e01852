"""bootstrap.sh: build the per-stage venvs, detect the hardware, register the embedded models, and
offer to cache models.

Runs on the system Python (3.10+, checked by the bash front) with the standard library only, since
no venv exists yet. A venv is reused when a stamp written after a successful build and import check
matches its requirements and interpreter; a build that dies half-way leaves no stamp and is redone.
The caching prompt appears only when standard input is a terminal: CI and cron never wait on it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from shared.core import config, files, media
from shared.core.errors import UserError, run_cli
from shared.environment_manager import EnvironmentManager
from shared.models import catalog, hardware, hub_cache
from shared.setup import cache_models

STAMP_NAME = config.VENV_STAMP_NAME
DISK_MARGIN_GB = 1.0


class Reporter:
    """Steps to the terminal and, with timestamps, to logs/bootstrap.log."""

    def __init__(self, log_path: Path):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self.log = open(log_path, "a", encoding="utf-8")
        self.log.write(f"\n=== bootstrap {_dt.datetime.now().isoformat(timespec='seconds')} "
                       f"{' '.join(sys.argv[1:])}\n")

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(f"{_dt.datetime.now().strftime('%H:%M:%S')} {text}\n")
        self.log.flush()


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(config.venv_map()["venvs"])
    parser = argparse.ArgumentParser(
        prog="bootstrap.sh",
        description="One-time set-up: per-stage virtual environments, hardware detection "
                    "(config/hardware_cache.json) and, optionally, model pre-caching.",
        epilog="Without --cache-models or --skip-cache it asks whether to cache models, but only when "
               "standard input is a terminal; otherwise it skips and says how to cache later.")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-models", action="store_true", help="pre-cache models after set-up")
    cache.add_argument("--skip-cache", action="store_true", help="do not cache models and do not ask")
    parser.add_argument("--with", dest="with_venvs", default="", metavar="LIST",
                        help=f"comma-separated venvs to build besides this machine's defaults ({names})")
    parser.add_argument("--only", default="", metavar="LIST",
                        help="build exactly these venvs instead of this machine's defaults")
    parser.add_argument("--force", action="store_true", help="rebuild the venvs even if up to date")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="move the model cache (default .cache; or set SUBTITLER_CACHE_DIR)")
    return parser


def _check_cache_dir(value: str) -> None:
    """--cache-dir must name a directory this user can create and write, before anything is done."""
    if not value.strip() or "\n" in value:
        raise UserError(f"--cache-dir {value!r} is not a directory name: give a path (e.g. --cache-dir /data/models)")
    path = config.resolve_repo_path(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--cache-dir {value}: cannot create it ({exc.strerror.lower()}): choose a writable directory")
    if not os.access(path, os.W_OK):
        raise UserError(f"--cache-dir {value}: not writable by this user: choose a writable directory")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def requirements_digest(path: Path) -> str:
    """sha256 over a requirements file and every file it includes with -r / -c."""
    digest = hashlib.sha256()
    pending, seen = [path], set()
    while pending:
        current = pending.pop(0).resolve()
        if current in seen:
            continue
        seen.add(current)
        text = current.read_text(encoding="utf-8")
        digest.update(f"{current.name}\n{text}".encode())
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("-r", "--requirement", "-c", "--constraint"):
                pending.append(current.parent / parts[1])
    return digest.hexdigest()


def _wanted_stamp(requirements: Path) -> dict:
    return {"requirements_sha256": requirements_digest(requirements),
            "python": sys.executable, "python_version": sys.version.split()[0]}


def venv_is_current(venv_path: Path, requirements: Path) -> bool:
    stamp = venv_path / STAMP_NAME
    if config.venv_python(venv_path.name) is None:
        return False
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    wanted = _wanted_stamp(requirements)
    return all(recorded.get(k) == v for k, v in wanted.items())


def build_venv(name: str, spec: dict, manager: EnvironmentManager, report: Reporter) -> None:
    venv_path = manager.venv_path(name)
    requirements = config.REPO_ROOT / spec["requirements"]
    (venv_path / STAMP_NAME).unlink(missing_ok=True)
    if venv_path.exists():
        shutil.rmtree(venv_path)
    report.say(f"  building '{name}' from {spec['requirements']} (about {spec['approx_size_gb']} GB; "
               f"pip output in {config.display_path(report.log_path)})")
    started = time.monotonic()
    steps = [
        [sys.executable, "-m", "venv", str(venv_path)],
        [str(venv_path / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "--no-input", "-r", str(requirements)],
    ]
    for cmd in steps:
        report.log.write(f"$ {' '.join(cmd)}\n")
        report.log.flush()
        result = subprocess.run(cmd, stdout=report.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=config.REPO_ROOT)
        if result.returncode != 0:
            raise UserError(f"building the '{name}' venv failed ({cmd[2] if cmd[1] == '-m' else cmd[0]}): "
                            f"see {config.display_path(report.log_path)}, fix the cause, and re-run ./bootstrap.sh")
    check_venv(name, spec, manager, report)
    files.write_json_atomic(venv_path / STAMP_NAME, _wanted_stamp(requirements))
    report.say(f"  built '{name}' in {time.monotonic() - started:.0f} s")


def check_venv(name: str, spec: dict, manager: EnvironmentManager, report: Reporter) -> None:
    """Start the doctor stage in the new venv, exactly as the pipeline would start a stage."""
    python = manager.venv_path(name) / "bin" / "python"
    cmd = [str(python), "-m", "stages.doctor"] + [f"--import={m}" for m in spec.get("imports", [])]
    result = subprocess.run(cmd, env=manager.stage_env(name), capture_output=True, text=True,
                            cwd=config.REPO_ROOT, stdin=subprocess.DEVNULL)
    report.log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        problem = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"the '{name}' venv was built but fails its check ({problem}): "
                        f"see {config.display_path(report.log_path)}")


def register_embedded(manager: EnvironmentManager, report: Reporter) -> None:
    """Register every embedded model from the common venv's packages (checked by sha256 each run)."""
    python = manager.venv_path("common") / "bin" / "python"
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    result = subprocess.run([str(python), "-c", probe], env=manager.stage_env("common"), capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise UserError("the common venv does not start: run ./bootstrap.sh --force --only common")
    site_packages = Path(result.stdout.strip())
    failures = []
    for model in catalog.embedded_models():
        try:
            state = catalog.register_embedded(model, site_packages)
        except UserError as exc:
            report.say(f"  {model.key}: NOT registered")
            failures.append(exc)
            continue
        where = config.display_path(hub_cache.repo_dir(catalog.hub_dir(), model.repo))
        verb = "registered" if state == "registered" else "already in place, checked"
        report.say(f"  {model.key}: {verb} as {model.repo}@{model.revision[:12]} ({where})")
    if failures:
        raise failures[0]
    if manager.hardware.get("stages", {}).get("asr", {}).get("engine") == "mlx" and config.venv_python("mlx"):
        # Apple Silicon: the embedded models' MLX copies, so the mlx engine has a model with no download
        # (--fallback-model, or --model base) before ./cache-models.sh --mlx fetches the default one.
        for model in (m for m in catalog.embedded_models() if m.stage == "asr"):
            result = subprocess.run([str(python), "-m", "shared.setup.cache_models", "--mlx-from", model.key],
                                    env=manager.stage_env("common"), capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, cwd=config.REPO_ROOT)
            report.say(f"  {model.key}: " + ("MLX copy in place" if result.returncode == 0 else
                                            "no MLX copy (" + (result.stderr.strip().splitlines() or ["?"])[-1] + ")"))


def _check_disk(to_build: list[str], specs: dict, report: Reporter) -> None:
    target = config.venv_dir()
    probe = target if target.exists() else target.parent
    free_gb = shutil.disk_usage(probe).free / 2**30
    need_gb = sum(specs[n]["approx_size_gb"] for n in to_build) + DISK_MARGIN_GB
    report.say(f"  free disk at {config.display_path(probe)}: {free_gb:.1f} GB (this run needs about {need_gb:.1f} GB)")
    if free_gb < need_gb:
        raise UserError(f"not enough free disk for {', '.join(to_build)}: {free_gb:.1f} GB free, about "
                        f"{need_gb:.1f} GB needed; free some space or set {config.ENV_VENV_DIR} to another disk")


def _check_ffmpeg(report: Reporter) -> None:
    for name in ("ffmpeg", "ffprobe"):
        media.tool(name)
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    report.say(f"  {version.split(' Copyright')[0]}")


def _cache_models(hardware_info: dict, args: argparse.Namespace, report: Reporter) -> int:
    later = "cache them later with ./cache-models.sh --all (see ./cache-models.sh --help)"
    if args.skip_cache:
        report.say(f"Model caching skipped (--skip-cache): {later}")
        return 0
    if not args.cache_models:
        if not sys.stdin.isatty():
            report.say(f"Model caching skipped: no terminal to ask on; {later}, or run ./bootstrap.sh --cache-models")
            return 0
        wanted = [m for m in cache_models.machine_models(hardware_info).values() if not m.embedded]
        size_gb, minutes = catalog.estimate(list({m.key: m for m in wanted}.values()))
        print("IMPORTANT: models not cached now download on the first pipeline run (with --allow-download).")
        print(f"Caching the default models takes about {size_gb} GB and about {minutes} minutes "
              f"at {catalog.ASSUMED_DOWNLOAD_MB_PER_S:.0f} MB/s.")
        try:
            answer = input("Cache models now? [y/N] ").strip().lower()
        except EOFError:
            answer = ""
        report.log.write(f"prompt answered: {answer!r}\n")
        if answer not in ("y", "yes"):
            report.say(f"Model caching skipped: {later}")
            return 0
    report.say("Caching models: handing over to ./cache-models.sh --all")
    code = subprocess.run([str(config.REPO_ROOT / "cache-models.sh"), "--all"], cwd=config.REPO_ROOT).returncode
    if code != 0:
        report.say(f"Model caching did not complete (cache-models.sh exit {code}, its message above); the "
                   "environments are ready; run ./cache-models.sh --all again once the cause is fixed")
    return code


def main() -> int:
    args = _parser().parse_args()
    specs = config.venv_map()["venvs"]
    requested = _split(args.only) + _split(args.with_venvs)
    unknown = [n for n in requested if n not in specs]
    if unknown:
        raise UserError(f"unknown venv {', '.join(unknown)} (choose from: {', '.join(specs)})")
    if args.cache_dir is not None:
        _check_cache_dir(args.cache_dir)
    started = time.monotonic()
    report = Reporter(config.LOG_DIR / "bootstrap.log")
    report.say(f"[1/5] Python {sys.version.split()[0]} at {sys.executable}")
    report.say("[2/5] Checking tools and hardware")
    _check_ffmpeg(report)
    hardware_info = hardware.write(args.cache_dir)
    report.say(f"  {hardware.summary(hardware_info)}")
    report.say(f"  wrote {config.display_path(config.HARDWARE_CACHE_PATH)}")
    wanted = _split(args.only) or list(hardware_info["venvs"])
    wanted += [n for n in _split(args.with_venvs) if n not in wanted]
    manager = EnvironmentManager(hardware_info)
    config.venv_dir().mkdir(parents=True, exist_ok=True)
    lock = open(config.venv_dir() / ".bootstrap.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError("another ./bootstrap.sh is running on these venvs: wait for it to finish")
    report.say(f"[3/5] Virtual environments: {', '.join(wanted)}")
    to_build = [n for n in wanted if args.force or not venv_is_current(
        manager.venv_path(n), config.REPO_ROOT / specs[n]["requirements"])]
    for name in wanted:
        if name not in to_build:
            report.say(f"  '{name}' is up to date (reused)")
    if to_build:
        _check_disk(to_build, specs, report)
    for name in to_build:
        build_venv(name, specs[name], manager, report)
    report.say("[4/5] Embedded models")
    if config.venv_python("common") is not None:
        register_embedded(manager, report)
    else:
        report.say("  skipped: the common venv is not built (run ./bootstrap.sh --with common)")
    report.say("[5/5] Models")
    code = _cache_models(hardware_info, args, report)
    report.say(f"Bootstrap finished in {time.monotonic() - started:.1f} s; log: {config.display_path(report.log_path)}")
    return code


if __name__ == "__main__":
    run_cli(main, prog="bootstrap.sh")
