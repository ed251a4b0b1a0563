"""The Python cpio writer produces archives cpio(1) and the kernel accept."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from gureum.guest.cpio import CpioArchive


def listing(archive: bytes) -> list[str]:
    result = subprocess.run(["cpio", "-t", "-v", "--quiet"], input=archive, capture_output=True, check=True)
    return result.stdout.decode().splitlines()


def test_entries_of_every_kind_survive_cpio(tmp_path: Path) -> None:
    archive = CpioArchive()
    archive.add_directory("etc")
    archive.add_file("etc/hostname", b"guest\n")
    archive.add_file("etc/odd", b"12345", 0o755)  # lengths that need padding
    archive.add_symlink("init", "/bin/busybox")
    archive.add_directory("dev")
    archive.add_char_device("dev/console", 5, 1)
    data = gzip.decompress(archive.to_gzip())

    lines = listing(data)
    assert [line.split()[-1] for line in lines[:3]] == ["etc", "etc/hostname", "etc/odd"]
    console = next(line for line in lines if line.endswith("dev/console"))
    assert console.startswith("crw-------") and "5,   1" in console
    assert any(line.startswith("lrwxrwxrwx") and line.endswith("init -> /bin/busybox") for line in lines)

    extracted = subprocess.run(["cpio", "-i", "--quiet", "--to-stdout", "etc/odd"], input=data,
                               capture_output=True, check=True)
    assert extracted.stdout == b"12345"


def test_output_is_reproducible() -> None:
    def build() -> bytes:
        archive = CpioArchive()
        archive.add_directory("bin")
        archive.add_file("bin/tool", b"x" * 1000, 0o755)
        return archive.to_gzip()

    assert build() == build()


def test_children_need_their_directory_first() -> None:
    archive = CpioArchive()
    with pytest.raises(ValueError, match="before its directory"):
        archive.add_file("etc/passwd", b"")
    archive.ensure_directories("usr/share/udhcpc/default.script")
    archive.add_file("usr/share/udhcpc/default.script", b"")
    with pytest.raises(ValueError, match="duplicate"):
        archive.add_directory("usr")
