"""Disk formats: what glance accepts, and what uploaded bytes really are.

Image data is sniffed while it streams: `Sniffer` keeps the first `HEAD_BYTES` and
the last `TAIL_BYTES` (a fixed VHD keeps its footer at the end), never the whole
image. `inspect()` then says which format the bytes are in, the virtual size where
the header tells it, and which safety rules the image breaks. `check_upload()`
applies glance's rules: the data must be what `disk_format` claims, and no image may
point outside itself (a qcow2 backing file or external data file, a VMDK whose
extents live in other files): a hypervisor opening such an image would read host
files on the tenant's behalf.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
# Formats whose headers we cannot recognise (kernel, ramdisk, machine images): their
# data is accepted as long as it does not look like one of the rich formats.
OPAQUE_DISK_FORMATS = ("ami", "ari", "aki")

# An ISO's primary volume descriptor sits at 32 KiB; the rest fit well before 64 KiB.
HEAD_BYTES = 64 * 1024
TAIL_BYTES = 512
SECTOR = 512

QCOW2_MAGIC = b"QFI\xfb"
QCOW2_DATA_FILE_EXTENSION = 0x44415441
QCOW2_INCOMPAT_DATA_FILE = 1 << 2
# dirty, corrupt, external data file, compression type, extended L2 entries
QCOW2_KNOWN_INCOMPAT = 0b11111
VMDK_SAFE_CREATE_TYPES = ("monolithicSparse", "streamOptimized")


class ImageFormatError(ValueError):
    """The data is not acceptable as the image it claims to be."""


@dataclass
class Sniffer:
    """Keeps what format detection needs from a stream, in constant memory."""

    head: bytearray = field(default_factory=bytearray)
    tail: bytes = b""
    size: int = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if len(chunk) >= TAIL_BYTES:
            self.tail = bytes(chunk[-TAIL_BYTES:])
        else:
            self.tail = (self.tail + bytes(chunk))[-TAIL_BYTES:]
        self.size += len(chunk)


@dataclass(frozen=True)
class Detected:
    format: str
    virtual_size: int | None
    # Why a hypervisor must not open this image; empty when it is safe.
    problems: tuple[str, ...] = ()


def _u16le(data: bytes | bytearray, offset: int) -> int:
    return struct.unpack_from("<H", data, offset)[0]


def _u32le(data: bytes | bytearray, offset: int) -> int:
    return struct.unpack_from("<I", data, offset)[0]


def _u64le(data: bytes | bytearray, offset: int) -> int:
    return struct.unpack_from("<Q", data, offset)[0]


def _u32be(data: bytes | bytearray, offset: int) -> int:
    return struct.unpack_from(">I", data, offset)[0]


def _u64be(data: bytes | bytearray, offset: int) -> int:
    return struct.unpack_from(">Q", data, offset)[0]


def _qcow2(head: bytearray) -> Detected | None:
    if len(head) < 72 or head[:4] != QCOW2_MAGIC:
        return None
    version = _u32be(head, 4)
    if version not in (2, 3):
        return Detected("qcow2", None, (f"qcow2 version {version} is not supported",))
    problems: list[str] = []
    if _u64be(head, 8) != 0:
        problems.append("qcow2 image has a backing file")
    virtual_size = _u64be(head, 24)
    extensions_at = 72
    if version == 3 and len(head) >= 104:
        incompatible = _u64be(head, 72)
        if incompatible & QCOW2_INCOMPAT_DATA_FILE:
            problems.append("qcow2 image has an external data file")
        if incompatible & ~QCOW2_KNOWN_INCOMPAT:
            problems.append("qcow2 image uses unknown incompatible features")
        extensions_at = _u32be(head, 100)
    if _qcow2_has_data_file_extension(head, extensions_at) and "qcow2 image has an external data file" not in problems:
        problems.append("qcow2 image has an external data file")
    return Detected("qcow2", virtual_size, tuple(problems))


def _qcow2_has_data_file_extension(head: bytearray, offset: int) -> bool:
    """Walk the header extensions that follow the header (they end with type 0)."""
    while offset + 8 <= len(head):
        kind, length = _u32be(head, offset), _u32be(head, offset + 4)
        if kind == 0:
            return False
        if kind == QCOW2_DATA_FILE_EXTENSION:
            return True
        offset += 8 + ((length + 7) & ~7)
    return False


def _vhd_footer(head: bytearray, tail: bytes) -> bytes | None:
    if head[:8] == b"conectix":
        return bytes(head[:SECTOR])
    if len(tail) == TAIL_BYTES and tail[:8] == b"conectix":
        return tail
    return None


def _vhd(head: bytearray, tail: bytes) -> Detected | None:
    footer = _vhd_footer(head, tail)
    if footer is None or len(footer) < 56:
        return None
    return Detected("vhd", _u64be(footer, 48))


def _vhdx(head: bytearray) -> Detected | None:
    if head[:8] != b"vhdxfile":
        return None
    return Detected("vhdx", None)


_CREATE_TYPE_RE = re.compile(rb'createType\s*=\s*"([^"]*)"')


def _vmdk_descriptor_problems(descriptor: bytes) -> list[str]:
    match = _CREATE_TYPE_RE.search(descriptor)
    if match is None:
        return ["VMDK descriptor has no createType"]
    create_type = match.group(1).decode("ascii", "replace")
    if create_type not in VMDK_SAFE_CREATE_TYPES:
        return [f"VMDK createType {create_type!r} is not allowed (its extents live in other files)"]
    return []


def _vmdk(head: bytearray) -> Detected | None:
    if head[:4] == b"KDMV" and len(head) >= 48:
        capacity = _u64le(head, 12) * SECTOR
        start = _u64le(head, 28) * SECTOR
        length = _u64le(head, 36) * SECTOR
        if start == 0:
            # streamOptimized images may keep the descriptor elsewhere; the header alone is safe.
            return Detected("vmdk", capacity)
        if start >= len(head):
            return Detected("vmdk", capacity, ("VMDK descriptor is not within the first 64 KiB",))
        descriptor = bytes(head[start : min(start + length, len(head))]).split(b"\0", 1)[0]
        return Detected("vmdk", capacity, tuple(_vmdk_descriptor_problems(descriptor)))
    if head.startswith(b"# Disk DescriptorFile"):
        # A bare descriptor is all pointers to other files.
        return Detected("vmdk", None, ("VMDK is only a descriptor: its data lives in other files",))
    return None


def _vdi(head: bytearray) -> Detected | None:
    if len(head) < 0x178 or _u32le(head, 0x40) != 0xBEDA107F:
        return None
    return Detected("vdi", _u64le(head, 0x170))


def _iso(head: bytearray) -> Detected | None:
    for descriptor in (0x8000, 0x8800, 0x9000):
        if head[descriptor + 1 : descriptor + 6] == b"CD001":
            primary = 0x8000
            if len(head) >= primary + 130 and head[primary] == 1:
                blocks = _u32le(head, primary + 80)
                block_size = _u16le(head, primary + 128)
                return Detected("iso", blocks * block_size)
            return Detected("iso", None)
    return None


def _ploop(head: bytearray) -> Detected | None:
    if head[:16] in (b"WithoutFreeSpace", b"WithouFreSpacExt"):
        return Detected("ploop", None)
    return None


def inspect(sniffed: Sniffer) -> Detected:
    """Which format the data is in; anything unrecognised is raw."""
    head, tail = sniffed.head, sniffed.tail
    for detect in (_qcow2, _vhdx, _vmdk, _vdi, _ploop):
        found = detect(head)
        if found is not None:
            return found
    found = _vhd(head, tail) or _iso(head)
    if found is not None:
        return found
    return Detected("raw", sniffed.size)


@dataclass(frozen=True)
class Verdict:
    detected: Detected
    virtual_size: int | None


def check_upload(sniffed: Sniffer, disk_format: str | None, container_format: str | None) -> Verdict:
    """Glance's rules for accepting data as `disk_format`; raises ImageFormatError."""
    detected = inspect(sniffed)
    if detected.problems:
        raise ImageFormatError(f"Image failed safety checks: {'; '.join(detected.problems)}.")
    if container_format != "bare":
        # A container (ova, docker, ...) wraps the disk; its own bytes say nothing about it.
        return Verdict(detected, None)
    if detected.format == disk_format:
        return Verdict(detected, detected.virtual_size)
    if disk_format == "raw":
        # Raw accepts any bytes: a guest sees them as a plain disk.
        return Verdict(detected, sniffed.size)
    if detected.format == "raw" and disk_format in OPAQUE_DISK_FORMATS:
        return Verdict(detected, None)
    raise ImageFormatError(f"Image disk_format {disk_format} does not match stream data {detected.format}.")


def sniff_file(path: str) -> Sniffer:
    """Sniff a file already on disk (staged or local): its head and tail, not its middle."""
    sniffer = Sniffer()
    with open(path, "rb") as f:
        sniffer.head += f.read(HEAD_BYTES)
        f.seek(0, 2)
        sniffer.size = f.tell()
        f.seek(max(0, sniffer.size - TAIL_BYTES))
        sniffer.tail = f.read(TAIL_BYTES)
    return sniffer
