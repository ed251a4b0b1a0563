"""Who holds a transfer: a token naming this controller process, and whether one is alive.

Rows in 'saving', 'uploading' or 'importing' and temp files carry the token of the
process moving their bytes. After a crash the token names a dead process, and
start-up can tell an abandoned transfer from one another controller is running.
"""

from __future__ import annotations

import functools
import os
import socket


def _process_start_ticks(pid: int) -> str | None:
    """The kernel's start time of a process: a pid reused later gets another one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so count after its ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


@functools.cache
def process_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start_ticks(pid) or '0'}"


def holder_alive(token: str) -> bool:
    """False only when the holder is provably gone: a dead process on this host."""
    try:
        host, pid_text, ticks = token.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another controller's transfer: only that controller may judge it
    if token == process_token():
        return True
    return _process_start_ticks(pid) == ticks
