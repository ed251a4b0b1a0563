"""The `rbd` volume backend against a real one-node Ceph this module starts (gureum.testing_ceph)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.agent.storage import GIB, VolumeSourceError
from gureum.agent.storage.rbd import RbdBackend
from gureum.testing_ceph import CephCluster, ceph_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(ceph_available() is not None, reason=str(ceph_available()))]

MIB = 1024**2


@pytest.fixture(scope="module")
def ceph() -> Iterator[CephCluster]:
    directory = Path(tempfile.mkdtemp(prefix="gceph-", dir="/tmp"))
    started = time.monotonic()
    try:
        with CephCluster(directory) as cluster:
            print(f"one-node Ceph up in {time.monotonic() - started:.1f}s")
            yield cluster
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def backend(ceph: CephCluster) -> RbdBackend:
    return RbdBackend("volumes", conf=ceph.conf, user="admin", keyring=ceph.admin_keyring)


def qemu_io(backend: RbdBackend, volume_id: str, command: str, snapshot: str | None = None) -> str:
    target = backend._qemu_target(backend.image_of(volume_id), snapshot)
    result = subprocess.run(["qemu-io", "-f", "raw", *(["-r"] if snapshot else []), "-c", command, target],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def has_pattern(backend: RbdBackend, volume_id: str, byte: int) -> bool:
    out = qemu_io(backend, volume_id, f"read -P {byte} 0 64k")
    return "Pattern verification failed" not in out


def test_rbd_volume_lifecycle(backend: RbdBackend, tmp_path: Path) -> None:
    backend.create_empty("a", GIB)
    backend.create_empty("a", GIB)
    state = backend.state("a", None)
    assert state is not None and state.size_bytes == GIB and state.snapshots == []
    assert backend.list_volumes() == ["a"]
    assert backend.usage().free_bytes > 0

    qemu_io(backend, "a", "write -P 1 0 64k")
    backend.create_snapshot("a", "snap1", None)
    qemu_io(backend, "a", "write -P 2 0 64k")
    assert backend.state("a", None).snapshots == ["snap1"]  # type: ignore[union-attr]

    backend.create_from_snapshot("from-snap", "a", "snap1", 2 * GIB, None)
    assert has_pattern(backend, "from-snap", 1)
    assert backend.state("from-snap", None).size_bytes == 2 * GIB  # type: ignore[union-attr]
    backend.create_from_volume("clone", "a", GIB, None)
    assert has_pattern(backend, "clone", 2)

    backend.extend("a", 2 * GIB, None)
    assert backend.state("a", None).size_bytes == 2 * GIB  # type: ignore[union-attr]
    backend.revert("a", "snap1")
    assert has_pattern(backend, "a", 1)

    # Flattened clones: the source and its snapshot go in any order.
    backend.delete_snapshot("a", "snap1", None)
    backend.delete("a")
    assert has_pattern(backend, "from-snap", 1)

    raw = tmp_path / "image.raw"
    raw.write_bytes(b"\x07" * MIB)
    backend.create_from_image("from-image", raw, GIB)
    assert has_pattern(backend, "from-image", 7)
    with pytest.raises(VolumeSourceError, match="but the volume only"):
        backend.create_from_image("too-small", raw, 1024)
    backend.export_image("from-image", tmp_path / "out.qcow2", "qcow2", None)
    info = subprocess.run(["qemu-img", "info", str(tmp_path / "out.qcow2")], capture_output=True, text=True).stdout
    assert "qcow2" in info

    for volume_id in backend.list_volumes():
        backend.delete(volume_id)
    assert backend.list_volumes() == []
    assert backend.blockdev("x")["file"]["image"] == "volume-x"
