"""What this node offers: CPUs, memory and disk, as the agent reports them."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path

from gureum.agent.protocol import HostCapacity


def memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def qemu_version() -> int:
    """Nova's integer form: 7.2.0 -> 7002000."""
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for word in out.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts[:3]):
            nums = [int(p) for p in parts[:3]] + [0] * (3 - len(parts[:3]))
            return nums[0] * 1_000_000 + nums[1] * 1_000 + nums[2]
    return 0


def host_ip() -> str:
    """The address this node's name resolves to; loopback when it resolves to nothing."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def capacity(instances_dir: Path, accelerator: str, availability_zone: str = "nova") -> HostCapacity:
    disk = shutil.disk_usage(instances_dir)
    return HostCapacity(
        vcpus=os.cpu_count() or 1,
        memory_mb=memory_mb(),
        disk_gb=disk.total // (1024**3),
        hypervisor_type="QEMU",
        hypervisor_version=qemu_version(),
        accelerator=accelerator,
        architecture=platform.machine(),
        host_ip=host_ip(),
        cpu_info={"arch": platform.machine(), "model": accelerator, "vendor": "", "topology": {
            "sockets": 1, "cores": os.cpu_count() or 1, "threads": 1}},
        availability_zone=availability_zone,
    )
