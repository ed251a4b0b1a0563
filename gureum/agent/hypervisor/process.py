"""Find and wait for a daemonized QEMU by its pidfile, safely against pid reuse.

QEMU daemonizes, so it is not our child: we cannot wait() for it, and after a
restart the agent knows it only by the pidfile. A pid counts as the guest's
only while /proc says it is a live process whose command line names that
very pidfile.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def guest_process(pidfile: Path) -> int | None:
    """The pid of the live QEMU that wrote `pidfile`, or None."""
    pid = read_pid(pidfile)
    if pid is None or not _is_live(pid):
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if _names_pidfile(argv, pidfile) else None


def wait_for_exit(pid: int, pidfile: Path, timeout_seconds: float) -> bool:
    """True once the process is gone (or is someone else's pid now)."""
    deadline = time.monotonic() + timeout_seconds
    while guest_process(pidfile) == pid:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def kill(pid: int, pidfile: Path) -> None:
    """SIGKILL, but only if the pid still belongs to this guest."""
    if guest_process(pidfile) == pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _is_live(pid: int) -> bool:
    # A zombie has exited; its parent (init, or a container's pid 1) just has not reaped it.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _names_pidfile(argv: list[bytes], pidfile: Path) -> bool:
    wanted = str(pidfile).encode()
    return any(flag == b"-pidfile" and value == wanted for flag, value in zip(argv, argv[1:]))
