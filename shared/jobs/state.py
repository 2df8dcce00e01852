"""A job's state as its own files tell it: status.json, the lock, what is current, what it made.

run-pipeline.sh writes this state as it runs a job; --status, a batch and a Ray driver read it,
the same way, through these functions. status.json records for each stage its state, times and a
fingerprint of its inputs and settings; a stage's result is current when it finished with the
fingerprint of now and its outputs are still there. The lock is an exclusive flock on the job
directory, released by the kernel when its holder dies.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import sys
from pathlib import Path

from shared.core import config, files, schema
from shared.core.errors import UserError
from shared.jobs import job_dirs, workflows
from shared.subtitles import writer
from shared.translation import glossary

# Settings that change how fast a stage runs, not what it makes: a result stays current when only
# they differ (a batch shares the cores out among its jobs through SUBTITLER_THREADS).
RUNTIME_ONLY = ("threads", "workers")
# The review page's template (shared/review/template.html): a new one makes every job's page stale.
REVIEW_TEMPLATE = config.REPO_ROOT / "shared" / "review" / "template.html"


def fingerprint(job: dict, job_path: Path, stage: str) -> str:
    digest = hashlib.sha256()
    settings = {k: v for k, v in workflows.stage_settings(job, stage).items() if k not in RUNTIME_ONLY}
    digest.update(json.dumps({"settings": settings, "clip": job.get("clip"),
                              "source": job.get("source_language"), "targets": job.get("target_languages")},
                             sort_keys=True).encode())
    for name in workflows.STAGE_IO.get(stage, ([], []))[0]:
        path = {"@media": Path(job.get("media", "")), "@subs": Path(job.get("subs", "")),
                "@glossary": glossary.GLOBAL_PATH, "@review_page": REVIEW_TEMPLATE}.get(name, job_path / name)
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
            if not workflows.STAGE_IO[stage][1] or not outputs_present(job_path, stage):
                break
            self.data["stages"][stage] = {"state": "done", "finished": now(), "seconds": None,
                                          "fingerprint": fingerprint(job, job_path, stage), "rebuilt": True}
        schema.write(self.path, self.data)

    def stage(self, name: str) -> dict:
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields) -> None:
        self.data["stages"].setdefault(name, {}).update(fields)
        schema.write(self.path, self.data)


def outputs_present(job_path: Path, stage: str) -> bool:
    return all((job_path / name).exists() for name in workflows.STAGE_IO.get(stage, ([], []))[1])


def is_fresh(job: dict, job_path: Path, status: Status, stage: str) -> bool:
    record = status.stage(stage)
    return (record.get("state") == "done" and record.get("fingerprint") == fingerprint(job, job_path, stage)
            and outputs_present(job_path, stage))


def acquire_lock(job_path: Path, job_id: str):
    handle = open(job_path / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"job '{job_id}' is already running ({holder(job_path, job_id)}): wait for it, "
                        "or stop that run first")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    clear_temp(job_path)
    return handle


def clear_temp(job_path: Path) -> None:
    """Temporary files of writers that were killed. Only a killed writer leaves them, and none is
    alive while this run holds the lock."""
    for folder in (job_path, job_path / "subtitles"):
        files.remove_stale(folder)


def holder(job_path: Path, job_id: str) -> str:
    """'pid N' of the run holding the job, when the lock file names a live run-pipeline process of
    this job (the holder writes its pid just after it takes the lock, so a reader may still find a
    finished run's pid there, possibly reused since); else 'another process'."""
    try:
        pid = int((job_path / ".lock").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return "another process"
    ours = b"shared.jobs.pipeline" in command and job_id.encode() in command
    return f"pid {pid}" if ours else "another process"


def locked(job_path: Path) -> bool:
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


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def stage_states(job: dict, job_path: Path, status: Status) -> dict[str, str]:
    """What each stage's result is worth now: done, stale, failed, interrupted (marked running, but
    no live run holds the job), running, or pending. Downstream of a stage that is not done, no
    result is current: a done stage there is stale."""
    held = locked(job_path)
    states, upstream_done = {}, True
    for stage in job["stages"]:
        state = status.stage(stage).get("state", "pending")
        if state == "running" and not held:
            state = "interrupted"
        elif state == "done" and not (upstream_done and is_fresh(job, job_path, status, stage)):
            state = "stale"
        upstream_done = upstream_done and state == "done"
        states[stage] = state
    return states


# The stages whose manifests list the files a user came for.
OUTPUT_MANIFESTS = {"subtitles": "subtitles.json", "translated_subtitles": "translated_subtitles.json",
                    "mux": "mux.json"}


def current_manifests(done: set[str]) -> set[str]:
    """The output manifests of the stages whose results are current."""
    return {OUTPUT_MANIFESTS[s] for s in done if s in OUTPUT_MANIFESTS}


def outputs(job_path: Path, done: set[str]) -> list[str]:
    """What the user came for, from the stages whose results are current: subtitle files
    (translations first), then the muxed video, then the review page."""
    manifests = current_manifests(done)
    found = [job_path / t[fmt] for t in job_dirs.subtitle_tracks(job_path, manifests) for fmt in writer.FORMATS
             if fmt in t]
    if "mux.json" in manifests and (job_path / "mux.json").exists():
        muxed = schema.read(job_path / "mux.json")
        found += [job_path / muxed[key] for key in ("output", "burned") if key in muxed]
    if "review" in done:
        found.append(job_path / "review.html")
    return [config.display_path(f) for f in found if f.exists()]


def last_progress(log_path: Path) -> str:
    """The last `progress:` value a stage wrote to its log (e.g. "42%"), or ""."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = [l for l in log.read().decode(errors="replace").splitlines() if l.startswith("progress:")]
    except OSError:
        return ""
    return lines[-1].split(":", 1)[1].strip() if lines else ""
