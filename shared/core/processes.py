"""Child processes that cannot outlive the process that started them.

Linux: PR_SET_PDEATHSIG makes the kernel kill a child when its parent dies, even by SIGKILL. The
pipeline starts each stage so, and each stage starts its tools (ffmpeg) so: a killed run leaves no
stage and no ffmpeg writing into the job the next run resumes. Stages also run in a process group of
their own, which the pipeline stops as a whole (stop_group) on Ctrl-C or SIGTERM: a terminal's
Ctrl-C then reaches the pipeline alone, and no stage log fills with a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import os
import shutil
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


def _parents() -> dict[int, int]:
    """{pid: parent pid} of every process (Linux /proc; elsewhere empty)."""
    found = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    found[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return found


def descendants(root: int) -> set[int]:
    """The process and every process it started, still running (those that made sessions or process
    groups of their own included, which killpg would miss)."""
    tree, found, grown = _parents(), {root}, True
    while grown:
        grown = False
        for pid, parent in tree.items():
            if parent in found and pid not in found:
                found.add(pid)
                grown = True
    return found


def started_with(text: str) -> list[int]:
    """The processes (other than this one) whose command line contains `text`."""
    found = []
    for pid in _parents():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if text.encode() in handle.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_ray_cluster(temp_dir: str, node: subprocess.Popen | None = None) -> None:
    """Kill a Ray cluster started on this machine with --temp-dir temp_dir (its head's processes name
    that directory; their agents, which rename themselves, are found as their descendants), and a node
    process started with --block, with everything under it. `ray stop` would stop every Ray here."""
    doomed = descendants(node.pid) if node is not None else set()
    doomed |= {pid for root in started_with(temp_dir) for pid in descendants(root)}
    kill_all(doomed)


def desktop_opener() -> list[str] | None:
    """The command that opens a file in the desktop's browser, or None where there is no desktop
    (a server, a container, SSH without a display)."""
    if sys.platform == "darwin":
        return ["open"] if shutil.which("open") else None
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which("xdg-open"):
        return ["xdg-open"]
    return None


def open_in_browser(path) -> bool:
    """Open a page where a desktop browser is, else say how to look at it; never an error. True when
    the desktop was asked to open it."""
    command = desktop_opener()
    if command is None:
        print(f"(no desktop browser here: open {path} in a browser on a machine that has this folder)",
              file=sys.stderr)
        return False
    try:
        subprocess.Popen([*command, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    return True
