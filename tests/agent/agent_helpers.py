"""Helpers for the hypervisor tests: specs, config drives, consoles, namespaces."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gureum.agent.hypervisor import GuestSpec, InstanceMetadata, NicSpec, QemuHypervisor, build_config_drive
from gureum.guest import GuestImage

# "gureum guest <hostname> up, ssh root@<ip> ..." or "... up, no IPv4 address ..."
BANNER = re.compile(r"gureum guest (?P<host>\S+) up, (?:ssh root@(?P<ip>[0-9.]+)|no IPv4 address)")
BOOT_TIMEOUT_SECONDS = 120.0  # TCG on a loaded 2-core CI box; a quiet one needs ~10 s
DHCP_RESPONDER = Path(__file__).with_name("dhcp_responder.py")


def wait_for_console(hypervisor: QemuHypervisor, instance_id: str, pattern: re.Pattern[str],
                     count: int = 1, timeout_seconds: float = BOOT_TIMEOUT_SECONDS) -> re.Match[str]:
    """The `count`-th match of `pattern` in the console log, waiting for it."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        log = hypervisor.console_log(instance_id, max_bytes=10**7)
        matches = list(pattern.finditer(log))
        if len(matches) >= count:
            return matches[count - 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern.pattern!r} (#{count}) in {timeout_seconds}s; console:\n{log[-3000:]}")
        time.sleep(0.2)


def new_instance_id() -> str:
    return str(uuid.uuid4())


def config_drive_for(instance_id: str, hostname: str, public_key: str | None, directory: Path,
                     network_data: dict | None = None, user_data: bytes | None = None) -> Path:
    metadata = InstanceMetadata(uuid=instance_id, name=hostname, hostname=hostname,
                                public_keys={"test": public_key} if public_key else {},
                                network_data=network_data, user_data=user_data)
    return build_config_drive(metadata, directory / f"{instance_id}.iso")


def no_network_data() -> dict:
    """network_data.json for a guest without ports: the guest skips DHCP."""
    return {"links": [], "networks": [], "services": []}


def dhcp_network_data(mac: str, tap: str) -> dict:
    """network_data.json as Nova writes it for one port on a DHCP subnet."""
    return {"links": [{"id": tap, "type": "bridge", "ethernet_mac_address": mac, "mtu": 1500, "vif_id": tap}],
            "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": tap, "network_id": "test"}],
            "services": []}


def guest_spec(image: GuestImage, instance_id: str, *, direct_kernel: bool = False,
               config_drive: Path | None = None, nics: list[NicSpec] | None = None) -> GuestSpec:
    kernel = dict(kernel=image.kernel, initrd=image.initrd, kernel_cmdline=image.kernel_cmdline) \
        if direct_kernel else {}
    return GuestSpec(instance_id=instance_id, name=f"test-{instance_id[:8]}", vcpus=1, memory_mib=128,
                     root_disk_base=image.disk, config_drive=config_drive,
                     nics=nics if nics is not None else [NicSpec(mac=random_mac())], **kernel)


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{secrets.randbits(8):02x}" for _ in range(3))


@dataclass
class OwnNamespace:
    """A network namespace this test created, and the processes it started there."""

    name: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def start(self, *argv: str) -> subprocess.Popen:
        # ip netns exec execs, so this pid is the server's own pid.
        started = subprocess.Popen(["ip", "netns", "exec", self.name, *argv],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.processes.append(started)
        return started

    def adopt_tap(self, tap: str, address: str) -> None:
        """Move a tap (already opened by QEMU) here and give it an address."""
        subprocess.run(["ip", "link", "set", tap, "netns", self.name], check=True)
        for command in (["addr", "add", address, "dev", tap], ["link", "set", tap, "up"],
                        ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", self.name, *command], check=True)

    def start_dhcp(self, interface: str, server: str, client: str, mtu: int = 1500, routes: str = "") -> None:
        self.start(sys.executable, str(DHCP_RESPONDER), interface, server, client, str(mtu), routes)
