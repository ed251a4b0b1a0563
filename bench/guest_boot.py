"""How long the test guest takes to boot, and what one costs the host in memory.

    .venv/bin/python bench/guest_boot.py [--runs N] [--memory-mib 128]

For each boot mode (from the qcow2 disk through syslinux, and direct kernel
boot) prints the seconds from starting QEMU to the guest's banner, which the
guest prints once dropbear runs. The guest has a config drive with no networks,
so no DHCP wait is included. Then prints the host RSS of a booted guest.
One guest at a time; numbers vary with other load on the host.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from gureum.agent.hypervisor import GuestSpec, InstanceMetadata, NicSpec, QemuHypervisor, build_config_drive
from gureum.agent.hypervisor.accel import detect_accel
from gureum.guest import GuestImage, build_guest_image, default_cache_dir

BANNER = re.compile(r"gureum guest \S+ up, ")
TIMEOUT_SECONDS = 180.0


def boot_seconds(hypervisor: QemuHypervisor, image: GuestImage, direct_kernel: bool, memory_mib: int,
                 scratch: Path) -> tuple[float, int]:
    """(seconds from spawn to banner, host RSS in KiB once booted)."""
    instance_id = str(uuid.uuid4())
    drive = build_config_drive(
        InstanceMetadata(uuid=instance_id, name="bench", hostname="bench",
                         network_data={"links": [], "networks": [], "services": []}),
        scratch / f"{instance_id}.iso")
    kernel = dict(kernel=image.kernel, initrd=image.initrd, kernel_cmdline=image.kernel_cmdline) \
        if direct_kernel else {}
    spec = GuestSpec(instance_id=instance_id, name="bench", vcpus=1, memory_mib=memory_mib,
                     root_disk_base=image.disk, config_drive=drive, nics=[NicSpec(mac="52:54:00:be:4c:01")],
                     **kernel)
    started = time.monotonic()
    try:
        pid = hypervisor.spawn(spec).pid
        while not BANNER.search(hypervisor.console_log(instance_id)):
            if time.monotonic() - started > TIMEOUT_SECONDS:
                raise SystemExit(f"no banner after {TIMEOUT_SECONDS}s:\n{hypervisor.console_log(instance_id)}")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        return elapsed, _rss_kib(pid)
    finally:
        hypervisor.destroy(instance_id)


def _rss_kib(pid: int | None) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory-mib", type=int, default=128)
    arguments = parser.parse_args()

    image = build_guest_image(default_cache_dir())
    accel = detect_accel(cache_file=default_cache_dir() / "accel.json")
    scratch = Path(tempfile.mkdtemp(prefix="gb-", dir="/tmp"))
    try:
        hypervisor = QemuHypervisor(scratch / "instances", accel=accel)
        print(f"accel {accel.value}, {arguments.memory_mib} MiB, 1 vCPU, {arguments.runs} runs per mode")
        rss_samples = []
        for label, direct_kernel in (("disk boot (syslinux)", False), ("direct kernel boot", True)):
            samples = []
            for _ in range(arguments.runs):
                seconds, rss = boot_seconds(hypervisor, image, direct_kernel, arguments.memory_mib, scratch)
                samples.append(seconds)
                rss_samples.append(rss)
            print(f"{label:22s} qemu start -> banner: median {statistics.median(samples):5.1f}s, "
                  f"min {min(samples):5.1f}s, max {max(samples):5.1f}s")
        print(f"host RSS of a booted guest: median {statistics.median(rss_samples) / 1024:.0f} MB, "
              f"max {max(rss_samples) / 1024:.0f} MB")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
