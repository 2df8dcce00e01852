"""Batches: many media files, one request.

`prepare-job.sh --media DIR|FILE [--media ...]` makes one job per file (a folder: its media files,
recursively, or those matching --glob) and a manifest, out/batches/<batch-id>.json. Files that fail
validation are listed with their reason; the rest still form the batch.

`run-pipeline.sh -b BATCH [--workers N]` runs the batch's unfinished jobs concurrently, each as its own
`run-pipeline.sh -j JOB` process: each job keeps its own lock, resume, logs and status.json, and one
failure never stops the others. The batch itself holds no state beyond its manifest: what is done,
failed or pending is read from the jobs, so a batch run again resumes only what is unfinished, and
`--status` works while it runs.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared.core import config, files, processes, schema
from shared.core.errors import UserError
from shared.jobs import job_dirs, state, workflows
from shared.models import hardware

BATCH_ID_PREFIX = "batch-"
# What a folder's files are taken as without --glob: the containers and audio files ffmpeg reads
# that people keep films, episodes and lectures in.
MEDIA_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts", ".mts", ".m2ts", ".wmv", ".flv",
                  ".mpg", ".mpeg", ".3gp", ".ogv", ".mp3", ".wav", ".flac", ".m4a", ".aac", ".ogg", ".opus",
                  ".wma", ".mka", ".aiff", ".aif"}
# A planning figure for the default worker count on a CPU: one job's peak memory with the default
# models (Whisper base with its batch of windows, or a distilled translation model), with room.
WORKER_MEMORY_GB = 3.0
SOME_REFUSED_EXIT = 3
SOME_FAILED_EXIT = 1


def batches_dir() -> Path:
    return job_dirs.out_dir() / "batches"


def expand(given: list[str], pattern: str | None) -> list[Path]:
    """The files a batch is made of, in a stable order: each folder's media files (recursively; with
    a glob pattern, the files matching it), and each file as given (a missing one is refused later,
    with its reason). Hidden files and folders are skipped; the same file given twice counts once."""
    found: list[Path] = []
    for value in given:
        path = config.user_path(value)
        if path.is_dir():
            inside = sorted(p for p in path.rglob(pattern or "*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts)
                            and (pattern or p.suffix.lower() in MEDIA_SUFFIXES))
            if not inside:
                what = f"matching '{pattern}'" if pattern else f"({', '.join(sorted(MEDIA_SUFFIXES))})"
                raise UserError(f"no media files {what} in {value}: check the folder, or choose files with --glob")
            found += inside
        else:
            found.append(path)
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(str(path.resolve()) if path.exists() else str(path), path)
    return list(unique.values())


def new_batch_id() -> str:
    batches_dir().mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for _ in range(20):
        batch_id = f"{BATCH_ID_PREFIX}{stamp}-{secrets.token_hex(2)}"
        try:
            with open(batches_dir() / f"{batch_id}.json", "x"):
                return batch_id
        except FileExistsError:
            continue
    raise UserError("could not find a free batch id: try again")


def prepare(media: list[Path], make_job, request: dict) -> tuple[str, list[dict], list[dict]]:
    """One job per file by make_job(path) -> job id (a UserError refuses the file), then the manifest.
    Returns the batch id, the jobs and the refused files. When every file is refused for the same
    reason (a language or option wrong for all of them), that reason is the error, and nothing is made."""
    made, refused = [], []
    for path in media:
        try:
            made.append({"job_id": make_job(path), "media": str(path.resolve())})
        except UserError as exc:
            refused.append({"media": str(path), "reason": str(exc)})
    if not made:
        reasons = {r["reason"] for r in refused}
        if len(reasons) == 1:
            raise UserError(reasons.pop())
        raise UserError(f"none of the {len(refused)} files could be prepared: "
                        + "; ".join(f"{Path(r['media']).name}: {r['reason']}" for r in refused[:3]))
    batch_id = new_batch_id()
    schema.write(batches_dir() / f"{batch_id}.json", {
        "batch_id": batch_id, "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "request": request, "jobs": made, "refused": refused})
    return batch_id, made, refused


def check_batch_id(batch_id: str) -> str:
    if not batch_id.startswith(BATCH_ID_PREFIX):
        shown = batch_id.encode("unicode_escape").decode("ascii")
        raise UserError(f"invalid batch id '{shown}': use the id prepare-job.sh printed last (batch-...)")
    job_dirs.check_job_id(batch_id)
    return batch_id


def load(batch_id: str) -> dict:
    path = batches_dir() / f"{check_batch_id(batch_id)}.json"
    if not path.is_file():
        raise UserError(f"no batch '{batch_id}' in {config.display_path(batches_dir())}: check the id, or "
                        "make one with ./prepare-job.sh --media FOLDER")
    return schema.read(path)


# -- running ------------------------------------------------------------------------------------------

def default_workers(hw: dict | None = None) -> tuple[int, str]:
    """How many jobs run at once on this machine, and why: one per GPU on CUDA (each job's ASR holds
    a GPU); on a CPU as many as the memory holds (WORKER_MEMORY_GB each) with at least 2 threads each."""
    hw = hw or hardware.load()
    gpus = len(hw.get("cuda", {}).get("devices") or []) if hw.get("cuda", {}).get("available") else 0
    if gpus:
        return gpus, f"one job per GPU ({gpus})"
    cpus = int(hw.get("cpu", {}).get("count") or 1)
    by_memory = int(float(hw.get("memory_gb") or 0) // WORKER_MEMORY_GB)
    workers = max(1, min(cpus // 2, by_memory))
    return workers, (f"{cpus} CPU cores (2 threads or more per job) and {hw.get('memory_gb')} GB "
                     f"({WORKER_MEMORY_GB:g} GB per job)")


def job_state(job_id: str) -> dict:
    """A job's state as its own files say: done, failed, interrupted, running, stale, pending or
    missing; with its media, the seconds its stages took, the stage it is at, and its outputs."""
    path = job_dirs.out_dir() / job_id
    if not (path / "job.json").is_file():
        return {"job_id": job_id, "state": "missing", "media": None, "seconds": None, "stage": None, "outputs": []}
    job = job_dirs.load_job(path)
    status = state.Status(path, job)
    states = state.stage_states(job, path, status)
    values = list(states.values())
    if state.locked(path):
        overall = "running"
    elif all(v == "done" for v in values):
        overall = "done"
    else:
        overall = next((v for v in ("failed", "interrupted", "stale") if v in values),
                       "pending" if all(v == "pending" for v in values) else "interrupted")
    stage = next((s for s, v in states.items() if v != "done"), None)
    seconds = sum(status.stage(s).get("seconds") or 0 for s in job["stages"])
    done = {s for s, v in states.items() if v == "done"}
    return {"job_id": job_id, "state": overall, "media": job_dirs.source(job).name, "seconds": round(seconds, 1),
            "stage": stage, "stages": len(job["stages"]), "done_stages": len(done),
            "outputs": state.outputs(path, done)}


def show_status(batch: dict, as_json: bool) -> int:
    rows = [job_state(entry["job_id"]) for entry in batch["jobs"]]
    if as_json:
        print(json.dumps({"batch_id": batch["batch_id"], "jobs": rows, "refused": batch["refused"],
                          "counts": _counts(rows)}, indent=2))
        return 0
    print(f"batch {batch['batch_id']}: {len(rows)} jobs ({_summary(rows)})")
    _table(rows)
    for entry in batch["refused"]:
        print(f"  refused at prepare: {entry['media']}: {entry['reason']}")
    return 0


def _counts(rows: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


def _summary(rows: list[dict]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(_counts(rows).items()))


def _table(rows: list[dict], reasons: dict | None = None) -> None:
    width = max([len(r["job_id"]) for r in rows] + [3])
    print(f"  {'job':<{width}}  {'media':<28} {'state':<11} {'time':>8}  outputs")
    for row in rows:
        took = f"{row['seconds']:.1f} s" if row["seconds"] else ""
        media = (row["media"] or "")[:28]
        outputs = ", ".join(Path(p).name for p in row["outputs"]) or ((reasons or {}).get(row["job_id"]) or "")
        print(f"  {row['job_id']:<{width}}  {media:<28} {row['state']:<11} {took:>8}  {outputs}")


class _Board:
    """What the terminal shows while a batch runs: on a terminal, one line per running job (its stage,
    the stage's progress, the time) and a total, redrawn in place; elsewhere a line when a job starts
    or ends."""

    def __init__(self, total: int, tty: bool):
        self.total, self.tty = total, tty
        self.running: dict[str, float] = {}
        self.finished: dict[str, str] = {}
        self.lock = threading.Lock()
        self.drawn = 0

    def started(self, job_id: str) -> None:
        with self.lock:
            self.running[job_id] = time.monotonic()
            if not self.tty:
                print(f"started  {job_id}", flush=True)

    def ended(self, job_id: str, state: str, seconds: float) -> None:
        with self.lock:
            self.running.pop(job_id, None)
            self.finished[job_id] = state
            if not self.tty:
                print(f"{state:<8} {job_id} ({seconds:.1f} s)", flush=True)

    def draw(self) -> None:
        if not self.tty:
            return
        with self.lock:
            lines = []
            for job_id, since in self.running.items():
                lines.append(f"  {job_id}  {_running_stage(job_id)} ({time.monotonic() - since:.0f} s)")
            states = list(self.finished.values())
            lines.append(f"  {len(states)}/{self.total} finished ({states.count('done')} done, "
                         f"{len(states) - states.count('done')} failed), {len(self.running)} running")
            out = ("\x1b[F" * self.drawn) + "".join(f"{line}\x1b[K\n" for line in lines)
            if len(lines) < self.drawn:  # fewer lines than last time: clear the rest
                out += "\x1b[K\n" * (self.drawn - len(lines)) + "\x1b[F" * (self.drawn - len(lines))
            sys.stdout.write(out)
            sys.stdout.flush()
            self.drawn = len(lines)


def _running_stage(job_id: str) -> str:
    """The stage a job is running, as [n/N] stage and its last progress value."""
    path = job_dirs.out_dir() / job_id
    try:
        job = json.loads((path / "job.json").read_text(encoding="utf-8"))
        stages = json.loads((path / "status.json").read_text(encoding="utf-8")).get("stages", {})
    except (OSError, ValueError):
        return "starting"
    current = next((s for s in job["stages"] if stages.get(s, {}).get("state") == "running"), None)
    if current is None:
        return "starting"
    progress = state.last_progress(path / "logs" / f"{current}.log")
    return f"[{job['stages'].index(current) + 1}/{len(job['stages'])}] {current}{' ' + progress if progress else ''}"


def run(batch: dict, workers: int | None, pipeline_args: list[str]) -> int:
    """Run the batch's unfinished jobs, `workers` at a time (default: default_workers()); each job is
    a `python -m shared.jobs.pipeline -j JOB` process with the machine's threads shared out, its terminal
    output kept in the job's logs/run.log. Returns non-zero when any job failed."""
    chosen, why = (workers, "--workers") if workers else default_workers()
    if chosen < 1:
        raise UserError("--workers must be 1 or more")
    hw = hardware.load()
    cpus = int(hw.get("cpu", {}).get("count") or 1)
    gpus = len(hw.get("cuda", {}).get("devices") or []) if hw.get("cuda", {}).get("available") else 0
    entries = batch["jobs"]
    states = {e["job_id"]: job_state(e["job_id"])["state"] for e in entries}
    todo = [j for j, state in states.items() if state not in ("done", "missing")]
    skipped = sum(1 for state in states.values() if state == "done")
    print(f"batch {batch['batch_id']}: {len(entries)} jobs, {len(todo)} to run"
          + (f", {skipped} already done" if skipped else "") + f"; {chosen} at a time ({why})", flush=True)
    threads = max(1, cpus // chosen)
    board = _Board(len(todo), sys.stdout.isatty())
    reasons: dict[str, str] = {}
    slots = list(range(chosen))
    slot_lock = threading.Lock()
    stop = threading.Event()
    live: dict[str, subprocess.Popen] = {}

    def one(job_id: str) -> None:
        with slot_lock:
            if stop.is_set():
                return
            slot = slots.pop(0)
        env = {**os.environ, config.ENV_THREADS: str(threads)}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
        started = time.monotonic()
        board.started(job_id)
        log = job_dirs.out_dir() / job_id / "logs" / "run.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log, "ab") as handle:
                handle.write(f"--- {_dt.datetime.now().isoformat(timespec='seconds')} batch "
                             f"{batch['batch_id']}\n".encode())
                handle.flush()
                with slot_lock:
                    live[job_id] = subprocess.Popen(
                        [sys.executable, "-m", "shared.jobs.pipeline", "-j", job_id, *pipeline_args],
                        cwd=config.REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                        stderr=subprocess.STDOUT, preexec_fn=processes.die_with_parent)
                code = live[job_id].wait()
            if code != 0:
                reasons[job_id] = last_error(log)
            board.ended(job_id, "done" if code == 0 else "failed", time.monotonic() - started)
        finally:
            with slot_lock:
                live.pop(job_id, None)
                slots.append(slot)

    pool = ThreadPoolExecutor(max_workers=chosen)
    futures = [pool.submit(one, job_id) for job_id in todo]
    try:
        while not all(f.done() for f in futures):
            board.draw()
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: start nothing more, stop the running jobs (they
        stop.set()             # mark their stage interrupted and resume when the batch runs again)
        with slot_lock:
            for process in live.values():
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    board.draw()
    pool.shutdown()
    for future in futures:
        future.result()
    return finish(batch, reasons)


def write_page(batch: dict, rows: list[dict] | None = None) -> Path:
    """out/batches/<id>.html: each job, its state, its flagged cues and a link to its review page."""
    rows = rows if rows is not None else [job_state(e["job_id"]) for e in batch["jobs"]]
    path = batches_dir() / f"{batch['batch_id']}.html"
    files.write_text_atomic(path, page_html(batch, rows))
    return path


def finish(batch: dict, reasons: dict[str, str]) -> int:
    """The summary table after a run (reasons: the one-line error of each job that failed), and the
    exit status: non-zero when any job did not finish."""
    rows = [job_state(e["job_id"]) for e in batch["jobs"]]
    for row in rows:  # a run refused before any stage (a model not cached there) leaves no stage failed
        if row["job_id"] in reasons and row["state"] in ("pending", "stale", "interrupted"):
            row["state"] = "failed"
    print(f"batch {batch['batch_id']}: {_summary(rows)}")
    _table(rows, reasons)
    print(f"  review: {config.display_path(write_page(batch, rows))}")
    for entry in batch["refused"]:
        print(f"  refused at prepare: {entry['media']}: {entry['reason']}")
    failed = [r for r in rows if r["state"] != "done"]
    if failed:
        print(f"{len(failed)} of {len(rows)} jobs did not finish: see each job's logs/run.log; "
              f"./run-pipeline.sh -b {batch['batch_id']} runs them again", file=sys.stderr)
        return SOME_FAILED_EXIT
    return 0


REVIEW_PAGE = workflows.STAGE_IO["review"][1][0]  # review.html, in the job directory


def flagged(job_path: Path) -> int | None:
    """How many cues of the job's tracks carry a flag (None: no cue list yet)."""
    found = [t for t in job_dirs.subtitle_tracks(job_path) if t.get("cue_list") and (job_path / t["cue_list"]).exists()]
    if not found:
        return None
    return sum(1 for t in found for c in schema.read(job_path / t["cue_list"])["cues"] if c["flags"])


BATCH_STYLE = """body{font:14px/1.45 "Noto Sans","Noto Sans Devanagari","Noto Sans Bengali","Noto Sans Tamil",
"Noto Nastaliq Urdu",system-ui,sans-serif;margin:24px;color:#1d232b;background:#f6f7f9}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border-bottom:1px solid #dde1e6;padding:6px 10px;
text-align:left}th{background:#eef1f4}.done{color:#2b8a3e}.failed,.interrupted{color:#c92a2a}.flags{font-weight:600;
color:#d9480f}.none{color:#66707c}"""


def page_html(batch: dict, rows: list[dict]) -> str:
    """out/batches/<id>.html: each job of a batch, its state, its flagged cues and a link to its page."""
    lines = []
    for row in rows:
        job_path = job_dirs.out_dir() / row["job_id"]
        has_page = (job_path / REVIEW_PAGE).exists()
        count = flagged(job_path) if row["state"] != "missing" else None
        link = (f'<a href="../{html.escape(row["job_id"])}/{REVIEW_PAGE}">review</a>' if has_page
                else '<span class="none">no page yet</span>')
        lines.append(f'<tr data-job="{html.escape(row["job_id"])}"><td>{html.escape(row["job_id"])}</td>'
                     f'<td dir="auto">{html.escape(row["media"] or "")}</td>'
                     f'<td class="{html.escape(row["state"])}">{html.escape(row["state"])}'
                     f'{" at " + html.escape(row["stage"]) if row.get("stage") and row["state"] != "done" else ""}</td>'
                     f'<td class="{"flags" if count else "none"}">{"" if count is None else count}</td><td>{link}</td></tr>')
    refused = "".join(f'<li dir="auto">{html.escape(r["media"])}: {html.escape(r["reason"])}</li>' for r in batch["refused"])
    title = html.escape(f"Batch {batch['batch_id']}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            f'<title>{title}</title><style>{BATCH_STYLE}</style></head><body><h1>{title}</h1>'
            f'<p>{len(rows)} jobs, made {html.escape(batch["created"])}.</p>'
            f'<table><thead><tr><th>job</th><th>media</th><th>state</th><th>flagged cues</th><th>page</th></tr></thead>'
            f'<tbody>{"".join(lines)}</tbody></table>'
            + (f"<h2>Refused at prepare</h2><ul>{refused}</ul>" if refused else "") + "</body></html>")


def last_error(log: Path) -> str:
    """The job's one-line error from its run log (this run's part: after the last marker)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [l.strip() for l in text.rsplit("\n--- ", 1)[-1].splitlines() if l.strip()]
    for line in reversed(lines):
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[-1] if lines else ""
