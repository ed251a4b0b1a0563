"""Format sniffing on real images made by qemu-img, and glance's acceptance rules."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gureum.image.formats import (
    ImageFormatError,
    Sniffer,
    check_upload,
    inspect,
    sniff_file,
)


def sniffed(data: bytes, chunk: int = 7) -> Sniffer:
    """Feed in awkward small chunks: detection must not depend on chunk boundaries."""
    sniffer = Sniffer()
    for start in range(0, len(data), chunk):
        sniffer.feed(data[start : start + chunk])
    return sniffer


def test_qcow2_detected_with_virtual_size(disk_images: dict[str, Path]) -> None:
    found = inspect(sniff_file(str(disk_images["qcow2"])))
    assert (found.format, found.virtual_size, found.problems) == ("qcow2", 64 * 1024 * 1024, ())


def test_qcow2_backing_file_is_refused_whatever_the_declared_format(disk_images: dict[str, Path]) -> None:
    sniffer = sniff_file(str(disk_images["with_backing"]))
    for declared in ("qcow2", "raw"):
        with pytest.raises(ImageFormatError, match="backing file"):
            check_upload(sniffer, declared, "bare")


def test_qcow2_external_data_file_is_refused(disk_images: dict[str, Path]) -> None:
    with pytest.raises(ImageFormatError, match="external data file"):
        check_upload(sniff_file(str(disk_images["with_data_file"])), "qcow2", "bare")


def test_vmdk_descriptor_pointing_elsewhere_is_refused(disk_images: dict[str, Path]) -> None:
    with pytest.raises(ImageFormatError, match="safety checks"):
        check_upload(sniff_file(str(disk_images["vmdk_flat"])), "vmdk", "bare")


@pytest.mark.parametrize(
    ("name", "disk_format", "virtual_size"),
    [("vmdk", "vmdk", 32 * 1024 * 1024), ("vdi", "vdi", 32 * 1024 * 1024), ("vhdx", "vhdx", None)],
)
def test_other_formats_match_their_declaration(
    disk_images: dict[str, Path], name: str, disk_format: str, virtual_size: int | None
) -> None:
    verdict = check_upload(sniff_file(str(disk_images[name])), disk_format, "bare")
    assert verdict.detected.format == disk_format
    assert verdict.virtual_size == virtual_size


def test_vhd_detected(disk_images: dict[str, Path]) -> None:
    assert check_upload(sniff_file(str(disk_images["vhd"])), "vhd", "bare").detected.format == "vhd"


def test_mismatch_names_both_formats(disk_images: dict[str, Path]) -> None:
    with pytest.raises(ImageFormatError, match="disk_format vmdk does not match stream data qcow2"):
        check_upload(sniff_file(str(disk_images["qcow2"])), "vmdk", "bare")
    with pytest.raises(ImageFormatError, match="disk_format qcow2 does not match stream data raw"):
        check_upload(sniffed(b"\0" * 4096), "qcow2", "bare")


def test_raw_accepts_anything_safe_and_its_size_is_virtual(disk_images: dict[str, Path]) -> None:
    data = disk_images["qcow2"].read_bytes()
    assert check_upload(sniffed(data), "raw", "bare").virtual_size == len(data)
    assert check_upload(sniffed(b"hello"), "raw", "bare").virtual_size == 5


def test_opaque_formats_take_unrecognised_data_only(disk_images: dict[str, Path]) -> None:
    assert check_upload(sniffed(b"\x7fELF kernel bytes"), "aki", "bare").virtual_size is None
    with pytest.raises(ImageFormatError):
        check_upload(sniff_file(str(disk_images["qcow2"])), "ami", "bare")


def test_containers_are_not_format_matched_but_still_safety_checked(disk_images: dict[str, Path]) -> None:
    assert check_upload(sniffed(b"tar bytes"), "qcow2", "ova").virtual_size is None
    with pytest.raises(ImageFormatError):
        check_upload(sniff_file(str(disk_images["with_backing"])), "qcow2", "ova")


def test_iso_primary_volume_descriptor() -> None:
    data = bytearray(0x8800)
    data[0x8000] = 1
    data[0x8001:0x8006] = b"CD001"
    struct.pack_into("<I", data, 0x8000 + 80, 100)
    struct.pack_into("<H", data, 0x8000 + 128, 2048)
    verdict = check_upload(sniffed(bytes(data), chunk=4096), "iso", "bare")
    assert verdict.virtual_size == 100 * 2048


def test_sniffer_keeps_constant_memory() -> None:
    sniffer = Sniffer()
    for _ in range(1000):
        sniffer.feed(b"x" * 65536)
    assert len(sniffer.head) == 64 * 1024
    assert len(sniffer.tail) == 512
    assert sniffer.size == 1000 * 65536
