"""The `file` volume backend with real qemu-img: create, sources, snapshots, revert, extend."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gureum.agent.storage import GIB, FileBackend, UnavailableBackend, VolumeError, VolumeSourceError
from gureum.agent.storage.base import LVM_UNAVAILABLE

MIB = 1024**2


def qemu_io(path: Path, command: str, fmt: str = "qcow2", snapshot: str | None = None) -> str:
    argv = ["qemu-io", "-f", fmt, "-c", command, str(path)]
    if snapshot is not None:
        argv = ["qemu-io", "-r", "--image-opts", "-c", command,
                f"driver=qcow2,file.filename={path},snapshot.name={snapshot}"]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def pattern_at(path: Path, offset: int, byte: int, length: int = 64 * 1024) -> bool:
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-r", "-c", f"read -P {byte} {offset} {length}", str(path)],
                         capture_output=True, text=True)
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout + out.stderr


@pytest.fixture
def backend(tmp_path: Path) -> FileBackend:
    return FileBackend(tmp_path / "volumes")


def test_empty_volume_is_sparse_and_reported(backend: FileBackend) -> None:
    backend.create_empty("vol-a", 2 * GIB)
    backend.create_empty("vol-a", 2 * GIB)  # idempotent
    state = backend.state("vol-a", None)
    assert state is not None and state.size_bytes == 2 * GIB and state.allocated_bytes < 2 * MIB
    assert backend.list_volumes() == ["vol-a"]
    assert backend.usage().free_bytes > 0
    assert backend.state("missing", None) is None
    info = subprocess.run(["qemu-img", "info", str(backend.path_of("vol-a"))], capture_output=True, text=True).stdout
    assert "backing file" not in info


def test_snapshot_write_revert_clone_and_from_snapshot(backend: FileBackend) -> None:
    backend.create_empty("src", GIB)
    path = backend.path_of("src")
    qemu_io(path, "write -P 1 0 64k")
    backend.create_snapshot("src", "snap1", None)
    qemu_io(path, "write -P 2 0 64k")
    assert backend.state("src", None).snapshots == ["snap1"]  # type: ignore[union-attr]
    # A volume from the snapshot has the old data and its own size.
    backend.create_from_snapshot("from-snap", "src", "snap1", 2 * GIB, None)
    assert pattern_at(backend.path_of("from-snap"), 0, 1)
    assert backend.state("from-snap", None).size_bytes == 2 * GIB  # type: ignore[union-attr]
    # A clone has the present data.
    backend.create_from_volume("clone", "src", GIB, None)
    assert pattern_at(backend.path_of("clone"), 0, 2)
    # Extend, then revert: the old data and size are back.
    backend.extend("src", 3 * GIB, None)
    assert backend.state("src", None).size_bytes == 3 * GIB  # type: ignore[union-attr]
    backend.revert("src", "snap1")
    assert pattern_at(path, 0, 1)
    assert backend.state("src", None).size_bytes == GIB  # type: ignore[union-attr]
    backend.delete_snapshot("src", "snap1", None)
    assert backend.state("src", None).snapshots == []  # type: ignore[union-attr]
    for volume_id in ("src", "from-snap", "clone"):
        backend.delete(volume_id)
        backend.delete(volume_id)
    assert backend.list_volumes() == []


def test_from_image_checks_and_converts(backend: FileBackend, tmp_path: Path) -> None:
    raw = tmp_path / "image.raw"
    raw.write_bytes(b"\x07" * (1 * MIB))
    backend.create_from_image("from-raw", raw, GIB)
    assert pattern_at(backend.path_of("from-raw"), 0, 7, MIB)
    assert backend.state("from-raw", None).size_bytes == GIB  # type: ignore[union-attr]
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "3G"], check=True)
    with pytest.raises(VolumeSourceError, match="the image is 3 GiB but the volume only 1 GiB"):
        backend.create_from_image("too-small", big, GIB)
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(raw), str(overlay)], check=True)
    with pytest.raises(VolumeSourceError, match="backing file"):
        backend.create_from_image("with-backing", overlay, GIB)
    assert sorted(backend.list_volumes()) == ["from-raw"]


def test_export_image_and_partial_leftovers(backend: FileBackend, tmp_path: Path) -> None:
    backend.create_empty("v", GIB)
    qemu_io(backend.path_of("v"), "write -P 9 1M 64k")
    backend.export_image("v", tmp_path / "out.raw", "raw", None)
    assert (tmp_path / "out.raw").read_bytes()[MIB:MIB + 4] == b"\x09" * 4
    (backend.directory / ".w.partial.qcow2").write_bytes(b"half")
    assert FileBackend(backend.directory).list_volumes() == ["v"]
    assert not (backend.directory / ".w.partial.qcow2").exists()
    with pytest.raises(VolumeError, match="not usable"):
        backend.path_of("../etc")


def test_lvm_is_refused_with_its_reason() -> None:
    lvm = UnavailableBackend("lvm", LVM_UNAVAILABLE)
    with pytest.raises(VolumeError, match="device-mapper"):
        lvm.create_empty("v", GIB)
    assert lvm.list_volumes() == []
