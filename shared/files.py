"""Writing files so that nothing half-written ever looks finished, and file-system faults as one line.

Every output of the project goes through atomic_path(): the writer fills a temporary sibling (same
directory, so the rename is atomic; same extension, since ffmpeg picks its muxer by it), which is
renamed onto the final name only when the writer finished; on any failure, a full disk, a kill
signal turned into an exception, a bug, the temporary file is removed. A run that was killed
outright (SIGKILL) leaves its temporary file behind, named `.<name>.<pid>.tmp<ext>`: remove_stale()
clears those where the next run holds the job.

os_error() turns the faults a user must fix (a full disk, a read-only or forbidden directory) into a
UserError that says which path and what to do; run_cli applies it to every entry point.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any, Iterator

from shared.errors import UserError

TEMP_MARK = ".tmp"


def temp_path(final: Path) -> Path:
    """A hidden sibling temporary name with the final name's extension."""
    final = Path(final)
    return final.with_name(f".{final.stem}.{os.getpid()}{TEMP_MARK}{final.suffix}")


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it onto `final` when the block ends without an
    exception, else remove it. The directory is created if needed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON, indented, UTF-8 as it is (Indic text stays readable), through atomic_path."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def remove_stale(folder: Path) -> None:
    """Remove temporary files a killed writer left in `folder` (not recursive). Only call this while
    holding the folder's lock: then no live writer owns them."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()


def _where(path: str | os.PathLike | None) -> str:
    """The directory a failed path lies in, as the user named it."""
    if not path:
        return "the output directory"
    path = Path(os.fsdecode(path))
    try:
        return str(path if path.is_dir() else path.parent)
    except OSError:  # the path itself is what is wrong (too long, a loop)
        return str(path.parent)


def os_error(exc: OSError) -> UserError | None:
    """A one-line UserError for file-system faults a user must fix; None for anything else."""
    where = _where(exc.filename)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"no space left on {where}: free some space (or point SUBTITLER_OUT_DIR / "
                         "SUBTITLER_CACHE_DIR elsewhere) and run the command again")
    if exc.errno == errno.EROFS:
        return UserError(f"{where} is on a read-only file system: choose a writable directory "
                         "(SUBTITLER_OUT_DIR for jobs) and run the command again")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UserError(f"permission denied writing {where}: make it writable by this user, or choose "
                         "another directory (SUBTITLER_OUT_DIR for jobs)")
    if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR):
        shown = os.fsdecode(exc.filename or "")
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return UserError(f"cannot use the path {shown!r}: {exc.strerror.lower()}; check the path")
    return None


def ffmpeg_error(stderr: str, output: Path) -> UserError | None:
    """The file-system fault ffmpeg reports in its log, as the same one line."""
    text = stderr.lower()
    for message, code in (("no space left on device", errno.ENOSPC), ("read-only file system", errno.EROFS),
                          ("permission denied", errno.EACCES)):
        if message in text:
            return os_error(OSError(code, message, str(output)))
    return None
