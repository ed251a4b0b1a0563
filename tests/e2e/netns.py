"""Namespaces the end-to-end tests make: a stand-in host and "the outside" upstream of it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@dataclass(frozen=True)
class Outside:
    """`host_ns` holds the provider bridge; `ns` is an upstream router with `address` on it."""

    host_ns: str
    ns: str
    address: str

    @classmethod
    def create(cls, prefix: str, bridge: str, address: str) -> "Outside":
        host_ns, ns = f"{prefix}-host", f"{prefix}-out"
        for name in (host_ns, ns):
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        ip("-n", host_ns, "link", "add", bridge, "type", "bridge")
        ip("-n", host_ns, "link", "set", bridge, "up")
        ip("-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "upstream", "netns", host_ns)
        ip("-n", host_ns, "link", "set", "upstream", "master", bridge, "up")
        ip("-n", ns, "addr", "add", address, "dev", "up0")
        ip("-n", ns, "link", "set", "up0", "up")
        return cls(host_ns=host_ns, ns=ns, address=address)

    def run(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(argv, 124, str(exc.stdout or ""), f"timed out after {timeout} s")

    def tcp_connect(self, address: str, port: int, timeout: float = 3) -> bool:
        """Whether a TCP connection from the outside to address:port is accepted (the host has no ping)."""
        probe = ("import socket,sys\n"
                 f"s=socket.create_connection(({address!r},{port}),timeout={timeout})\n"
                 "s.close()")
        return self.run(["python3", "-c", probe], timeout=timeout + 5).returncode == 0
