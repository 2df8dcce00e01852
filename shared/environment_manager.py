"""The one place that knows a stage's venv and the environment it runs in.

Each stage runs as `<venv>/bin/python -m stages.<name> ...` in a subprocess: the venvs conflict
(whisperx pins torch 2.8 and huggingface-hub<1.0, IndicTrans2 needs transformers 4.53), so they can
never share a process. The environment always points every model cache into the project cache and
keeps the hub offline unless the user allowed downloads; huggingface_hub and transformers read these
variables at import time, which is why they are set here and not inside the stages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from shared.core import config, processes
from shared.core.errors import MissingVenvError, UserError
from shared.models import hardware

# Variables a stage must not inherit from the caller's shell: they would point it at another venv
# or another cache, or bring a project-external site-packages in.
_SCRUBBED = ("VIRTUAL_ENV", "PYTHONHOME", "CONDA_PREFIX", "PYTHONSTARTUP")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS")


class EnvironmentManager:
    def __init__(self, hardware_info: dict | None = None):
        self.venv_map = config.venv_map()
        self.hardware = hardware_info or hardware.load()

    # -- which venv ---------------------------------------------------------------------------
    def venv_for(self, stage: str, engine: str | None = None) -> str:
        entry = self.venv_map["stages"].get(stage)
        if entry is None:
            known = ", ".join(sorted(self.venv_map["stages"]))
            raise UserError(f"unknown stage '{stage}' (known: {known})")
        engines = entry.get("engines", {})
        if engine is None:
            engine = self.hardware.get("stages", {}).get(stage, {}).get("engine")
        if engine and engines:
            if engine not in engines:
                raise UserError(f"stage '{stage}' has no engine '{engine}' (choose one of: {', '.join(engines)})")
            return engines[engine]
        return entry["venv"]

    def venv_path(self, venv: str) -> Path:
        if venv not in self.venv_map["venvs"]:
            raise UserError(f"unknown venv '{venv}' (known: {', '.join(self.venv_map['venvs'])})")
        return config.venv_dir() / venv

    def python_for(self, venv: str) -> Path:
        """The venv's interpreter; a missing venv names the bootstrap command that builds it."""
        self.venv_path(venv)  # a known venv
        python = config.venv_python(venv)
        if python is None:
            flag = "" if venv == "common" else f" --with {venv}"
            raise MissingVenvError(f"the '{venv}' environment is not built: run ./bootstrap.sh{flag}")
        return python

    # -- what environment ---------------------------------------------------------------------
    def stage_env(self, venv: str, *, allow_download: bool = False, threads: int | None = None,
                  base: dict | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        for name in _SCRUBBED:
            env.pop(name, None)
        venv_root = self.venv_path(venv)
        paths = config.cache_paths(self.hardware)
        for key in ("torch_home", "hf_home", "hf_hub_cache", "mlx_home"):
            paths[key].mkdir(parents=True, exist_ok=True)
        env.update({
            "SUBTITLER_VENV": venv,
            "VIRTUAL_ENV": str(venv_root),
            "PATH": f"{venv_root / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
            "PYTHONPATH": str(config.REPO_ROOT),
            "PYTHONNOUSERSITE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            config.ENV_CACHE_DIR: str(paths["base_dir"]),
            "HF_HOME": str(paths["hf_home"]),
            "HF_HUB_CACHE": str(paths["hf_hub_cache"]),
            # transformers < 5 reads TRANSFORMERS_CACHE as the hub cache directory itself.
            "TRANSFORMERS_CACHE": str(paths["hf_hub_cache"]),
            "TORCH_HOME": str(paths["torch_home"]),
            "MLX_CACHE_DIR": str(paths["mlx_home"]),
            "NLTK_DATA": str(paths["nltk_data"]),
            # HF_HOME moves into the project cache; the token `hf auth login` stored stays where it is.
            "HF_TOKEN_PATH": env.get("HF_TOKEN_PATH") or os.path.join(
                env.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "token"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_WAIT_POLICY": "PASSIVE",
            # glibc's malloc on transparent huge pages (where the kernel allows them on request):
            # CTranslate2 allocates and frees large buffers at every decoding step, and faults them
            # in 4 KiB at a time otherwise; Whisper decoding on 2 cores here took 8-16 % less time.
            # Other C libraries ignore it.
            "GLIBC_TUNABLES": ":".join(dict.fromkeys(filter(None, [*env.get("GLIBC_TUNABLES", "").split(":"),
                                                                    "glibc.malloc.hugetlb=1"]))),
        })
        if allow_download:
            for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
                env.pop(name, None)
            env[config.ENV_ALLOW_DOWNLOAD] = "1"
        else:
            env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
            env.pop(config.ENV_ALLOW_DOWNLOAD, None)
        if threads is None:
            threads = self.hardware.get("cpu", {}).get("count") or 1
        env[config.ENV_THREADS] = str(threads)
        for name in _THREAD_VARS:
            env[name] = str(threads)
        return env

    # -- run it -------------------------------------------------------------------------------
    def command(self, stage: str, args: Sequence[str] = (), *, engine: str | None = None,
                venv: str | None = None) -> list[str]:
        venv = venv or self.venv_for(stage, engine)
        return [str(self.python_for(venv)), "-m", f"stages.{stage}", *args]

    def run_stage(self, stage: str, args: Sequence[str] = (), *, log_path: Path | None = None,
                  engine: str | None = None, venv: str | None = None, allow_download: bool = False,
                  threads: int | None = None, timeout: float | None = None,
                  on_poll: Callable[[], None] | None = None, poll_seconds: float = 0.5) -> int:
        """Run a stage in its venv (the map's, or `venv` for stages such as doctor that run in any);
        its stdout and stderr go to log_path (appended) or to ours. With a log, on_poll is called every
        poll_seconds while the stage runs (the pipeline shows progress from the log there)."""
        venv = venv or self.venv_for(stage, engine)
        if threads is None:
            threads = hardware.stage_settings(stage, hardware=self.hardware).get("threads")
        return self.run_module(venv, f"stages.{stage}", args, log_path=log_path, allow_download=allow_download,
                               threads=threads, timeout=timeout, on_poll=on_poll, poll_seconds=poll_seconds)

    def start_stage(self, stage: str, args: Sequence[str], *, log_path: Path, engine: str | None = None,
                    allow_download: bool = False, held: bool = False) -> "StageProcess":
        """Start a stage in its venv, its output appended to log_path, and return at once. Held, the
        stage gets --held: it prepares what needs no input of the job (imports, its model), then waits
        for StageProcess.go() (or ends, doing nothing, on cancel())."""
        venv = self.venv_for(stage, engine)
        threads = hardware.stage_settings(stage, hardware=self.hardware).get("threads")
        return self.start_module(venv, f"stages.{stage}", [*args, *(["--held"] if held else [])],
                                 log_path=log_path, allow_download=allow_download, threads=threads, held=held)

    def run_module(self, venv: str, module: str, args: Sequence[str] = (), *, log_path: Path | None = None,
                   allow_download: bool = False, threads: int | None = None, timeout: float | None = None,
                   on_poll: Callable[[], None] | None = None, poll_seconds: float = 0.5) -> int:
        """Run `python -m module` in a venv with the stage environment (tools such as the CTranslate2
        converter that cache-models starts in the translate venv)."""
        if log_path is None:
            cmd = [str(self.python_for(venv)), "-m", module, *args]
            env = self.stage_env(venv, allow_download=allow_download, threads=threads)
            return subprocess.run(cmd, env=env, cwd=config.REPO_ROOT, timeout=timeout).returncode
        started = self.start_module(venv, module, args, log_path=log_path, allow_download=allow_download,
                                    threads=threads)
        return started.wait(timeout=timeout, on_poll=on_poll, poll_seconds=poll_seconds)

    def start_module(self, venv: str, module: str, args: Sequence[str], *, log_path: Path,
                     allow_download: bool = False, threads: int | None = None, held: bool = False) -> "StageProcess":
        """`python -m module` started in a venv with the stage environment, in a process group of its
        own that dies with us, its stdout and stderr appended to log_path; held: its stdin a pipe that
        go() writes to, else nothing."""
        cmd = [str(self.python_for(venv)), "-m", module, *args]
        env = self.stage_env(venv, allow_download=allow_download, threads=threads)
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_start = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(cmd, env=env, cwd=config.REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.PIPE if held else subprocess.DEVNULL,
                                    preexec_fn=processes.die_with_parent, start_new_session=True)
        return StageProcess(proc, log_start)


class StageProcess:
    """A stage's process, started by EnvironmentManager.start_stage or start_module; log_start: its
    log's size before it (what it wrote follows)."""

    def __init__(self, proc: subprocess.Popen, log_start: int = 0):
        self.proc, self.log_start = proc, log_start

    def go(self) -> None:
        """A held stage's inputs are ready: it begins (one that ended already has its code for wait();
        one not held has begun already)."""
        self._tell(b"go\n")

    def cancel(self) -> None:
        """A held stage is not needed (a stage before it failed, or we were interrupted): its stdin is
        closed, and one waiting there ends, having done nothing; one still loading its model is stopped
        as a group (it has written nothing either)."""
        self._tell(b"")
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            processes.stop_group(self.proc)

    def _tell(self, word: bytes) -> None:
        if self.proc.stdin is None or self.proc.stdin.closed:
            return
        try:
            if word:
                self.proc.stdin.write(word)
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):  # it ended already (its log says why)
            pass

    def wait(self, timeout: float | None = None, on_poll: Callable[[], None] | None = None,
             poll_seconds: float = 0.5) -> int:
        """Its exit code; on_poll is called every poll_seconds meanwhile. Interrupted (Ctrl-C, a time-out),
        the stage and its tools stop with us."""
        try:
            while True:
                try:
                    return self.proc.wait(timeout=poll_seconds if on_poll else timeout)
                except subprocess.TimeoutExpired:
                    if not on_poll:
                        raise
                    on_poll()
        finally:
            if self.proc.poll() is None:
                processes.stop_group(self.proc)


def main() -> int:
    """python -m shared.environment_manager STAGE [args...]: run one stage in its venv, for debugging."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: python -m shared.environment_manager STAGE [stage args...]")
        return 0
    return EnvironmentManager().run_stage(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    from shared.core.errors import run_cli

    run_cli(main)
