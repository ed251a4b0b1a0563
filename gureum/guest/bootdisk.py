"""Make a bootable disk image: MBR + one FAT16 partition with syslinux, kernel, initramfs.

Users bring disk images, not kernels, so the test guest must boot the way theirs
do: BIOS -> MBR -> syslinux -> kernel. Built entirely in files (mtools writes
into the FAT image, sfdisk into the partition table): no loop devices, no mounts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024
PARTITION_START_SECTOR = 2048  # 1 MiB, the usual alignment
FAT16_LBA = "e"
MBR_BOOT_CODE_BYTES = 440  # the part of sector 0 before the disk signature and table
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")


class BootDiskError(RuntimeError):
    """A disk tool failed."""


def syslinux_config(kernel_cmdline: str) -> str:
    return (
        "SERIAL 0 115200\n"
        "DEFAULT gureum\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL gureum\n"
        "  LINUX /vmlinuz\n"
        "  INITRD /initrd.gz\n"
        f"  APPEND {kernel_cmdline}\n"
    )


def build_boot_disk(kernel: Path, initrd: Path, kernel_cmdline: str, qcow2: Path, work_dir: Path) -> None:
    """Write a compressed qcow2 at `qcow2`; `work_dir` holds the raw intermediates."""
    partition = work_dir / "partition.img"
    raw_disk = work_dir / "disk.raw"
    partition_bytes = _partition_size(kernel.stat().st_size + initrd.stat().st_size)
    _make_fat_partition(partition, partition_bytes, kernel, initrd, kernel_cmdline, work_dir)
    _make_partitioned_disk(raw_disk, partition)
    _run(["qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", str(raw_disk), str(qcow2)])
    partition.unlink()
    raw_disk.unlink()


def _partition_size(payload_bytes: int) -> int:
    # Room for FAT tables, syslinux and a kernel update, in whole MiB.
    return (payload_bytes * 5 // 4 // MIB + 4) * MIB


def _make_fat_partition(
    image: Path, size: int, kernel: Path, initrd: Path, kernel_cmdline: str, work_dir: Path
) -> None:
    with image.open("wb") as handle:
        handle.truncate(size)
    _run(["mkfs.fat", "-F", "16", "-n", "GUREUM", str(image)])
    config = work_dir / "syslinux.cfg"
    config.write_text(syslinux_config(kernel_cmdline))
    for source, name in ((kernel, "vmlinuz"), (initrd, "initrd.gz"), (config, "syslinux.cfg")):
        _run(["mcopy", "-i", str(image), str(source), f"::/{name}"])
    # Debian's syslinux installer is the mtools flavour: it writes into the image file.
    _run(["syslinux", "--install", str(image)])
    config.unlink()


def _make_partitioned_disk(disk: Path, partition: Path) -> None:
    start = PARTITION_START_SECTOR * SECTOR
    with disk.open("wb") as handle:
        handle.truncate(start + partition.stat().st_size)
    table = f"label: dos\nstart={PARTITION_START_SECTOR}, type={FAT16_LBA}, bootable\n"
    _run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(disk)], stdin=table)
    boot_code = SYSLINUX_MBR.read_bytes()[:MBR_BOOT_CODE_BYTES]
    with disk.open("r+b") as handle:
        handle.write(boot_code)  # leaves the signature and partition table sfdisk wrote
        handle.seek(start)
        with partition.open("rb") as source:
            while chunk := source.read(MIB):
                handle.write(chunk)


def _run(argv: list[str], stdin: str | None = None) -> None:
    # mtools refuses images whose geometry looks odd to it unless told not to check.
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise BootDiskError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")
