"""The built guest: what is inside the initramfs and the disk, and the cache."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gureum.guest import GuestImage, build_guest_image, default_cache_dir
from gureum.guest.bootdisk import MBR_BOOT_CODE_BYTES, SYSLINUX_MBR


def initramfs_listing(image: GuestImage) -> dict[str, str]:
    """path -> `cpio -tv` line."""
    data = gzip.decompress(image.initrd.read_bytes())
    lines = subprocess.run(["cpio", "-t", "-v", "--quiet"], input=data, capture_output=True,
                           check=True).stdout.decode().splitlines()
    # Every entry has mtime 0, so the path follows the year; symlinks end in "-> target".
    return {line.split(" 1970 ", 1)[1].split(" -> ")[0]: line for line in lines}


def initramfs_file(image: GuestImage, path: str) -> bytes:
    data = gzip.decompress(image.initrd.read_bytes())
    return subprocess.run(["cpio", "-i", "--quiet", "--to-stdout", path], input=data, capture_output=True,
                          check=True).stdout


def test_initramfs_has_console_init_busybox_dropbear_and_its_libraries(guest_image: GuestImage) -> None:
    entries = initramfs_listing(guest_image)
    assert entries["dev/console"].startswith("crw")
    assert entries["init"].endswith("-> /bin/busybox")
    assert entries["sbin/udhcpc"].endswith("-> /bin/busybox")
    for binary in ("bin/busybox", "usr/sbin/dropbear", "usr/bin/dropbearkey"):
        assert entries[binary].startswith("-rwxr-xr-x"), binary
    for library in ("libc.so.6", "libcrypt.so.1", "libz.so.1", "libtomcrypt.so.1", "libtommath.so.1",
                    "ld-linux-x86-64.so.2"):
        assert f"lib/x86_64-linux-gnu/{library}" in entries, library
    assert entries["lib64/ld-linux-x86-64.so.2"].endswith("-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    assert entries["etc/shadow"].startswith("-rw-------")
    # Only what dropbear links against, not all of libc6 (13 MB).
    assert len(guest_image.initrd.read_bytes()) < 6 * 1024 * 1024


def test_modules_load_in_dependency_order(guest_image: GuestImage, tmp_path: Path) -> None:
    order = initramfs_file(guest_image, "etc/gureum/modules").decode().split()
    assert {"virtio_pci", "virtio_blk", "virtio_net", "net_failover", "isofs", "button", "evdev"} <= set(order)
    assert len(order) == len(set(order))
    # Unpack the modules the guest got and ask modinfo what each depends on.
    data = gzip.decompress(guest_image.initrd.read_bytes())
    subprocess.run(["cpio", "-i", "-d", "--quiet", "lib/modules/*"], input=data, cwd=tmp_path, check=True)
    for position, name in enumerate(order):
        module = tmp_path / "lib" / "modules" / f"{name}.ko"
        depends = subprocess.run(["modinfo", "-F", "depends", str(module)], capture_output=True, text=True,
                                 check=True).stdout.strip()
        for dependency in filter(None, depends.replace("-", "_").split(",")):
            assert dependency in order[:position], f"{name} is loaded before its dependency {dependency}"


def test_disk_is_mbr_with_bootable_fat16_syslinux_partition(guest_image: GuestImage, tmp_path: Path) -> None:
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(guest_image.disk)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert guest_image.disk.stat().st_size < 25 * 1024 * 1024  # compressed

    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(guest_image.disk), str(raw)], check=True)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    assert table["label"] == "dos"
    [partition] = table["partitions"]
    assert partition["start"] == 2048 and partition["type"] == "e" and partition.get("bootable") is True
    assert raw.read_bytes()[:MBR_BOOT_CODE_BYTES] == SYSLINUX_MBR.read_bytes()[:MBR_BOOT_CODE_BYTES]

    files = subprocess.run(["mdir", "-a", "-b", "-i", f"{raw}@@1M", "::/"], capture_output=True, text=True, check=True,
                           env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout.split()
    assert {"::/vmlinuz", "::/initrd.gz", "::/syslinux.cfg", "::/ldlinux.sys", "::/ldlinux.c32"} <= set(files)
    config = subprocess.run(["mtype", "-i", f"{raw}@@1M", "::/syslinux.cfg"], capture_output=True, text=True,
                            check=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    assert f"APPEND {guest_image.kernel_cmdline}" in config and "SERIAL 0" in config


def test_second_build_is_instant_and_identical(guest_image: GuestImage) -> None:
    started = time.monotonic()
    again = build_guest_image(default_cache_dir())
    assert time.monotonic() - started < 1.0
    assert again == guest_image


def test_command_line_prints_the_paths(guest_image: GuestImage) -> None:
    result = subprocess.run([sys.executable, "-m", "gureum.guest", "build", "--out", str(default_cache_dir())],
                            capture_output=True, text=True, check=True)
    printed = json.loads(result.stdout)
    assert printed["disk"] == str(guest_image.disk) and printed["key"] == guest_image.key
    assert printed["kernel_package"].startswith("linux-image-") and "cloud-amd64" in printed["kernel_package"]
