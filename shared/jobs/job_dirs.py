"""Jobs: a directory under out/ holding job.json, per-stage outputs, logs and status.json.

A job id is human-readable (media stem, date, time, random suffix) and safe as a path. It is created
with an exclusive mkdir, so two prepare-job calls at the same instant can never share a directory.
Every place that reads a job id goes through job_dir(), which refuses `/`, `..` and control
characters before touching the file system.
"""

from __future__ import annotations

import datetime as _dt
import re
import secrets
import unicodedata
from pathlib import Path

from shared.core import config, languages, schema
from shared.core.errors import UserError

JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def out_dir() -> Path:
    return config.out_dir()


def check_job_id(job_id: str) -> str:
    if not job_id or not JOB_ID_RE.fullmatch(job_id) or ".." in job_id:  # fullmatch: "$" lets a newline end it
        shown = job_id.encode("unicode_escape").decode("ascii") if job_id else "(empty)"
        raise UserError(f"invalid job id '{shown}': use the id prepare-job.sh printed "
                        "(letters, digits, '.', '_' and '-' only)")
    return job_id


def job_dir(job_id: str, *, must_exist: bool = True) -> Path:
    path = out_dir() / check_job_id(job_id)
    if must_exist and not (path / "job.json").is_file():
        raise UserError(f"no job '{job_id}' in {config.display_path(out_dir())}: "
                        "check the id, or create one with ./prepare-job.sh")
    return path


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    return slug[:40] or "media"


def new_job_dir(media: Path, requested_id: str | None = None) -> tuple[str, Path]:
    """Create the job directory atomically and return its id and path."""
    root = out_dir()
    root.mkdir(parents=True, exist_ok=True)
    if requested_id:
        job_id = check_job_id(requested_id)
        try:
            (root / job_id).mkdir()
        except FileExistsError:
            raise UserError(f"job '{job_id}' already exists: choose another --job-id or run "
                            f"./run-pipeline.sh -j {job_id}")
        return job_id, root / job_id
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for _ in range(20):
        job_id = f"{_slug(media.stem)}-{stamp}-{secrets.token_hex(2)}"
        try:
            (root / job_id).mkdir()
            return job_id, root / job_id
        except FileExistsError:
            continue
    raise UserError("could not find a free job id: try again")


def load_job(path: Path) -> dict:
    """job.json, checked against its declared shape (shared/schema.Job)."""
    from shared.jobs import workflows

    job = schema.read(path / "job.json")
    if job["workflow"] not in workflows.WORKFLOWS or any(s not in workflows.STAGE_IO for s in job["stages"]):
        raise UserError(f"{config.display_path(path / 'job.json')} is damaged (unknown workflow or stage): "
                        "prepare the job again with ./prepare-job.sh")
    return job


# Manifests of the stages that write subtitle files, in the order their tracks are listed.
SUBTITLE_MANIFESTS = ("translated_subtitles.json", "subtitles.json")


def subtitle_tracks(job_path: Path, manifests: set[str] | None = None) -> list[dict]:
    """Every subtitle track the job has made (or those of the manifests named): translations
    (targets) first, then the source."""
    tracks = []
    for name in SUBTITLE_MANIFESTS:
        if (job_path / name).exists() and (manifests is None or name in manifests):
            tracks += schema.read(job_path / name)["tracks"]
    return tracks


def source(job: dict) -> Path:
    """What the job subtitles: its media file, or a subs job's subtitle file when it has no media."""
    return Path(job["media"] if job.get("media") else job["subs"])


def stem(path: Path) -> str:
    """A file's name without its suffix, and without a language code before it (film.hi.srt -> film),
    its control characters made "_", so results are named <stem>.<lang>.<ext>."""
    name, dot, last = path.stem.rpartition(".")
    return safe_name(name if dot and name and last.lower() in languages.LANGUAGES else path.stem)


def safe_name(text: str) -> str:
    """A name made part of a file name: a control character (a newline, a tab, an escape) becomes "_"."""
    return "".join("_" if unicodedata.category(c) == "Cc" else c for c in text)


def subtitle_path(job: dict, job_path: Path, lang: str, ext: str) -> Path:
    """Where the user finds the result: out/<job-id>/subtitles/<media-stem>.<lang>.<ext>."""
    return job_path / "subtitles" / f"{stem(source(job))}.{lang}.{ext}"
