"""Fetching, verifying, moving and pruning the models of the catalog in the hub cache.

All hub traffic goes through huggingface_hub's snapshot_download, at the catalog's pinned revision
and file patterns: it resumes interrupted downloads from their .incomplete files, shows progress
bars, and uses HF_TOKEN or the token `hf auth login` stored. We never write a token anywhere.

Checksums: the hub names each cached blob after the ETag it declared at download, the sha256 of the
content for large (LFS) files and the git blob sha1 for small ones. A record of each fetch (commit,
files, sizes, ETags) is kept beside the cache; --verify recomputes the hashes against it, offline.
Runs in the common venv (huggingface_hub is imported here, not in model_catalog).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import shutil
import sysconfig
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from shared.core import config, files
from shared.core.errors import UserError
from shared.models import catalog, hardware, hub_cache
from shared.models.catalog import Model

BUNDLE_FORMAT = "subtitler-model-bundle"
DISK_MARGIN_BYTES = 200 * 2**20


def _token_hint(model: Model) -> str:
    return (f"{model.repo} is gated: accept its terms at {model.page} while logged in, then set HF_TOKEN "
            "or run `hf auth login`, and re-run")


def _call_hub(model: Model, func, *args, **kwargs):
    """Call huggingface_hub and turn its typed errors into one-line messages that say what to do."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - mapped below; anything unknown is re-raised as it was
        raise _user_error(model, exc) from None


def _offline_error(model: Model) -> UserError:
    return UserError(f"cannot fetch {model.repo}: HF_HUB_OFFLINE=1 is set; unset it to download, "
                     "or --import a bundle made with --export")


def _user_error(model: Model, exc: Exception) -> Exception:
    from huggingface_hub import constants, errors

    if isinstance(exc, UserError):
        return exc
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, errors.DryRunError) and isinstance(cause, errors.HfHubHTTPError):
        return _user_error(model, cause)  # a dry run wraps the hub's own answer
    if constants.HF_HUB_OFFLINE:
        return _offline_error(model)
    if isinstance(exc, errors.GatedRepoError):
        return UserError(_token_hint(model))
    if isinstance(exc, errors.RepositoryNotFoundError):
        return UserError(_token_hint(model) if model.gated else
                         f"{model.repo} was not found on the hub (is the catalog entry right?)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return UserError(f"revision {model.revision} of {model.repo} was not found on the hub")
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return UserError(_token_hint(model))
        return UserError(f"the hub refused {model.repo} ({status or type(exc).__name__}): try again later")
    if isinstance(exc, (OSError, ConnectionError)):
        return UserError(f"cannot reach the hub for {model.repo} ({type(exc).__name__}): check the network, "
                         "or copy a bundle made with --export and --import it")
    return exc


HUB_PROBE_SECONDS = 3.0


def hub_unreachable(timeout: float = HUB_PROBE_SECONDS) -> str | None:
    """Why the hub cannot be reached (None when it answers), found out in a few seconds: one HTTP
    request to HF_ENDPOINT, any answer at all counting as reachable, in a thread so that a hanging
    name lookup cannot hold us. Asked before any hub call, because huggingface_hub retries a dead
    network for half a minute, loudly."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE=1 is set"
    endpoint = constants.ENDPOINT.rstrip("/")
    outcome: list[str | None] = []

    def ask():
        try:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models", method="HEAD"),
                                   timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)  # it answered
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            outcome.append(getattr(reason, "strerror", None) or str(reason) or type(exc).__name__)

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not outcome:
        return f"{endpoint}: no answer in {timeout:.0f} s"
    return f"{endpoint}: {outcome[0]}" if outcome[0] else None


def quiet_hub_logging() -> None:
    """huggingface_hub's retry warnings are noise once we have said what is wrong in one line."""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()


def require_hub(model: Model) -> None:
    """A one-line error, within seconds, when the hub cannot be reached to fetch the model."""
    quiet_hub_logging()
    unreachable = hub_unreachable()
    if unreachable is None:
        return
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise _offline_error(model)
    raise UserError(f"cannot reach the hub ({unreachable}): check the network, or --import a bundle made with "
                    "--export on a connected machine (--dry-run plans offline)")


def register_embedded(model: Model) -> str:
    """Register an embedded model from this venv's packages (cache-models runs in the common venv)."""
    return catalog.register_embedded(model, Path(sysconfig.get_paths()["purelib"]))


def commit_to_fetch(model: Model) -> str:
    """The revision asked of the hub: the catalog's pin. A pin of fewer than 40 hex digits (a commit
    known only by its short hash, as model pages show it) is checked against the commit the repo's
    main branch is at, and that full commit is fetched; a repo that has moved on is refused, never
    fetched at a commit nobody checked."""
    if not catalog.short_pin(model.revision):
        return model.revision
    from huggingface_hub import HfApi

    head = _call_hub(model, HfApi().model_info, model.repo, revision="main").sha
    if not head.startswith(model.revision.lower()):
        raise UserError(f"{model.repo} has moved on: its main branch is at {head[:12]}, not the pinned "
                        f"{model.revision}; nothing was fetched (the catalog entry {model.key} in "
                        f"config/models.json needs a new pin, checked against the model card)")
    return head


def plan(model: Model) -> tuple[int, int]:
    """(bytes still to download, total bytes) of the model at its pinned revision, asked of the hub."""
    from huggingface_hub import snapshot_download

    infos = _call_hub(model, snapshot_download, model.repo, revision=commit_to_fetch(model),
                      allow_patterns=list(model.files), cache_dir=catalog.hub_dir(), dry_run=True)
    total = sum(i.file_size or 0 for i in infos)
    todo = sum(i.file_size or 0 for i in infos if i.will_download)
    return todo, total


def check_disk(needed: int) -> None:
    hub = catalog.hub_dir()
    hub.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(hub).free
    if free < needed + DISK_MARGIN_BYTES:
        raise UserError(f"not enough free disk in {config.display_path(hub)}: {free / 2**30:.1f} GB free, "
                        f"{needed / 2**30:.1f} GB to download; free space or move the cache (SUBTITLER_CACHE_DIR)")


def fetch(model: Model, *, force: bool = False) -> Path:
    """Download the model at its pinned revision (resuming a partial download) and record it."""
    from huggingface_hub import snapshot_download

    path = Path(_call_hub(model, snapshot_download, model.repo, revision=commit_to_fetch(model),
                          allow_patterns=list(model.files), cache_dir=catalog.hub_dir(),
                          force_download=force))
    record_snapshot(model, path)
    if model.convert and (force or catalog.converted(model) is None):
        convert(model, path)
    if model.group == "align":
        fetch_sentence_splitter(force=force)
    return path


# WhisperX's alignment splits each segment into sentences with NLTK's Punkt models (punkt_tab) and
# downloads them at run time when missing: fetched here with the alignment models instead, into the
# project cache, which the environment manager hands to every stage as NLTK_DATA.


def sentence_splitter_dir() -> Path:
    return config.cache_paths()["nltk_data"] / "tokenizers" / "punkt_tab"


def fetch_sentence_splitter(*, force: bool = False) -> Path:
    """NLTK's punkt_tab into the cache (once); a half-done fetch never replaces a good copy."""
    target = sentence_splitter_dir()
    if (target / "english").is_dir() and not force:
        return target
    url = config.punkt_url()
    print(f"  fetching NLTK punkt_tab (WhisperX alignment's sentence splitter) from {url}", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".punkt_tab-") as tmp:
        archive = Path(tmp) / "punkt_tab.zip"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
                if any(n.startswith("/") or ".." in Path(n).parts for n in names) or \
                        not any(n.startswith("punkt_tab/english/") for n in names):
                    raise zipfile.BadZipFile("not a punkt_tab archive")
                zf.extractall(tmp)
        except (OSError, zipfile.BadZipFile) as exc:
            raise UserError(f"cannot fetch NLTK's punkt_tab from {url} ({exc}): WhisperX alignment needs it; "
                            f"check the network (or set {config.ENV_PUNKT_URL} to a copy) and run the command again")
        if target.exists():
            shutil.rmtree(target)
        os.replace(Path(tmp) / "punkt_tab", target)
    return target


def convert(model: Model, snapshot: Path) -> Path:
    """Convert the downloaded checkpoint once, in the venv that has the converter, and record it."""
    from shared.environment_manager import EnvironmentManager

    fmt, quantization = model.convert["format"], model.convert.get("quantization")
    if quantization == "hardware":  # the weight type this machine's stage computes in (int8 on a CPU)
        quantization = hardware.stage_settings(model.stage).get("compute_type") or None
        quantization = None if quantization in ("default", "auto") else quantization
    if fmt != "ctranslate2":
        raise UserError(f"{model.key}: unknown conversion '{fmt}' in config/models.json")
    out = catalog.converted_dir(model, snapshot.name)
    log = config.LOG_DIR / f"convert-{model.key}.log"
    args = [str(snapshot), str(out)] + (["--quantization", quantization] if quantization else [])
    print(f"  converting {model.key} to CTranslate2 ({quantization or 'float32'}) ...", flush=True)
    manager = EnvironmentManager()
    code = manager.run_module("translate", "shared.models.ct2_convert", args, log_path=log)
    if code != 0:
        raise UserError(f"{model.key} was downloaded but its CTranslate2 conversion failed: see "
                        f"{config.display_path(log)}")
    record = catalog.read_record(model.repo)
    record["converted"] = {"format": fmt, "quantization": quantization, "path": str(out)}
    catalog.write_record(model.repo, record)
    return out


def _blob_etag(path: Path) -> str:
    """The ETag a cached file was stored under: its blob's file name."""
    return Path(os.path.realpath(path)).name


def record_snapshot(model: Model, snapshot: Path) -> dict:
    files = {}
    for item in sorted(snapshot.rglob("*")):
        if item.is_file():
            name = item.relative_to(snapshot).as_posix()
            files[name] = {"size": item.stat().st_size, "etag": _blob_etag(item)}
    missing = [name for name in model.required if name not in files]
    if missing:
        raise UserError(f"{model.repo} at {snapshot.name[:12]} lacks {', '.join(missing)}: the catalog's "
                        "file list does not match the repo")
    record = {"key": model.key, "repo": model.repo, "revision": model.revision, "commit": snapshot.name,
              "files": files, "fetched": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    catalog.write_record(model.repo, record)
    return record


def file_checksum_ok(path: Path, etag: str) -> bool:
    """sha256 for a 64-hex ETag (LFS), git blob sha1 for a 40-hex one; other ETags are not hashes."""
    if len(etag) == 64:
        digest = hashlib.sha256()
    elif len(etag) == 40:
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    else:
        return True
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest() == etag


def verify(model: Model) -> list[str]:
    """Problems with the cached model ([] when it is intact)."""
    record = catalog.read_record(model.repo)
    if record is None:
        return ["not cached"]
    snapshot = hub_cache.resolve_snapshot(catalog.hub_dir(), model.repo, record["commit"])
    if snapshot is None:
        return ["snapshot missing"]
    return [f"{name}: {problem}" for name, meta in record["files"].items()
            if (problem := _file_problem(snapshot / name, meta))]


def _file_problem(path: Path, meta: dict) -> str | None:
    """What is wrong with one cached file against its record (size, published checksum), or None."""
    if not path.exists():
        return "missing"
    if path.stat().st_size != meta["size"]:
        return f"size {path.stat().st_size} != {meta['size']}"
    if not file_checksum_ok(path, meta["etag"]):
        return "checksum mismatch"
    return None


def check_intact(model: Model) -> None:
    """Before a run uses a cached model: each file still matches the checksum it was published with,
    else a one-line error that names the repair. A file is hashed when its size, modification time
    or inode differ from those recorded at its last good check (the first run after a fetch, or
    after anything wrote to it), so an unchanged cache costs a stat per file."""
    record = catalog.read_record(model.repo)
    if record is None:
        return
    snapshot = hub_cache.resolve_snapshot(catalog.hub_dir(), model.repo, record["commit"])
    repair = f"run ./cache-models.sh --verify --repair --model {model.key}"
    if snapshot is None:
        raise UserError(f"model {model.repo} ({model.key}) is damaged (its snapshot is missing): {repair}")
    stamps, changed = dict(record.get("verified") or {}), False
    for name, meta in record["files"].items():
        path = snapshot / name
        try:
            stat = path.stat()
            stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        except OSError:
            stamp = None
        if stamp and stamps.get(name) == stamp:
            continue
        problem = _file_problem(path, meta)
        if problem:
            raise UserError(f"model {model.repo} ({model.key}) is damaged ({name}: {problem}): {repair}")
        stamps[name], changed = stamp, True
    if changed:
        try:
            catalog.write_record(model.repo, {**record, "verified": stamps})
        except OSError:
            pass  # a read-only cache: checked again next time


def drop_files(model: Model, names: list[str]) -> None:
    """Delete cached files (their blobs and snapshot links) so the next fetch downloads them again."""
    record = catalog.read_record(model.repo)
    snapshot = hub_cache.resolve_snapshot(catalog.hub_dir(), model.repo, record["commit"])
    for name in names:
        link = snapshot / name
        if link.is_symlink():
            blob = Path(os.path.realpath(link))
            if blob.parent.name == "blobs":
                blob.unlink(missing_ok=True)
        link.unlink(missing_ok=True)


def remove(model: Model) -> int:
    """Delete a model from the cache; returns the bytes freed."""
    root = hub_cache.repo_dir(catalog.hub_dir(), model.repo)
    freed = dir_size(root) if root.exists() else 0
    if root.exists():
        shutil.rmtree(root)
    copies = catalog.mlx_copy_dir(model, "-").parent  # its MLX copies (--mlx-from) go with it
    if copies.exists():
        freed += dir_size(copies)
        shutil.rmtree(copies)
    catalog.record_path(model.repo).unlink(missing_ok=True)
    return freed


def prune() -> int:
    """Remove what no catalog revision uses: other snapshots of catalog repos, their unreferenced
    blobs, and abandoned partial downloads. Returns the bytes freed."""
    freed = 0
    hub = catalog.hub_dir()
    for partial in hub.glob("models--*/blobs/*.incomplete"):
        freed += partial.stat().st_size
        partial.unlink()
    for model in catalog.load():
        record = catalog.read_record(model.repo)
        root = hub_cache.repo_dir(hub, model.repo)
        if record is None or not (root / "snapshots").is_dir():
            continue
        for snap in (root / "snapshots").iterdir():
            if snap.name != record["commit"]:
                shutil.rmtree(snap)
        keep = {Path(os.path.realpath(p)).name for p in (root / "snapshots").rglob("*") if p.is_symlink()}
        for blob in (root / "blobs").iterdir() if (root / "blobs").is_dir() else []:
            if blob.name not in keep:
                freed += blob.stat().st_size
                blob.unlink()
    return freed


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def disk_size(model: Model) -> int:
    """Bytes the model's cached files take (files linked from elsewhere, such as the embedded model,
    count at their real size)."""
    snapshot = catalog.snapshot(model)
    if snapshot is None:
        return 0
    return sum(p.stat().st_size for p in snapshot.rglob("*") if p.is_file())


# -- bundles for air-gapped machines -----------------------------------------------------------

def export_bundle(models: list[Model], bundle: Path) -> dict:
    """A tar of the cached models (files dereferenced) with a manifest of their checksums."""
    manifest = {"format": BUNDLE_FORMAT, "version": 1, "models": []}
    entries = []
    for model in models:
        snapshot = catalog.snapshot(model)
        record = catalog.read_record(model.repo)
        if snapshot is None:
            continue
        problems = verify(model) if record is not None else []
        if problems:  # a bundle carries the published checksums: damage must not travel under them
            raise UserError(f"model {model.repo} ({model.key}) is damaged ({'; '.join(problems)}): nothing was "
                            f"exported; run ./cache-models.sh --verify --repair first")
        if record is None:  # the embedded model: checksum it now
            record = {"key": model.key, "repo": model.repo, "revision": "main", "commit": snapshot.name, "files": {}}
            for item in sorted(snapshot.rglob("*")):
                if item.is_file():
                    name = item.relative_to(snapshot).as_posix()
                    digest = hashlib.sha256(item.read_bytes()).hexdigest()
                    record["files"][name] = {"size": item.stat().st_size, "etag": digest}
        manifest["models"].append(record)
        for name in record["files"]:
            entries.append((snapshot / name, f"models/{hub_cache.repo_folder_name(model.repo)}/{record['commit']}/{name}"))
    if not manifest["models"]:
        raise UserError("nothing to export: no catalog model is cached (see ./cache-models.sh --status)")
    punkt = sentence_splitter_dir()
    if any(m.group == "align" for m in models) and (punkt / "english").is_dir():
        manifest["punkt_tab"] = {}  # the alignment models' sentence splitter travels with them
        for item in sorted(p for p in punkt.rglob("*") if p.is_file()):
            name = item.relative_to(punkt).as_posix()
            manifest["punkt_tab"][name] = {"size": item.stat().st_size,
                                           "etag": hashlib.sha256(item.read_bytes()).hexdigest()}
            entries.append((item, f"nltk/punkt_tab/{name}"))
    with files.atomic_path(bundle) as tmp, tarfile.open(tmp, "w") as tar:
        data = json.dumps(manifest, indent=2).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for source, arcname in entries:
            tar.add(os.path.realpath(source), arcname=arcname, recursive=False)
    return manifest


def import_bundle(bundle: Path) -> list[str]:
    """Unpack a bundle into a staging folder, verify every file against the manifest, and only then
    place the models into the hub cache. Returns the repos imported."""
    if not bundle.is_file():
        raise UserError(f"bundle not found: {bundle}")
    hub = catalog.hub_dir()
    hub.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=hub, prefix=".import-") as staging_name:
        staging = Path(staging_name)
        try:
            with tarfile.open(bundle) as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise UserError(f"{bundle.name} is not a readable model bundle ({exc}): make it again with --export")
        try:
            manifest = json.loads((staging / "manifest.json").read_text())
            assert manifest.get("format") == BUNDLE_FORMAT
        except (OSError, ValueError, AssertionError):
            raise UserError(f"{bundle.name} is not a model bundle made by ./cache-models.sh --export")
        for record in manifest["models"]:
            folder = staging / "models" / hub_cache.repo_folder_name(record["repo"]) / record["commit"]
            for name, meta in record["files"].items():
                path = folder / name
                if not path.is_file() or path.stat().st_size != meta["size"] or not file_checksum_ok(path, meta["etag"]):
                    raise UserError(f"{bundle.name} is damaged ({record['repo']}/{name} fails its checksum): "
                                    "nothing was imported; copy the bundle again")
        for name, meta in manifest.get("punkt_tab", {}).items():
            path = staging / "nltk" / "punkt_tab" / name
            if not path.is_file() or path.stat().st_size != meta["size"] or not file_checksum_ok(path, meta["etag"]):
                raise UserError(f"{bundle.name} is damaged (punkt_tab/{name} fails its checksum): "
                                "nothing was imported; copy the bundle again")
        for record in manifest["models"]:
            _place(record, staging / "models" / hub_cache.repo_folder_name(record["repo"]) / record["commit"])
        if manifest.get("punkt_tab"):
            target = sentence_splitter_dir()
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(staging / "nltk" / "punkt_tab"), str(target))
    return [record["repo"] for record in manifest["models"]]


def _place(record: dict, folder: Path) -> None:
    root = hub_cache.repo_dir(catalog.hub_dir(), record["repo"])
    snapshot = root / "snapshots" / record["commit"]
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    if snapshot.exists():
        shutil.rmtree(snapshot)
    for name, meta in record["files"].items():
        blob = root / "blobs" / meta["etag"]
        os.replace(folder / name, blob)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    ref = record.get("revision") or "main"
    if len(ref) != 40:
        (root / "refs" / ref).write_text(record["commit"])
    elif not (root / "refs" / "main").exists():  # a pinned commit: refs/main lets tools resolve it by name
        (root / "refs" / "main").write_text(record["commit"])
    catalog.write_record(record["repo"], {**record, "imported": True})
