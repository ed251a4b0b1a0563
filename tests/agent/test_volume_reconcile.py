"""The volume reconciler on a real file backend and qemu-img: level-triggered creates from
every source, slow steps as jobs, exactly-once actions, deletes, and what it reports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from gureum.agent.client import ControllerClient
from gureum.agent.hypervisor import Accel, QemuHypervisor
from gureum.agent.imagecache import ImageCache
from gureum.agent.protocol import DesiredVolume, DesiredVolumeUpload, VolumeSource
from gureum.agent.volume_node import volume_parts

MIB = 1024**2


def test_volumes_follow_the_desired_state(tmp_path: Path) -> None:
    client = ControllerClient("http://127.0.0.1:9", "unused", timeout=2)  # nothing listens: uploads fail
    images = ImageCache(tmp_path / "image-cache", client)
    hypervisor = QemuHypervisor(tmp_path / "instances", accel=Accel("tcg"))
    volumes, _ = volume_parts(tmp_path, hypervisor, images, client)
    image = images.path_of("img-1")
    image.write_bytes(b"\x05" * MIB)  # as if fetched: the cache has it
    big = images.path_of("img-big")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "5G"], check=True)

    wanted = [DesiredVolume("empty", size_gb=1),
              DesiredVolume("from-image", size_gb=1, source=VolumeSource(kind="image", id="img-1")),
              DesiredVolume("too-big", size_gb=1, source=VolumeSource(kind="image", id="img-big"))]
    volumes.apply(wanted)
    volumes.wait_idle()
    volumes.apply(wanted)
    seen = {v.id: v for v in volumes.observe()}
    assert seen["empty"].present and seen["empty"].size_gb == 1 and seen["empty"].error is None
    assert seen["from-image"].present and not seen["from-image"].busy
    assert not seen["too-big"].present and "5 GiB but the volume only 1 GiB" in (seen["too-big"].error or "")
    assert {b.name: b.error is None for b in volumes.observe_backends()} == \
        {"file": True, "iscsi": False, "lvm": False, "rbd": False}

    # Snapshot, then a volume from it and a clone; then a revert, exactly once.
    wanted = [DesiredVolume("from-image", size_gb=2, snapshots=["s1"])]
    volumes.apply(wanted)
    wanted += [DesiredVolume("from-snap", size_gb=2, source=VolumeSource(kind="snapshot", id="s1",
                                                                        volume_id="from-image")),
               DesiredVolume("clone", size_gb=2, source=VolumeSource(kind="volume", id="from-image"))]
    volumes.apply(wanted)
    volumes.wait_idle()
    volumes.apply(wanted)
    seen = {v.id: v for v in volumes.observe()}
    assert seen["from-image"].snapshots == ["s1"] and seen["from-image"].size_gb == 2
    assert seen["from-snap"].present and seen["clone"].present and seen["clone"].size_gb == 2
    assert "too-big" not in seen  # no longer wanted: its error went with it

    wanted[0] = DesiredVolume("from-image", size_gb=2, snapshots=["s1"], revert_count=1, revert_snapshot_id="s1",
                              uploads=[DesiredVolumeUpload("img-up", "raw")])
    volumes.apply(wanted)
    volumes.wait_idle()
    volumes.apply(wanted)
    [reverted] = [v for v in volumes.observe() if v.id == "from-image"]
    assert reverted.revert_count == 1 and reverted.size_gb == 2
    assert "img-up" in reverted.uploads_failed  # the controller is not there; reported, not retried
    assert reverted.uploads_done == []

    # Gone from the desired state: deleted with their ledgers; a partial leftover is swept.
    volumes.apply([])
    volumes.remove_unwanted()
    assert volumes.observe() == [] and sorted(p.name for p in (tmp_path / "volumes").iterdir()) == []
    volumes.close()
    shutil.rmtree(tmp_path / "instances", ignore_errors=True)

