"""Read the shared libraries an ELF binary needs (DT_NEEDED), without binutils.

The guest gets only the libraries dropbear really links against, not the whole
of libc6 (13 MB): a small reader here beats depending on readelf on the host.
"""

from __future__ import annotations

import struct
from pathlib import Path

_PT_DYNAMIC = 2
_DT_NULL = 0
_DT_NEEDED = 1
_DT_STRTAB = 5
_PT_LOAD = 1


class NotElf64(ValueError):
    """The file is not a little-endian 64-bit ELF (the only kind the guest has)."""


def needed_libraries(path: Path) -> list[str]:
    """The sonames in `path`'s dynamic section, in link order; [] if static."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise NotElf64(f"{path}: not a little-endian 64-bit ELF file")
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segments = [_program_header(data, phoff + i * phentsize) for i in range(phnum)]
    dynamic = [s for s in segments if s[0] == _PT_DYNAMIC]
    if not dynamic:
        return []
    entries = _dynamic_entries(data, dynamic[0][1], dynamic[0][2])
    strtab_addr = next(value for tag, value in entries if tag == _DT_STRTAB)
    strtab_offset = _address_to_offset(strtab_addr, segments)
    return [_c_string(data, strtab_offset + value) for tag, value in entries if tag == _DT_NEEDED]


def _program_header(data: bytes, offset: int) -> tuple[int, int, int, int]:
    """(type, file offset, file size, virtual address) of one program header."""
    p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, offset)
    return p_type, p_offset, p_filesz, p_vaddr


def _dynamic_entries(data: bytes, offset: int, size: int) -> list[tuple[int, int]]:
    entries = []
    for at in range(offset, offset + size, 16):
        tag, value = struct.unpack_from("<qQ", data, at)
        if tag == _DT_NULL:
            break
        entries.append((tag, value))
    return entries


def _address_to_offset(address: int, segments: list[tuple[int, int, int, int]]) -> int:
    # DT_STRTAB holds a virtual address; map it back through the PT_LOAD covering it.
    for p_type, p_offset, p_filesz, p_vaddr in segments:
        if p_type == _PT_LOAD and p_vaddr <= address < p_vaddr + p_filesz:
            return address - p_vaddr + p_offset
    raise NotElf64(f"string table address {address:#x} is in no loaded segment")


def _c_string(data: bytes, offset: int) -> str:
    return data[offset : data.index(b"\0", offset)].decode()
