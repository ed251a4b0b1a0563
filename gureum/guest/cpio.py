"""Write a "newc" cpio archive, the format the Linux kernel unpacks as initramfs.

Written in Python rather than with cpio(1) so device nodes such as /dev/console
can be entries in the archive: making them with mknod would need root and a
real filesystem, and the archive is byte-for-byte reproducible this way.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_MAGIC = b"070701"


@dataclass(frozen=True)
class CpioEntry:
    path: str  # inside the archive, without a leading slash
    mode: int  # file type bits | permission bits
    data: bytes = b""  # file contents, or the target of a symlink
    rdev_major: int = 0
    rdev_minor: int = 0


class CpioArchive:
    """Collects entries; parents must be added before their children."""

    def __init__(self) -> None:
        self._entries: dict[str, CpioEntry] = {}

    def add_directory(self, path: str, mode: int = 0o755) -> None:
        self._add(CpioEntry(_clean(path), stat.S_IFDIR | mode))

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._add(CpioEntry(_clean(path), stat.S_IFREG | mode, data))

    def add_host_file(self, path: str, source: Path, mode: int | None = None) -> None:
        """Copy a host file; keeps its permission bits unless `mode` is given."""
        bits = stat.S_IMODE(source.stat().st_mode) if mode is None else mode
        self.add_file(path, source.read_bytes(), bits)

    def add_symlink(self, path: str, target: str) -> None:
        self._add(CpioEntry(_clean(path), stat.S_IFLNK | 0o777, target.encode()))

    def add_char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(CpioEntry(_clean(path), stat.S_IFCHR | mode, b"", major, minor))

    def ensure_directories(self, path: str) -> None:
        """Add every missing parent directory of `path` (mode 0755)."""
        parents = list(PurePosixPath(_clean(path)).parents)[:-1]
        for parent in reversed(parents):
            if str(parent) not in self._entries:
                self.add_directory(str(parent))

    def __contains__(self, path: str) -> bool:
        return _clean(path) in self._entries

    def to_bytes(self) -> bytes:
        chunks = [_encode(inode, entry) for inode, entry in enumerate(self._entries.values(), 1)]
        chunks.append(_encode(0, CpioEntry("TRAILER!!!", 0)))
        return b"".join(chunks)

    def to_gzip(self) -> bytes:
        # mtime=0 keeps the output identical for identical input.
        return gzip.compress(self.to_bytes(), compresslevel=9, mtime=0)

    def _add(self, entry: CpioEntry) -> None:
        if entry.path in self._entries:
            raise ValueError(f"duplicate cpio entry {entry.path}")
        parent = str(PurePosixPath(entry.path).parent)
        if parent != "." and parent not in self._entries:
            raise ValueError(f"cpio entry {entry.path} added before its directory {parent}")
        self._entries[entry.path] = entry


def _clean(path: str) -> str:
    cleaned = str(PurePosixPath("/", path)).lstrip("/")
    if not cleaned:
        raise ValueError("the archive root needs no entry")
    return cleaned


def _encode(inode: int, entry: CpioEntry) -> bytes:
    name = entry.path.encode() + b"\0"
    fields = (
        inode,
        entry.mode,
        0,  # uid: everything in the guest belongs to root
        0,  # gid
        2 if stat.S_ISDIR(entry.mode) else 1,  # nlink
        0,  # mtime: fixed for reproducible archives
        len(entry.data),
        0,  # dev major
        0,  # dev minor
        entry.rdev_major,
        entry.rdev_minor,
        len(name),
        0,  # checksum, unused by newc
    )
    header = _MAGIC + b"".join(b"%08X" % value for value in fields)
    return _pad4(header + name) + _pad4(entry.data)


def _pad4(chunk: bytes) -> bytes:
    return chunk + b"\0" * (-len(chunk) % 4)
