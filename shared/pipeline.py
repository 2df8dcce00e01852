"""run-pipeline.sh: run a job's workflow, stage by stage, each in its venv, resumable.

status.json records for each stage its state, times and a fingerprint of its inputs and settings.
A stage is skipped when it finished with the same fingerprint and its outputs are still there, so a
finished job re-run does nothing, and a killed one resumes at the first stage not finished. Stages
write through a temporary file and a rename, and the fingerprint includes the inputs' sizes and
modification times, so a re-made upstream output makes everything after it stale. An exclusive lock
on the job directory (released by the kernel when the holder dies) refuses a second concurrent run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from shared import config, glossary, hardware, jobs, model_catalog, translation
from shared.environment_manager import EnvironmentManager
from shared.errors import ModelNotCachedError, UserError, run_cli

WORKFLOWS = {
    "transcribe": ["demux", "vad", "asr", "subtitles"],
    "translate": ["demux", "vad", "asr", "subtitles", "translate", "translated_subtitles"],
    "subtitle": ["demux", "vad", "asr", "subtitles", "translate", "translated_subtitles", "mux"],
}
# What each stage reads (job-relative; "@media" is the source file, "@glossary" the global glossary)
# and the outputs it leaves.
STAGE_IO = {
    "demux": (["@media"], ["audio.wav"]),
    "vad": (["audio.wav"], ["vad.json"]),
    "asr": (["audio.wav", "vad.json", "glossary.tsv", "@glossary"], ["transcript.json"]),
    "subtitles": (["transcript.json"], ["subtitles.json"]),
    "translate": (["transcript.json", "glossary.tsv", "@glossary"], ["translations.json"]),
    "translated_subtitles": (["translations.json"], ["translated_subtitles.json"]),
    "mux": (["@media", "subtitles.json", "translated_subtitles.json"], ["mux.json"]),
}


def engines(stage: str) -> list[str]:
    """The engines a job may choose for a stage (asr, vad): those in the venv map whose code is built."""
    return [e for e in config.venv_map()["stages"][stage]["engines"] if e in hardware.READY_ENGINES[stage]]


def check_workflow_available(workflow: str) -> None:
    missing = [s for s in WORKFLOWS[workflow] if not (config.REPO_ROOT / "stages" / f"{s}.py").exists()]
    if missing:
        raise UserError(f"the {workflow} workflow is not available yet (no {', '.join(missing)} stage): "
                        "use --workflow transcribe")


def pipeline_defaults() -> dict:
    return config.load_json(config.CONFIG_DIR / "pipeline.json")


def stage_settings(job: dict, stage: str) -> dict:
    """The one merge of settings a stage runs with: hardware choice, pipeline defaults, job overrides."""
    settings = dict(pipeline_defaults().get(stage, {}))
    settings.update(hardware.stage_settings(stage))
    settings.update({k: v for k, v in job.get("overrides", {}).get(stage, {}).items() if v is not None})
    return settings


def _fingerprint(job: dict, job_path: Path, stage: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"settings": stage_settings(job, stage), "clip": job.get("clip"),
                              "source": job.get("source_language"), "targets": job.get("target_languages")},
                             sort_keys=True).encode())
    for name in STAGE_IO.get(stage, ([], []))[0]:
        path = {"@media": Path(job["media"]), "@glossary": glossary.GLOBAL_PATH}.get(name, job_path / name)
        stat = path.stat() if path.exists() else None
        digest.update(f"{name}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    return digest.hexdigest()


class Status:
    def __init__(self, job_path: Path):
        self.path = job_path / "status.json"
        self.data = config.load_json(self.path) if self.path.exists() else {"stages": {}}

    def stage(self, name: str) -> dict:
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields) -> None:
        self.data["stages"].setdefault(name, {}).update(fields)
        config.write_json_atomic(self.path, self.data)


def _outputs_present(job_path: Path, stage: str) -> bool:
    return all((job_path / name).exists() for name in STAGE_IO.get(stage, ([], []))[1])


def _is_fresh(job: dict, job_path: Path, status: Status, stage: str) -> bool:
    record = status.stage(stage)
    return (record.get("state") == "done" and record.get("fingerprint") == _fingerprint(job, job_path, stage)
            and _outputs_present(job_path, stage))


def _acquire_lock(job_path: Path, job_id: str):
    handle = open(job_path / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise UserError(f"job '{job_id}' is already running (pid {holder}): wait for it, or stop that run first")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


# Which setting of a stage names the model it loads.
MODEL_SETTINGS = {"asr": "model"}


def check_models(job: dict, job_path: Path, stages: list[str], fallback: bool = False) -> None:
    """Before any work: every model the stages to run need is in the cache, or a one-line error
    names the command that fetches it. With fallback (--fallback-model, or "fallback_model": true in
    a stage's block of config/pipeline.json), a missing ASR model is replaced by the best embedded
    one, said on the terminal and recorded in job.json."""
    for stage in stages:
        setting = MODEL_SETTINGS.get(stage)
        if setting:
            settings = stage_settings(job, stage)
            try:
                model_catalog.require(settings[setting], stage)
            except ModelNotCachedError as missing:
                substitute = model_catalog.embedded_fallback(stage, job["source_language"].partition("-")[0])
                if not (fallback or settings.get("fallback_model")) or substitute is None:
                    raise
                print(f"note: {missing}; this run uses the embedded {substitute.key} instead (fallback)", flush=True)
                job.setdefault("overrides", {}).setdefault(stage, {})[setting] = substitute.key
                job.setdefault("fallbacks", {})[stage] = {"wanted": settings[setting], "used": substitute.key}
                config.write_json_atomic(job_path / "job.json", job)
    if "translate" in stages:
        settings = stage_settings(job, "translate")
        for target in job["target_languages"]:
            model = translation.route(job["source_language"], target, settings.get("model"))
            model_catalog.require(model.key, "translate")
            if settings.get("backend") == "ctranslate2" and model.convert and model_catalog.converted(model) is None:
                raise UserError(f"model {model.repo} ({model.key}) has no CTranslate2 conversion: run "
                                f"{model_catalog.fetch_command(model)} (converts after download), or use "
                                "--translate-backend transformers")


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def show_status(job: dict, job_path: Path, as_json: bool) -> int:
    status = Status(job_path)
    rows = []
    for stage in job["stages"]:
        record = status.stage(stage)
        state = record.get("state", "pending")
        if state == "done" and not _is_fresh(job, job_path, status, stage):
            state = "stale"
        rows.append({"stage": stage, "state": state, "seconds": record.get("seconds"),
                     "finished": record.get("finished")})
    if as_json:
        print(json.dumps({"job_id": job["job_id"], "workflow": job["workflow"], "stages": rows,
                          "outputs": outputs(job_path)}, indent=2))
        return 0
    print(f"job {job['job_id']} ({job['workflow']}, {Path(job['media']).name})")
    for row in rows:
        took = f"{row['seconds']:.1f} s" if row["seconds"] is not None else ""
        print(f"  {row['stage']:<22} {row['state']:<12} {took}")
    show_outputs(job_path)
    return 0


def run(job: dict, job_path: Path, args: argparse.Namespace) -> int:
    stages = job["stages"]
    for name in (args.from_stage, args.only):
        if name and name not in stages:
            raise UserError(f"'{name}' is not a stage of the {job['workflow']} workflow ({', '.join(stages)})")
    check_workflow_available(job["workflow"])
    lock = _acquire_lock(job_path, job["job_id"])
    status = Status(job_path)
    manager = EnvironmentManager()
    forced_from = stages.index(args.from_stage) if args.from_stage else (0 if args.force else None)
    selected = [args.only] if args.only else stages
    todo = []
    stale_upstream = False
    for index, stage in enumerate(stages):
        if stage not in selected:
            continue
        forced = (forced_from is not None and index >= forced_from) or bool(args.only)
        if forced or stale_upstream or not _is_fresh(job, job_path, status, stage):
            todo.append(stage)
            stale_upstream = True
    if not todo:
        print(f"Job {job['job_id']} is complete: nothing to do (--force runs it again).")
        show_outputs(job_path)
        return 0
    for stage in todo:
        manager.python_for(manager.venv_for(stage, stage_settings(job, stage).get("engine")))
    if not args.allow_download:
        check_models(job, job_path, todo, fallback=args.fallback_model)
    log_dir = job_path / "logs"
    total = len(stages)
    for stage in todo:
        number = stages.index(stage) + 1
        engine = stage_settings(job, stage).get("engine")
        label = f"[{number}/{total}] {stage} ..."
        print(label, end="", flush=True)
        started = time.monotonic()
        status.update(stage, state="running", started=_now(), finished=None, seconds=None,
                      venv=manager.venv_for(stage, engine), **({"engine": engine} if engine else {}))
        log_path = log_dir / f"{stage}.log"
        progress = _ProgressLine(label, log_path, started) if sys.stdout.isatty() else None
        code = manager.run_stage(stage, ["--job", str(job_path)], engine=engine, log_path=log_path,
                                 allow_download=args.allow_download, on_poll=progress)
        seconds = round(time.monotonic() - started, 2)
        if code != 0:
            status.update(stage, state="failed", finished=_now(), seconds=seconds, exit_code=code)
            print(f"\r{label} failed\x1b[K" if progress else " failed")
            reason = _last_error(log_dir / f"{stage}.log")
            raise UserError(f"stage {stage} failed: {reason} (log: {config.display_path(log_dir / f'{stage}.log')})")
        status.update(stage, state="done", finished=_now(), seconds=seconds,
                      fingerprint=_fingerprint(job, job_path, stage))
        print(f"\r{label} done ({seconds:.1f} s)\x1b[K" if progress else f" done ({seconds:.1f} s)")
    show_outputs(job_path)
    lock.close()
    return 0


def outputs(job_path: Path) -> list[str]:
    """What the user came for: subtitle files, then the muxed video."""
    files = [job_path / t[fmt] for t in jobs.subtitle_tracks(job_path) for fmt in ("srt", "vtt") if fmt in t]
    if (job_path / "mux.json").exists():
        files.append(job_path / config.load_json(job_path / "mux.json")["output"])
    return [config.display_path(f) for f in files if f.exists()]


def show_outputs(job_path: Path) -> None:
    for path in outputs(job_path):
        print(f"  -> {path}")


class _ProgressLine:
    """On a terminal: rewrite the stage's line with its elapsed time and the last `progress:` value
    the stage wrote to its log."""

    def __init__(self, label: str, log_path: Path, started: float):
        self.label, self.log_path, self.started = label, log_path, started

    def __call__(self) -> None:
        percent = ""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
                lines = [l for l in log.read().decode(errors="replace").splitlines() if l.startswith("progress:")]
            if lines:
                percent = " " + lines[-1].split(":", 1)[1].strip()
        except OSError:
            pass
        print(f"\r{self.label}{percent} ({time.monotonic() - self.started:.0f} s)\x1b[K", end="", flush=True)


def _last_error(log: Path) -> str:
    """The stage's own one-line error if it printed one, else its last line."""
    lines = [l.strip() for l in log.read_text(errors="replace").splitlines() if l.strip()] if log.exists() else []
    for line in reversed(lines):
        if line.startswith("error:") or ": error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[-1] if lines else "no output"


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(prog="run-pipeline.sh", description="Run (or resume) a job's workflow.")
    parser.add_argument("-j", "--job", required=True, help="job id printed by prepare-job.sh")
    parser.add_argument("--status", action="store_true", help="show each stage's state and stop")
    parser.add_argument("--json", action="store_true", help="with --status: machine-readable")
    parser.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage on")
    parser.add_argument("--only", metavar="STAGE", help="run only this stage")
    parser.add_argument("--force", action="store_true", help="re-run every stage")
    parser.add_argument("--allow-download", action="store_true",
                        help="let stages download missing models (otherwise the hub stays offline)")
    parser.add_argument("--fallback-model", action="store_true",
                        help="when the job's Whisper model is not cached, use the best embedded one (and say so) "
                             "instead of stopping")
    args = parser.parse_args()
    job_path = jobs.job_dir(args.job)
    job = jobs.load_job(job_path)
    if args.status:
        return show_status(job, job_path, args.json)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(job, job_path, args)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    run_cli(main, prog="run-pipeline.sh")
