"""Writing files so that nothing half-written ever looks finished.

Every output of the project goes through atomic_path(): the writer fills a temporary sibling (same
directory, so the rename is atomic; same extension, since ffmpeg picks its muxer by it), which is
renamed onto the final name only when the writer finished; on any failure, a full disk, a kill
signal turned into an exception, a bug, the temporary file is removed. A run that was killed
outright (SIGKILL) leaves its temporary file behind, named `.<name>.<pid>.tmp<ext>`: remove_stale()
clears those where the next run holds the job.

A write that fails on a fault the user must fix (a full disk, a read-only or forbidden directory)
reaches them as one line through shared.core.errors.os_error.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

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


INDENTED_UP_TO = 4 * 2**20  # bytes: a bigger file is written compact (indenting is pure Python, 20x slower)


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON, UTF-8 as it is (Indic text stays readable), through atomic_path; indented, unless it is
    big (a 450,000-cue transcript), when it is written compact."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= INDENTED_UP_TO:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    write_text_atomic(path, text + "\n")


def remove_stale(folder: Path) -> None:
    """Remove temporary files a killed writer left in `folder` (not recursive). Only call this while
    holding the folder's lock: then no live writer owns them."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
