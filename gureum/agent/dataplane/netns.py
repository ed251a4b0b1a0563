"""Named network namespaces: create, find, remove, and run code inside one.

Names follow iproute2 (/run/netns/<name>), so `ip netns exec` and the agent see
the same namespaces. A namespace is identified by name *and* inode: a namespace
deleted and created again by hand has a new inode, and everything that held
the old one (netlink sockets, dnsmasq, metadata sockets) must let go of it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyroute2 import netns as pyroute2_netns

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

T = TypeVar("T")


def inode(name: str) -> int | None:
    """The namespace's inode, None if no namespace has that name."""
    try:
        return (NETNS_DIR / name).stat().st_ino
    except FileNotFoundError:
        return None


def ensure(name: str) -> int:
    """Create the namespace if missing; its inode either way."""
    current = inode(name)
    if current is not None:
        return current
    pyroute2_netns.create(name)
    created = inode(name)
    if created is None:
        raise OSError(f"network namespace {name} could not be created")
    return created


def names_with_prefix(prefix: str) -> list[str]:
    try:
        return sorted(entry for entry in os.listdir(NETNS_DIR) if entry.startswith(prefix))
    except FileNotFoundError:
        return []


def remove(name: str) -> None:
    """Kill every process inside, then delete: a namespace lives on while a process is in it."""
    number = inode(name)
    if number is None:
        return
    kill_processes_in(number)
    try:
        pyroute2_netns.remove(name)
    except FileNotFoundError:
        pass


def process_netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def kill_processes_in(namespace_inode: int, timeout_seconds: float = 3.0) -> None:
    """SIGTERM then SIGKILL every process whose network namespace is that one."""
    pids = _pids_in(namespace_inode)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [pid for pid in pids if process_netns_inode(pid) == namespace_inode]
    for pid in pids:
        _signal(pid, signal.SIGKILL)


def _pids_in(namespace_inode: int) -> list[int]:
    own = os.getpid()
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and int(entry) != own and process_netns_inode(int(entry)) == namespace_inode]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def run_in(name: str | None, function: Callable[[], T]) -> T:
    """Call `function` in a fresh thread that entered the namespace (None: this one).

    setns(2) changes only the calling thread, so a short-lived thread keeps the
    agent's own threads where they are; sockets and tun devices it opens stay
    in that namespace after the thread ends.
    """
    if name is None:
        return function()
    outcome: dict[str, object] = {}

    def enter_and_call() -> None:
        try:
            descriptor = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(descriptor, _CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns into {name}: {os.strerror(error)}")
            finally:
                os.close(descriptor)
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=enter_and_call, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def write_sysctl(name: str | None, key: str, value: str) -> None:
    """Set a per-namespace sysctl (net.*) inside the namespace."""
    path = "/proc/sys/" + key.replace(".", "/")

    def write() -> None:
        with open(path, "w") as handle:
            handle.write(value)

    run_in(name, write)


def read_sysctl(name: str | None, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")

    def read() -> str:
        with open(path) as handle:
            return handle.read().strip()

    return run_in(name, read)
