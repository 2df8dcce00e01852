"""Errors a user can act on, and the one wrapper that turns them into a one-line message.

A UserError carries the whole message the user reads: what is wrong and what to do. Entry points
wrap their main() with run_cli(), which prints `error: <message>` to stderr and exits non-zero
without a traceback; so do the file-system faults a user must fix (shared/files.os_error: a full
disk, a read-only or forbidden directory). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """A problem the user can fix; the message says how."""

    exit_code = 2


class ModelNotCachedError(UserError):
    """A catalog model a stage needs is not in the cache."""


class MissingVenvError(UserError):
    """A stage's virtual environment has not been built."""


def _fail(exc: UserError, prog: str | None) -> None:
    prefix = f"{prog}: " if prog else ""
    print(f"{prefix}error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)


def run_cli(main: Callable[[], int | None], prog: str | None = None) -> None:
    try:
        code = main()
    except UserError as exc:
        _fail(exc, prog)
    except OSError as exc:  # a full disk, a read-only or forbidden directory: one line too
        from shared.files import os_error

        mapped = os_error(exc)
        if mapped is None:
            raise
        _fail(mapped, prog)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # output piped into head or less and closed early: not an error
        sys.stderr.close()
        sys.exit(0)
    sys.exit(code or 0)
