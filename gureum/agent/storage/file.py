"""The `file` backend: one sparse qcow2 per volume under the agent's state dir.

`<state>/volumes/<id>.qcow2`, never with a backing file, so a volume is one file that
can be copied, exported or deleted alone. Snapshots are internal qcow2 snapshots (no
chains to commit or stream). A volume is made as `.<id>.partial` and renamed when
complete, so a crash mid-create leaves nothing that counts; leftovers go at start.
QEMU's image locks make sure only one process writes a volume.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from gureum.agent.storage import live, qemu_img
from gureum.agent.storage.base import (
    BackendUsage,
    LiveOwner,
    VolumeBackend,
    VolumeError,
    VolumeState,
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# A snapshot taken only to copy an attached volume's present data (clone, upload).
_TEMPORARY_SNAPSHOT_PREFIX = "gureum-copy-"


class FileBackend(VolumeBackend):
    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in self.directory.glob(".*.partial*"):
            stale.unlink(missing_ok=True)

    def path_of(self, volume_id: str) -> Path:
        if not _SAFE_ID.match(volume_id):
            raise VolumeError(f"volume id {volume_id!r} is not usable as a file name")
        return self.directory / f"{volume_id}.qcow2"

    def _partial(self, volume_id: str) -> Path:
        return self.directory / f".{volume_id}.partial.qcow2"

    # -- what exists ----------------------------------------------------------------

    def list_volumes(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.qcow2") if not p.name.startswith("."))

    def state(self, volume_id: str, owner: LiveOwner | None) -> VolumeState | None:
        path = self.path_of(volume_id)
        if not path.exists():
            return None
        details = live.image_info(owner) if owner is not None else qemu_img.info(path)
        snapshots = [s["name"] for s in details.get("snapshots", [])
                     if not s["name"].startswith(_TEMPORARY_SNAPSHOT_PREFIX)]
        return VolumeState(volume_id, int(details["virtual-size"]), path.stat().st_blocks * 512, snapshots)

    def usage(self) -> BackendUsage:
        disk = shutil.disk_usage(self.directory)
        return BackendUsage(total_bytes=disk.total, free_bytes=disk.free)

    # -- making volumes ---------------------------------------------------------------

    def create_empty(self, volume_id: str, size_bytes: int) -> None:
        self._make(volume_id, lambda partial: qemu_img.run(
            ["create", "-q", "-f", "qcow2", str(partial), str(size_bytes)], "could not create the volume"))

    def create_from_image(self, volume_id: str, image: Path, size_bytes: int) -> None:
        image_format = qemu_img.checked_image_format(image, size_bytes)

        def build(partial: Path) -> None:
            qemu_img.convert(image, image_format, partial, "qcow2")
            qemu_img.resize(partial, size_bytes, "could not size the volume")
        self._make(volume_id, build)

    def create_from_snapshot(self, volume_id: str, source_volume_id: str, snapshot_id: str, size_bytes: int,
                             owner: LiveOwner | None) -> None:
        source = self._existing(source_volume_id)

        def build(partial: Path) -> None:
            # A snapshot's data never changes, so reading it beside a live QEMU (-U) is safe.
            qemu_img.convert(source, "qcow2", partial, "qcow2", snapshot=snapshot_id, share=owner is not None)
            # convert gives the source's present size; the new volume has its own.
            qemu_img.resize(partial, size_bytes, "could not size the volume")
        self._make(volume_id, build)

    def create_from_volume(self, volume_id: str, source_volume_id: str, size_bytes: int,
                           owner: LiveOwner | None) -> None:
        with self._present_data(source_volume_id, owner, f"clone-{volume_id}") as (source, snapshot):
            def build(partial: Path) -> None:
                qemu_img.convert(source, "qcow2", partial, "qcow2", snapshot=snapshot, share=snapshot is not None)
                qemu_img.resize(partial, size_bytes, "could not size the volume")
            self._make(volume_id, build)

    def _make(self, volume_id: str, build: Any) -> None:
        target = self.path_of(volume_id)
        if target.exists():
            return
        partial = self._partial(volume_id)
        partial.unlink(missing_ok=True)
        try:
            build(partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    # -- changing volumes ----------------------------------------------------------------

    def delete(self, volume_id: str) -> None:
        self._partial(volume_id).unlink(missing_ok=True)
        self.path_of(volume_id).unlink(missing_ok=True)

    def extend(self, volume_id: str, size_bytes: int, owner: LiveOwner | None) -> None:
        if owner is not None:
            live.resize(owner, size_bytes)
        else:
            qemu_img.run(["resize", "-q", "-f", "qcow2", str(self._existing(volume_id)), str(size_bytes)],
                         "could not grow the volume")

    def create_snapshot(self, volume_id: str, snapshot_id: str, owner: LiveOwner | None) -> None:
        if owner is not None:
            live.create_snapshot(owner, snapshot_id)
        else:
            qemu_img.run(["snapshot", "-q", "-c", snapshot_id, str(self._existing(volume_id))],
                         f"could not take snapshot {snapshot_id}")

    def delete_snapshot(self, volume_id: str, snapshot_id: str, owner: LiveOwner | None) -> None:
        if owner is not None:
            live.delete_snapshot(owner, snapshot_id)
        else:
            qemu_img.run(["snapshot", "-q", "-d", snapshot_id, str(self._existing(volume_id))],
                         f"could not delete snapshot {snapshot_id}")

    def revert(self, volume_id: str, snapshot_id: str) -> None:
        qemu_img.run(["snapshot", "-q", "-a", snapshot_id, str(self._existing(volume_id))],
                     f"could not revert to snapshot {snapshot_id}")

    def export_image(self, volume_id: str, target: Path, disk_format: str, owner: LiveOwner | None) -> None:
        if disk_format not in ("raw", "qcow2"):
            raise VolumeError(f"cannot write a volume as {disk_format}; raw and qcow2 can be")
        with self._present_data(volume_id, owner, f"upload-{target.stem}") as (source, snapshot):
            qemu_img.convert(source, "qcow2", target, disk_format, snapshot=snapshot, share=snapshot is not None)

    # -- reaching it from QEMU -------------------------------------------------------------

    def blockdev(self, volume_id: str) -> dict[str, Any]:
        return {"driver": "qcow2",
                "file": {"driver": "file", "filename": str(self._existing(volume_id)), "aio": "threads"}}

    # -- internals --------------------------------------------------------------------------

    def _existing(self, volume_id: str) -> Path:
        path = self.path_of(volume_id)
        if not path.exists():
            raise VolumeError(f"volume {volume_id} is not on this host")
        return path

    def _present_data(self, volume_id: str, owner: LiveOwner | None, purpose: str) -> "_PresentData":
        return _PresentData(self, volume_id, owner, _TEMPORARY_SNAPSHOT_PREFIX + purpose)


class _PresentData:
    """The volume's present data as (file, snapshot name or None) for qemu-img to read.

    Detached: the file itself. Attached: a temporary internal snapshot taken by the
    owning QEMU (crash-consistent), deleted again afterwards."""

    def __init__(self, backend: FileBackend, volume_id: str, owner: LiveOwner | None, snapshot: str) -> None:
        self.backend, self.volume_id, self.owner, self.snapshot = backend, volume_id, owner, snapshot[:60]

    def __enter__(self) -> tuple[Path, str | None]:
        path = self.backend._existing(self.volume_id)
        if self.owner is None:
            return path, None
        live.create_snapshot(self.owner, self.snapshot)
        return path, self.snapshot

    def __exit__(self, *_: object) -> None:
        if self.owner is not None:
            live.delete_snapshot(self.owner, self.snapshot)
