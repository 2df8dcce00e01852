"""run-pipeline.sh: run a job's workflow, stage by stage, each in its venv, resumable.

status.json records for each stage its state, times and a fingerprint of its inputs and settings.
A stage is skipped when it finished with the same fingerprint and its outputs are still there, so a
finished job re-run does nothing, and a killed one resumes at the first stage not finished. Stages
write through a temporary file and a rename, and the fingerprint includes the inputs' sizes and
modification times, so a re-made upstream output makes everything after it stale. An exclusive lock
on the job directory (released by the kernel when the holder dies) refuses a second concurrent run.
That state, which --status and batches read too, is kept by shared/jobs/state.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from shared.core import config, languages, processes, schema
from shared.core.errors import ModelNotCachedError, UserError, run_cli
from shared.environment_manager import EnvironmentManager, StageProcess
from shared.jobs import job_dirs, state, workflows
from shared.models import asr_routes, cache, catalog
from shared.translation import plan, romanize


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
            if stage == "asr":  # the language's route where it is cached (shared/models/asr_routes.py)
                source = job["source_language"]
                settings["model"] = asr_routes.choose(None if source == languages.AUTO else source, settings,
                                                      job.get("overrides", {}).get("asr", {}).get("model")).model
            engine = settings.get("engine")
            try:
                catalog.require(settings[setting], stage, engine)
                model = catalog.find(settings[setting], stage, engine)
                if model is not None and catalog.snapshot(model) is not None:
                    cache.check_intact(model)
            except ModelNotCachedError as missing:
                substitute = catalog.embedded_fallback(stage, job["source_language"].partition("-")[0], engine)
                if not (fallback or settings.get("fallback_model")) or substitute is None:
                    raise
                print(f"note: {missing}; this run uses the embedded {substitute.key} instead (fallback)", flush=True)
                job.setdefault("overrides", {}).setdefault(stage, {})[setting] = substitute.key
                job.setdefault("fallbacks", {})[stage] = {"wanted": settings[setting], "used": substitute.key}
                schema.write(job_path / "job.json", job)
    if "speakers" in stages and workflows.stage_settings(job, "speakers")["engine"] == "pyannote":
        catalog.require(catalog.PYANNOTE_DIARIZATION, "speakers")  # gated: fetched once with the user's token
    if "translate" in stages:
        settings = workflows.stage_settings(job, "translate")
        if settings["translator"] in ("llm", "whisper") or job["source_language"] == languages.AUTO:
            return  # the LLM translates (the MT model is loaded only if a window falls back to it), or the
            # ASR model does; with -s auto the pair is known once the language is detected
        for target in job["target_languages"]:
            if not plan.needs_model(job["source_language"], target):
                continue  # the same language in another script: transliteration, no model
            model = plan.route(job["source_language"], romanize.language_of(target), settings.get("model"))
            catalog.require(model.key, "translate")
            cache.check_intact(model)
            if settings.get("backend") == "ctranslate2" and model.convert and catalog.converted(model) is None:
                raise UserError(f"model {model.repo} ({model.key}) has no CTranslate2 conversion: run "
                                f"{catalog.fetch_command(model)} (converts after download), or use "
                                "--translate-backend transformers")


def show_status(job: dict, job_path: Path, as_json: bool) -> int:
    status = state.Status(job_path, job)
    states = state.stage_states(job, job_path, status)
    rows = []
    for stage in job["stages"]:
        record = status.stage(stage)
        rows.append({"stage": stage, "state": states[stage], "seconds": record.get("seconds"),
                     "finished": record.get("finished"), "warnings": record.get("warnings", [])})
    done = {s for s, v in states.items() if v == "done"}
    current = state.outputs(job_path, done)
    tracks = [{"language": t["language"], "role": t["role"], "compliance": t.get("compliance")}
              for t in job_dirs.subtitle_tracks(job_path, state.current_manifests(done))]
    speakers = _speakers(job_path, done)
    if as_json:
        print(json.dumps({"job_id": job["job_id"], "workflow": job["workflow"], "stages": rows,
                          "tracks": tracks, "llm": _llm_usage(job_path, done), "speakers": speakers,
                          "outputs": current}, indent=2))
        return 0
    print(f"job {job['job_id']} ({job['workflow']}, {job_dirs.source(job).name})")
    for row in rows:
        took = f"{row['seconds']:.1f} s" if row["seconds"] is not None else ""
        print(f"  {row['stage']:<22} {row['state']:<12} {took}")
        for warning in row["warnings"]:
            print(f"    warning: {warning}")
    for track in tracks:
        report = track["compliance"]
        if report:
            dialogue = (f", {report['two_speaker_cues']} two-speaker cues" if "two_speaker_cues" in report else "")
            print(f"  {track['language']} ({track['role']}): {report['cues']} cues, {report['violations']} violations "
                  f"({report['lines_over_limit']} lines over the limit, {len(report['short_cues'])} short cues), "
                  f"fastest {report['max_cps']} characters/s{dialogue}")
    if speakers:
        heard = ", ".join(f"{s['label']} {s['seconds']:.0f} s" for s in speakers["speakers"])
        print(f"  speakers: {speakers['count']} ({speakers['requested']} asked){': ' + heard if heard else ''}")
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


def _speakers(job_path: Path, done: set[str]) -> dict | None:
    """Who the speakers stage heard: their count, labels and speech (no segments)."""
    path = job_path / "speakers.json"
    if "speakers" not in done or not path.exists():
        return None
    found = schema.read(path)
    return {"count": found["count"], "requested": found["requested"], "speakers": found["speakers"]}


def _llm_usage(job_path: Path, done: set[str]) -> dict | None:
    path = job_path / "translations.json"
    if "translate" not in done or not path.exists():
        return None
    return schema.read(path).get("llm")


def warm_start(job: dict, job_path: Path, todo: list[str], manager: EnvironmentManager,
               allow_download: bool) -> dict:
    """{stage: its held process} for each stage of workflows.WARM_STARTS that runs after another stage
    of this run (and whose warm_start setting is on): started now, so that it loads its model while the
    stages before it run; run_one lets it begin in its turn."""
    warm = {}
    for stage in todo[1:]:
        settings = workflows.stage_settings(job, stage)
        if stage in workflows.WARM_STARTS and settings.get("warm_start"):
            warm[stage] = manager.start_stage(stage, ["--job", str(job_path)], engine=settings.get("engine"),
                                              log_path=job_path / "logs" / f"{stage}.log",
                                              allow_download=allow_download, held=True)
    return warm


def run_one(job: dict, job_path: Path, stage: str, number: int, total: int, status: state.Status,
            manager: EnvironmentManager, allow_download: bool, held: StageProcess | None = None) -> None:
    """One stage in its turn (held: the process warm_start started, told to go on; else started now),
    with its progress line and its state in status.json; a failure is raised as the one-line UserError."""
    engine = workflows.stage_settings(job, stage).get("engine")
    label = f"[{number}/{total}] {stage} ..."
    print(label, end="", flush=True)
    started = time.monotonic()
    status.update(stage, state="running", started=state.now(), finished=None, seconds=None,
                  venv=manager.venv_for(stage, engine), **({"engine": engine} if engine else {}))
    log_path = job_path / "logs" / f"{stage}.log"
    progress = _ProgressLine(label, log_path, started) if sys.stdout.isatty() else None
    try:
        process = held or manager.start_stage(stage, ["--job", str(job_path)], engine=engine, log_path=log_path,
                                              allow_download=allow_download)
        process.go()
        code = process.wait(on_poll=progress)
    except KeyboardInterrupt:  # the stage and its tools were stopped with us
        status.update(stage, state="interrupted", finished=state.now(), seconds=round(time.monotonic() - started, 2))
        state.clear_temp(job_path)
        raise
    seconds = round(time.monotonic() - started, 2)
    warnings = _warnings(log_path, process.log_start)
    if code != 0:
        status.update(stage, state="failed", finished=state.now(), seconds=seconds, exit_code=code, warnings=warnings)
        print(f"\r{label} failed\x1b[K" if progress else " failed")
        signal_name = processes.signal_name(code)
        reason = (f"killed by {signal_name}" + (" (out of memory?)" if signal_name == "SIGKILL" else "")
                  if signal_name else _last_error(log_path, process.log_start))
        raise UserError(f"stage {stage} failed: {reason} (log: {config.display_path(log_path)})")
    status.update(stage, state="done", finished=state.now(), seconds=seconds, warnings=warnings,
                  fingerprint=state.fingerprint(job, job_path, stage))
    print(f"\r{label} done ({seconds:.1f} s)\x1b[K" if progress else f" done ({seconds:.1f} s)")
    for warning in warnings:
        print(f"  warning: {warning}")


def run(job: dict, job_path: Path, args: argparse.Namespace) -> int:
    stages = job["stages"]
    for name in (args.from_stage, args.only):
        if name and name not in stages:
            raise UserError(f"'{name}' is not a stage of the {job['workflow']} workflow ({', '.join(stages)})")
    lock = state.acquire_lock(job_path, job["job_id"])
    if args.allow_partial_media and not workflows.stage_settings(job, "demux").get("allow_partial_media"):
        job.setdefault("overrides", {}).setdefault("demux", {})["allow_partial_media"] = True
        schema.write(job_path / "job.json", job)
    status = state.Status(job_path, job)
    manager = EnvironmentManager()
    forced_from = stages.index(args.from_stage) if args.from_stage else (0 if args.force else None)
    selected = [args.only] if args.only else stages
    todo = []
    stale_upstream = False
    for index, stage in enumerate(stages):
        if stage not in selected:
            continue
        forced = (forced_from is not None and index >= forced_from) or bool(args.only)
        if forced or stale_upstream or not state.is_fresh(job, job_path, status, stage):
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
    total = len(stages)
    warm = warm_start(job, job_path, todo, manager, args.allow_download)
    try:
        for stage in todo:
            run_one(job, job_path, stage, stages.index(stage) + 1, total, status, manager, args.allow_download,
                    held=warm.pop(stage, None))
    finally:
        for waiting in warm.values():  # a stage before it failed, or we were stopped: it ends, doing nothing
            waiting.cancel()
    show_outputs(job, job_path)
    lock.close()
    return 0


def review(job: dict, job_path: Path, args: argparse.Namespace) -> int:
    """--review: the job's review page, its path printed last. Current: as it is. Out of date, or
    missing, with every stage before it done: the review stage runs (a job made before the stage
    existed gets it). A job not finished, with subtitles made: the page of what it has so far, said
    so (the stage run outside the job's record). Then the page opens where a desktop browser is
    (never an error where none is)."""
    if args.from_stage or args.only or args.force:
        raise UserError("--review shows the job's page: run the job (--from/--only/--force) first, then --review")
    if "review" not in job["stages"]:
        job["stages"] = [*job["stages"], "review"]
        schema.write(job_path / "job.json", job)
    states = state.stage_states(job, job_path, state.Status(job_path, job))
    before = [s for s in job["stages"] if s != "review"]
    waiting = next((s for s in before if states[s] != "done"), None)
    if states["review"] != "done" and waiting is None:
        args.only = "review"
        run(job, job_path, args)
    elif states["review"] != "done":
        if not job_dirs.subtitle_tracks(job_path):
            raise UserError(f"job {job['job_id']} has no subtitles yet (stage {waiting} is {states[waiting]}): "
                            f"run ./run-pipeline.sh -j {job['job_id']} first")
        print(f"note: the job is not finished (stage {waiting} is {states[waiting]}): the page shows what it has "
              f"so far; ./run-pipeline.sh -j {job['job_id']} finishes it", flush=True)
        lock = state.acquire_lock(job_path, job["job_id"])
        code = EnvironmentManager().run_stage("review", ["--job", str(job_path)], log_path=job_path / "logs" / "review.log")
        lock.close()
        if code != 0:
            raise UserError(f"the review page could not be made: {_last_error(job_path / 'logs' / 'review.log')}")
    written = job_path / workflows.STAGE_IO["review"][1][0]
    print(config.display_path(written))
    processes.open_in_browser(config.display_path(written))
    return 0


def show_outputs(job: dict, job_path: Path) -> None:
    for path in state.outputs(job_path, set(job["stages"])):
        print(f"  -> {path}")


class _ProgressLine:
    """On a terminal: rewrite the stage's line with its elapsed time and the last `progress:` value
    the stage wrote to its log."""

    def __init__(self, label: str, log_path: Path, started: float):
        self.label, self.log_path, self.started = label, log_path, started

    def __call__(self) -> None:
        percent = state.last_progress(self.log_path)
        print(f"\r{self.label}{' ' + percent if percent else ''} ({time.monotonic() - self.started:.0f} s)\x1b[K",
              end="", flush=True)


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
    """-b BATCH: --status, or the batch's unfinished jobs run concurrently (shared/jobs/batches.py)."""
    from shared.jobs import batches

    for flag, given in (("--from", args.from_stage), ("--only", args.only), ("--force", args.force)):
        if given:
            raise UserError(f"{flag} works on one job: ./run-pipeline.sh -j JOB {flag} ... (a batch's job ids: "
                            f"./run-pipeline.sh -b {args.batch} --status)")
    batch = batches.load(args.batch)
    if args.status:
        return batches.show_status(batch, args.json)
    if args.review:
        written = batches.write_page(batch)
        print(config.display_path(written))
        processes.open_in_browser(config.display_path(written))
        return 0
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
            return subprocess.run([str(python), "-m", "shared.jobs.ray_batch", args.batch, address, *passed],
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
    parser.add_argument("--review", action="store_true",
                        help="print the path of the job's review page (review.html: its subtitles on its media, "
                             "flagged, editable), built now if missing or out of date, and open it where a desktop "
                             "browser is; with -b, the batch's page of its jobs")
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
    job_path = job_dirs.job_dir(args.job)
    job = job_dirs.load_job(job_path)
    if args.status:
        return show_status(job, job_path, args.json)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.review:
            return review(job, job_path, args)
        return run(job, job_path, args)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    run_cli(main, prog="run-pipeline.sh")
