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

from shared import (config, files, glossary, jobs, model_cache, model_catalog, processes, schema,
                    subtitle_writer, translation, workflows)
from shared.environment_manager import EnvironmentManager
from shared.errors import ModelNotCachedError, UserError, run_cli

# Settings that change how fast a stage runs, not what it makes: a result stays current when only
# they differ (a batch shares the cores out among its jobs through SUBTITLER_THREADS).
RUNTIME_ONLY = ("threads", "workers")


def _fingerprint(job: dict, job_path: Path, stage: str) -> str:
    digest = hashlib.sha256()
    settings = {k: v for k, v in workflows.stage_settings(job, stage).items() if k not in RUNTIME_ONLY}
    digest.update(json.dumps({"settings": settings, "clip": job.get("clip"),
                              "source": job.get("source_language"), "targets": job.get("target_languages")},
                             sort_keys=True).encode())
    for name in workflows.STAGE_IO.get(stage, ([], []))[0]:
        path = {"@media": Path(job.get("media", "")), "@subs": Path(job.get("subs", "")),
                "@glossary": glossary.GLOBAL_PATH}.get(name, job_path / name)
        stat = path.stat() if path.exists() else None
        digest.update(f"{name}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    return digest.hexdigest()


class Status:
    """status.json: each stage's last run. A damaged one (not JSON, not the declared shape) is moved
    aside with a note and rebuilt from the outputs present: a stage whose outputs are all there,
    after stages that were rebuilt so, counts as done (outputs are only ever renamed into place
    whole), with the fingerprint of now."""

    def __init__(self, job_path: Path, job: dict | None = None):
        self.path = job_path / "status.json"
        self.data = {"stages": {}}
        if self.path.exists() or self.path.is_symlink():
            try:
                self.data = schema.read(self.path)
            except UserError as exc:
                self._rebuild(job_path, job, str(exc))

    def _rebuild(self, job_path: Path, job: dict | None, why: str) -> None:
        aside = self.path.with_name(f"status.json.damaged-{_dt.datetime.now():%Y%m%d-%H%M%S}")
        os.replace(self.path, aside)
        print(f"note: {why}; moved aside to {aside.name} and rebuilt from the outputs present", file=sys.stderr)
        for stage in (job or {}).get("stages", []):
            if not workflows.STAGE_IO[stage][1] or not _outputs_present(job_path, stage):
                break
            self.data["stages"][stage] = {"state": "done", "finished": _now(), "seconds": None,
                                          "fingerprint": _fingerprint(job, job_path, stage), "rebuilt": True}
        schema.write(self.path, self.data)

    def stage(self, name: str) -> dict:
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields) -> None:
        self.data["stages"].setdefault(name, {}).update(fields)
        schema.write(self.path, self.data)


def _outputs_present(job_path: Path, stage: str) -> bool:
    return all((job_path / name).exists() for name in workflows.STAGE_IO.get(stage, ([], []))[1])


def _is_fresh(job: dict, job_path: Path, status: Status, stage: str) -> bool:
    record = status.stage(stage)
    return (record.get("state") == "done" and record.get("fingerprint") == _fingerprint(job, job_path, stage)
            and _outputs_present(job_path, stage))


def _acquire_lock(job_path: Path, job_id: str):
    handle = open(job_path / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"job '{job_id}' is already running ({_holder(job_path, job_id)}): wait for it, "
                        "or stop that run first")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _clear_temp(job_path)
    return handle


def _clear_temp(job_path: Path) -> None:
    """Temporary files of writers that were killed. Only a killed writer leaves them, and none is
    alive while this run holds the lock."""
    for folder in (job_path, job_path / "subtitles"):
        files.remove_stale(folder)


def _holder(job_path: Path, job_id: str) -> str:
    """'pid N' of the run holding the job, when the lock file names a live run-pipeline process of
    this job (the holder writes its pid just after it takes the lock, so a reader may still find a
    finished run's pid there, possibly reused since); else 'another process'."""
    try:
        pid = int((job_path / ".lock").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return "another process"
    ours = b"shared.pipeline" in command and job_id.encode() in command
    return f"pid {pid}" if ours else "another process"


def _locked(job_path: Path) -> bool:
    """Whether a live run holds the job (the kernel drops the lock when its holder dies)."""
    try:
        with open(job_path / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


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
            settings = workflows.stage_settings(job, stage)
            engine = settings.get("engine")
            try:
                model_catalog.require(settings[setting], stage, engine)
                model = model_catalog.find(settings[setting], stage, engine)
                if model is not None and model_catalog.snapshot(model) is not None:
                    model_cache.check_intact(model)
            except ModelNotCachedError as missing:
                substitute = model_catalog.embedded_fallback(stage, job["source_language"].partition("-")[0], engine)
                if not (fallback or settings.get("fallback_model")) or substitute is None:
                    raise
                print(f"note: {missing}; this run uses the embedded {substitute.key} instead (fallback)", flush=True)
                job.setdefault("overrides", {}).setdefault(stage, {})[setting] = substitute.key
                job.setdefault("fallbacks", {})[stage] = {"wanted": settings[setting], "used": substitute.key}
                schema.write(job_path / "job.json", job)
    if "translate" in stages:
        settings = workflows.stage_settings(job, "translate")
        if settings["translator"] == "llm":
            return  # the LLM translates; the MT model is loaded only if a window falls back to it
        for target in job["target_languages"]:
            model = translation.route(job["source_language"], target, settings.get("model"))
            model_catalog.require(model.key, "translate")
            model_cache.check_intact(model)
            if settings.get("backend") == "ctranslate2" and model.convert and model_catalog.converted(model) is None:
                raise UserError(f"model {model.repo} ({model.key}) has no CTranslate2 conversion: run "
                                f"{model_catalog.fetch_command(model)} (converts after download), or use "
                                "--translate-backend transformers")


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def stage_states(job: dict, job_path: Path, status: Status) -> dict[str, str]:
    """What each stage's result is worth now: done, stale, failed, interrupted (marked running, but
    no live run holds the job), running, or pending. Downstream of a stage that is not done, no
    result is current: a done stage there is stale."""
    held = _locked(job_path)
    states, upstream_done = {}, True
    for stage in job["stages"]:
        state = status.stage(stage).get("state", "pending")
        if state == "running" and not held:
            state = "interrupted"
        elif state == "done" and not (upstream_done and _is_fresh(job, job_path, status, stage)):
            state = "stale"
        upstream_done = upstream_done and state == "done"
        states[stage] = state
    return states


def show_status(job: dict, job_path: Path, as_json: bool) -> int:
    status = Status(job_path, job)
    states = stage_states(job, job_path, status)
    rows = []
    for stage in job["stages"]:
        record = status.stage(stage)
        rows.append({"stage": stage, "state": states[stage], "seconds": record.get("seconds"),
                     "finished": record.get("finished"), "warnings": record.get("warnings", [])})
    done = {s for s, state in states.items() if state == "done"}
    current = outputs(job_path, done)
    tracks = [{"language": t["language"], "role": t["role"], "compliance": t.get("compliance")}
              for t in jobs.subtitle_tracks(job_path, _manifests(done))]
    if as_json:
        print(json.dumps({"job_id": job["job_id"], "workflow": job["workflow"], "stages": rows,
                          "tracks": tracks, "llm": _llm_usage(job_path, done), "outputs": current}, indent=2))
        return 0
    print(f"job {job['job_id']} ({job['workflow']}, {jobs.source(job).name})")
    for row in rows:
        took = f"{row['seconds']:.1f} s" if row["seconds"] is not None else ""
        print(f"  {row['stage']:<22} {row['state']:<12} {took}")
        for warning in row["warnings"]:
            print(f"    warning: {warning}")
    for track in tracks:
        report = track["compliance"]
        if report:
            print(f"  {track['language']} ({track['role']}): {report['cues']} cues, {report['violations']} violations "
                  f"({report['lines_over_limit']} lines over the limit, {len(report['short_cues'])} short cues), "
                  f"fastest {report['max_cps']} characters/s")
    usage = _llm_usage(job_path, done)
    if usage:
        cost = ("nothing (a server on this machine)" if usage["local"] else
                f"about ${usage['cost_usd']:.4f} (prices of {usage['prices_as_of']})" if usage["cost_usd"] is not None
                else "unknown (no price for the model in config/llm.json)")
        fell = sum(f["last"] - f["first"] + 1 for found in usage["fallbacks"].values() for f in found)
        print(f"  {usage['translator']} by {usage['model']}: {usage['requests']} requests, {usage['tokens_in']} tokens "
              f"in, {usage['tokens_out']} out, cost {cost}; {usage['reused_windows']} of {usage['windows']} windows "
              f"reused, {fell} sentences from the MT fallback")
    for path in current:
        print(f"  -> {path}")
    return 0


def _llm_usage(job_path: Path, done: set[str]) -> dict | None:
    path = job_path / "translations.json"
    if "translate" not in done or not path.exists():
        return None
    return schema.read(path).get("llm")


def run(job: dict, job_path: Path, args: argparse.Namespace) -> int:
    stages = job["stages"]
    for name in (args.from_stage, args.only):
        if name and name not in stages:
            raise UserError(f"'{name}' is not a stage of the {job['workflow']} workflow ({', '.join(stages)})")
    lock = _acquire_lock(job_path, job["job_id"])
    if args.allow_partial_media and not workflows.stage_settings(job, "demux").get("allow_partial_media"):
        job.setdefault("overrides", {}).setdefault("demux", {})["allow_partial_media"] = True
        schema.write(job_path / "job.json", job)
    status = Status(job_path, job)
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
        show_outputs(job, job_path)
        return 0
    for stage in todo:
        manager.python_for(manager.venv_for(stage, workflows.stage_settings(job, stage).get("engine")))
    if not args.allow_download:
        check_models(job, job_path, todo, fallback=args.fallback_model)
    log_dir = job_path / "logs"
    total = len(stages)
    for stage in todo:
        number = stages.index(stage) + 1
        engine = workflows.stage_settings(job, stage).get("engine")
        label = f"[{number}/{total}] {stage} ..."
        print(label, end="", flush=True)
        started = time.monotonic()
        status.update(stage, state="running", started=_now(), finished=None, seconds=None,
                      venv=manager.venv_for(stage, engine), **({"engine": engine} if engine else {}))
        log_path = log_dir / f"{stage}.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        progress = _ProgressLine(label, log_path, started) if sys.stdout.isatty() else None
        try:
            code = manager.run_stage(stage, ["--job", str(job_path)], engine=engine, log_path=log_path,
                                     allow_download=args.allow_download, on_poll=progress)
        except KeyboardInterrupt:  # the stage and its tools were stopped with us
            status.update(stage, state="interrupted", finished=_now(), seconds=round(time.monotonic() - started, 2))
            _clear_temp(job_path)
            raise
        seconds = round(time.monotonic() - started, 2)
        warnings = _warnings(log_path, log_start)
        if code != 0:
            status.update(stage, state="failed", finished=_now(), seconds=seconds, exit_code=code, warnings=warnings)
            print(f"\r{label} failed\x1b[K" if progress else " failed")
            signal_name = processes.signal_name(code)
            reason = (f"killed by {signal_name}" + (" (out of memory?)" if signal_name == "SIGKILL" else "")
                      if signal_name else _last_error(log_path, log_start))
            raise UserError(f"stage {stage} failed: {reason} (log: {config.display_path(log_path)})")
        status.update(stage, state="done", finished=_now(), seconds=seconds, warnings=warnings,
                      fingerprint=_fingerprint(job, job_path, stage))
        print(f"\r{label} done ({seconds:.1f} s)\x1b[K" if progress else f" done ({seconds:.1f} s)")
        for warning in warnings:
            print(f"  warning: {warning}")
    show_outputs(job, job_path)
    lock.close()
    return 0


# The stages whose manifests list the files a user came for.
OUTPUT_MANIFESTS = {"subtitles": "subtitles.json", "translated_subtitles": "translated_subtitles.json",
                    "mux": "mux.json"}


def _manifests(done: set[str]) -> set[str]:
    """The output manifests of the stages whose results are current."""
    return {OUTPUT_MANIFESTS[s] for s in done if s in OUTPUT_MANIFESTS}


def outputs(job_path: Path, done: set[str]) -> list[str]:
    """What the user came for, from the stages whose results are current: subtitle files
    (translations first), then the muxed video."""
    manifests = _manifests(done)
    found = [job_path / t[fmt] for t in jobs.subtitle_tracks(job_path, manifests) for fmt in subtitle_writer.FORMATS
             if fmt in t]
    if "mux.json" in manifests and (job_path / "mux.json").exists():
        muxed = schema.read(job_path / "mux.json")
        found += [job_path / muxed[key] for key in ("output", "burned") if key in muxed]
    return [config.display_path(f) for f in found if f.exists()]


def show_outputs(job: dict, job_path: Path) -> None:
    for path in outputs(job_path, set(job["stages"])):
        print(f"  -> {path}")


class _ProgressLine:
    """On a terminal: rewrite the stage's line with its elapsed time and the last `progress:` value
    the stage wrote to its log."""

    def __init__(self, label: str, log_path: Path, started: float):
        self.label, self.log_path, self.started = label, log_path, started

    def __call__(self) -> None:
        percent = last_progress(self.log_path)
        print(f"\r{self.label}{' ' + percent if percent else ''} ({time.monotonic() - self.started:.0f} s)\x1b[K",
              end="", flush=True)


def last_progress(log_path: Path) -> str:
    """The last `progress:` value a stage wrote to its log (e.g. "42%"), or ""."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = [l for l in log.read().decode(errors="replace").splitlines() if l.startswith("progress:")]
    except OSError:
        return ""
    return lines[-1].split(":", 1)[1].strip() if lines else ""


def _log_lines(log: Path, start: int = 0) -> list[str]:
    """The non-empty lines a stage wrote to its log from byte `start` on (this run's part)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _warnings(log: Path, start: int = 0) -> list[str]:
    """What the stage flagged for the user (`warning: ...` lines): shown on the terminal and kept
    in status.json."""
    return [line.split("warning:", 1)[1].strip() for line in _log_lines(log, start) if line.startswith("warning:")]


def _last_error(log: Path, start: int = 0) -> str:
    """The stage's own one-line error if it printed one, else its last line."""
    lines = _log_lines(log, start)
    for line in reversed(lines):
        if line.startswith("error:") or ": error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[-1] if lines else "no output"


def _terminate(signum, frame):
    raise KeyboardInterrupt


def run_batch(args: argparse.Namespace) -> int:
    """-b BATCH: --status, or the batch's unfinished jobs run concurrently (shared/batches.py)."""
    from shared import batches

    for flag, given in (("--from", args.from_stage), ("--only", args.only), ("--force", args.force)):
        if given:
            raise UserError(f"{flag} works on one job: ./run-pipeline.sh -j JOB {flag} ... (a batch's job ids: "
                            f"./run-pipeline.sh -b {args.batch} --status)")
    batch = batches.load(args.batch)
    if args.status:
        return batches.show_status(batch, args.json)
    passed = [flag for flag, on in (("--allow-download", args.allow_download), ("--fallback-model", args.fallback_model),
                                    ("--allow-partial-media", args.allow_partial_media)) if on]
    address = args.ray or config.ray_address()
    if address:
        if args.workers is not None:
            raise UserError("--workers is for a batch on this machine: on Ray the cluster's resources decide")
        python = config.venv_python("cluster")
        if python is None:
            raise UserError("the cluster venv (Ray) is not built: run ./bootstrap.sh --with cluster")
        import subprocess

        try:
            return subprocess.run([str(python), "-m", "shared.ray_batch", args.batch, address, *passed],
                                  cwd=config.REPO_ROOT, env={**os.environ, "PYTHONPATH": str(config.REPO_ROOT)},
                                  preexec_fn=processes.die_with_parent).returncode
        except KeyboardInterrupt:
            return 130
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return batches.run(batch, args.workers, passed)
    except KeyboardInterrupt:
        print(f"\ninterrupted: ./run-pipeline.sh -b {args.batch} resumes the unfinished jobs", file=sys.stderr)
        return 130


def main() -> int:
    parser = argparse.ArgumentParser(prog="run-pipeline.sh", description="Run (or resume) a job's workflow.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("-j", "--job", help="job id printed by prepare-job.sh")
    which.add_argument("-b", "--batch", help="batch id printed by prepare-job.sh (its last line): run the batch's "
                       "unfinished jobs concurrently")
    parser.add_argument("--workers", type=int, help="with -b: jobs run at once (default: by the hardware, "
                        "memory per job and GPUs)")
    parser.add_argument("--ray", metavar="ADDRESS", help="with -b: run the jobs as tasks on this Ray cluster "
                        "(default: RAY_ADDRESS when set); needs ./bootstrap.sh --with cluster")
    parser.add_argument("--status", action="store_true", help="show each stage's state and stop")
    parser.add_argument("--json", action="store_true", help="with --status: machine-readable")
    parser.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage on")
    parser.add_argument("--only", metavar="STAGE", help="run only this stage")
    parser.add_argument("--force", action="store_true", help="re-run every stage")
    parser.add_argument("--allow-download", action="store_true",
                        help="let stages download missing models (otherwise the hub stays offline)")
    parser.add_argument("--allow-partial-media", action="store_true",
                        help="subtitle what can be decoded of a truncated or damaged media file (recorded in the job)")
    parser.add_argument("--fallback-model", action="store_true",
                        help="when the job's Whisper model is not cached, use the best embedded one (and say so) "
                             "instead of stopping")
    args = parser.parse_args()
    # Ctrl-C (SIGINT) interrupts even when this process inherited it ignored (started in the background
    # by a script): Python installs its KeyboardInterrupt handler only where SIGINT is not ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.batch:
        return run_batch(args)
    if args.workers is not None or args.ray:
        raise UserError(f"{'--workers' if args.workers is not None else '--ray'} belongs to a batch: add -b BATCH")
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
