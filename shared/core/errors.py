"""Errors a user can act on, and the one wrapper that turns them into a one-line message.

A UserError carries the whole message the user reads: what is wrong and what to do. Entry points
wrap their main() with run_cli(), which prints `error: <message>` to stderr and exits non-zero
without a traceback; so do the file-system faults a user must fix (os_error: a full disk, a
read-only or forbidden directory). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Callable


class UserError(Exception):
    """A problem the user can fix; the message says how."""

    exit_code = 2


class ModelNotCachedError(UserError):
    """A catalog model a stage needs is not in the cache."""


class MissingVenvError(UserError):
    """A stage's virtual environment has not been built."""


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


def _fail(exc: UserError, prog: str | None) -> None:
    prefix = f"{prog}: " if prog else ""
    print(f"{prefix}error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)


def run_cli(main: Callable[[], int | None], prog: str | None = None) -> None:
    try:
        code = main()
    except UserError as exc:
        _fail(exc, prog)
    except BrokenPipeError:  # output piped into head or less and closed early: not an error (an OSError:
        _quiet_exit()        # caught before the OSError clause below, which would re-raise it)
    except OSError as exc:  # a full disk, a read-only or forbidden directory: one line too
        mapped = os_error(exc)
        if mapped is None:
            raise
        _fail(mapped, prog)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def _quiet_exit() -> None:
    """Exit 0 with stdout's reader gone: stdout is pointed at /dev/null first, or Python's own flush
    of it at exit fails again and prints an 'Exception ignored' line."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(0)
