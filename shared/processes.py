"""Child processes that cannot outlive the process that started them.

Linux: PR_SET_PDEATHSIG makes the kernel kill a child when its parent dies, even by SIGKILL. The
pipeline starts each stage so, and each stage starts its tools (ffmpeg) so: a killed run leaves no
stage and no ffmpeg writing into the job the next run resumes. Stages also run in a process group of
their own, which the pipeline stops as a whole (stop_group) on Ctrl-C or SIGTERM: a terminal's
Ctrl-C then reaches the pipeline alone, and no stage log fills with a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when its parent dies (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the child's whole process group, then SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def signal_name(code: int) -> str | None:
    """'SIGKILL' for a return code -9 (a child killed by a signal), else None."""
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return None
