"""The `rbd` backend: volumes as Ceph RBD images `<pool>/volume-<id>`, reached by QEMU's
userspace rbd driver (qemu-block-extra); no kernel rbd, no /dev/rbdX.

Snapshots are RBD snapshots (safe while a guest writes: librbd's exclusive lock
coordinates). A volume from a snapshot or another volume is an RBD clone, flattened
at once so snapshots and volumes stay independent (delete in any order). An image
becomes a volume through qemu-img convert into a `.partial` name, renamed when whole.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from gureum.agent.storage import live, qemu_img
from gureum.agent.storage.base import BackendUsage, LiveOwner, VolumeBackend, VolumeError, VolumeState

_PREFIX = "volume-"
_PARTIAL = ".partial"
_COPY_SNAPSHOT = "gureum-copy"


class RbdBackend(VolumeBackend):
    name = "rbd"

    def __init__(self, pool: str = "volumes", conf: Path | None = None, user: str = "admin",
                 keyring: Path | None = None) -> None:
        self.pool = pool
        self.conf = conf
        self.user = user
        self.keyring = keyring

    # -- the rbd tool -----------------------------------------------------------------------

    def _args(self) -> list[str]:
        args = ["--id", self.user]
        if self.conf is not None:
            args += ["--conf", str(self.conf)]
        if self.keyring is not None:
            args += ["--keyring", str(self.keyring)]
        return args

    def _rbd(self, *argv: str, failure: str, timeout: float = 600) -> str:
        try:
            result = subprocess.run(["rbd", *self._args(), *argv], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise VolumeError(f"{failure}: rbd took more than {timeout:.0f} s") from exc
        if result.returncode != 0:
            raise VolumeError(f"{failure}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def _json(self, *argv: str, failure: str, timeout: float = 60) -> Any:
        return json.loads(self._rbd(*argv, "--format", "json", failure=failure, timeout=timeout) or "null")

    def image_of(self, volume_id: str) -> str:
        return f"{_PREFIX}{volume_id}"

    def _spec(self, volume_id: str, snapshot: str | None = None) -> str:
        return f"{self.pool}/{self.image_of(volume_id)}" + (f"@{snapshot}" if snapshot else "")

    def _qemu_target(self, image: str, snapshot: str | None = None) -> str:
        """qemu-img's rbd: filename (the protocol driver of qemu-block-extra)."""
        target = f"rbd:{self.pool}/{image}" + (f"@{snapshot}" if snapshot else "") + f":id={self.user}"
        if self.conf is not None:
            target += f":conf={self.conf}"
        if self.keyring is not None:
            target += f":keyring={self.keyring}"
        return target

    # -- what exists ----------------------------------------------------------------------------

    def list_volumes(self) -> list[str]:
        names = self._json("ls", self.pool, failure="cannot list the rbd pool") or []
        return sorted(n[len(_PREFIX):] for n in names if n.startswith(_PREFIX) and not n.endswith(_PARTIAL))

    def state(self, volume_id: str, owner: LiveOwner | None) -> VolumeState | None:
        if volume_id not in self.list_volumes():
            return None
        info = self._json("info", self._spec(volume_id), failure=f"cannot read volume {volume_id}")
        snapshots = self._json("snap", "ls", self._spec(volume_id), failure="cannot list snapshots") or []
        try:
            usage = self._json("du", self._spec(volume_id), failure="cannot measure the volume")
            used = sum(int(i.get("used_size", 0)) for i in usage.get("images", []) if not i.get("snapshot"))
        except VolumeError:
            used = 0
        return VolumeState(volume_id, int(info["size"]), used,
                           [s["name"] for s in snapshots if not s["name"].startswith(_COPY_SNAPSHOT)])

    def usage(self) -> BackendUsage:
        result = subprocess.run(["ceph", *self._args(), "df", "--format", "json"], capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0:
            raise VolumeError(f"cannot ask Ceph for its free space: {result.stderr.strip()[-300:]}")
        stats = json.loads(result.stdout)["stats"]
        return BackendUsage(int(stats["total_bytes"]), int(stats["total_avail_bytes"]))

    # -- making volumes -------------------------------------------------------------------------

    def create_empty(self, volume_id: str, size_bytes: int) -> None:
        if volume_id in self.list_volumes():
            return
        self._rbd("create", "--size", f"{_mib(size_bytes)}M", self._spec(volume_id), failure="could not create the volume")

    def create_from_image(self, volume_id: str, image: Path, size_bytes: int) -> None:
        if volume_id in self.list_volumes():
            return
        image_format = qemu_img.checked_image_format(image, size_bytes)
        partial = self.image_of(volume_id) + _PARTIAL
        self._remove_image(partial)
        try:
            qemu_img.convert(image, image_format, Path(self._qemu_target(partial)), "raw")
            self._resize(f"{self.pool}/{partial}", size_bytes)
            self._rbd("rename", f"{self.pool}/{partial}", self._spec(volume_id), failure="could not name the volume")
        finally:
            self._remove_image(partial)

    def create_from_snapshot(self, volume_id: str, source_volume_id: str, snapshot_id: str, size_bytes: int,
                             owner: LiveOwner | None) -> None:
        self._clone(volume_id, source_volume_id, snapshot_id, size_bytes)

    def create_from_volume(self, volume_id: str, source_volume_id: str, size_bytes: int,
                           owner: LiveOwner | None) -> None:
        snapshot = f"{_COPY_SNAPSHOT}-{volume_id}"
        self._rbd("snap", "create", self._spec(source_volume_id, snapshot), failure="could not snapshot the source")
        try:
            self._clone(volume_id, source_volume_id, snapshot, size_bytes)
        finally:
            self._drop_snapshot(source_volume_id, snapshot)

    def _clone(self, volume_id: str, source_volume_id: str, snapshot: str, size_bytes: int) -> None:
        if volume_id in self.list_volumes():
            return
        partial = f"{self.pool}/{self.image_of(volume_id)}{_PARTIAL}"
        self._remove_image(self.image_of(volume_id) + _PARTIAL)
        if not self._protected(source_volume_id, snapshot):  # clone format 1 wants its parent protected
            self._rbd("snap", "protect", self._spec(source_volume_id, snapshot),
                      failure="could not protect the snapshot")
        try:
            self._rbd("clone", self._spec(source_volume_id, snapshot), partial, failure="could not clone")
            self._rbd("flatten", partial, failure="could not flatten the clone")
            self._resize(partial, size_bytes)
            self._rbd("rename", partial, self._spec(volume_id), failure="could not name the volume")
        finally:
            self._remove_image(self.image_of(volume_id) + _PARTIAL)
            self._unprotect(source_volume_id, snapshot)

    # -- changing volumes -------------------------------------------------------------------------

    def delete(self, volume_id: str) -> None:
        if volume_id not in self.list_volumes():
            self._remove_image(self.image_of(volume_id) + _PARTIAL)
            return
        for snapshot in self._json("snap", "ls", self._spec(volume_id), failure="cannot list snapshots") or []:
            self._unprotect(volume_id, snapshot["name"])
        self._rbd("snap", "purge", self._spec(volume_id), failure="could not delete the volume's snapshots")
        self._rbd("rm", "--no-progress", self._spec(volume_id), failure="could not delete the volume")

    def extend(self, volume_id: str, size_bytes: int, owner: LiveOwner | None) -> None:
        if owner is not None:
            live.resize(owner, size_bytes)  # the guest is told of its new size
        else:
            self._resize(self._spec(volume_id), size_bytes)

    def create_snapshot(self, volume_id: str, snapshot_id: str, owner: LiveOwner | None) -> None:
        self._rbd("snap", "create", self._spec(volume_id, snapshot_id), failure=f"could not take snapshot {snapshot_id}")

    def delete_snapshot(self, volume_id: str, snapshot_id: str, owner: LiveOwner | None) -> None:
        self._drop_snapshot(volume_id, snapshot_id)

    def revert(self, volume_id: str, snapshot_id: str) -> None:
        self._rbd("snap", "rollback", "--no-progress", self._spec(volume_id, snapshot_id),
                  failure=f"could not revert to snapshot {snapshot_id}")

    def export_image(self, volume_id: str, target: Path, disk_format: str, owner: LiveOwner | None) -> None:
        snapshot = f"{_COPY_SNAPSHOT}-upload"
        self._drop_snapshot(volume_id, snapshot)
        self._rbd("snap", "create", self._spec(volume_id, snapshot), failure="could not snapshot the volume")
        try:
            qemu_img.convert(Path(self._qemu_target(self.image_of(volume_id), snapshot)), "raw", target, disk_format)
        finally:
            self._drop_snapshot(volume_id, snapshot)

    # -- reaching it from QEMU ------------------------------------------------------------------------

    def blockdev(self, volume_id: str) -> dict[str, Any]:
        file: dict[str, Any] = {"driver": "rbd", "pool": self.pool, "image": self.image_of(volume_id),
                                "user": self.user}
        if self.conf is not None:
            file["conf"] = str(self.conf)
        return {"driver": "raw", "file": file}

    # -- internals ----------------------------------------------------------------------------------------

    def _resize(self, spec: str, size_bytes: int) -> None:
        current = int(self._json("info", spec, failure="cannot read the volume")["size"])
        if current != _mib(size_bytes) * 1024**2:  # rbd refuses a resize to the same size
            self._rbd("resize", "--allow-shrink", "--no-progress", "--size", f"{_mib(size_bytes)}M", spec,
                      failure="could not size the volume")

    def _protected(self, volume_id: str, snapshot: str) -> bool:
        for entry in self._json("snap", "ls", self._spec(volume_id), failure="cannot list snapshots") or []:
            if entry["name"] == snapshot:
                return str(entry.get("protected", "false")).lower() == "true"
        return False

    def _unprotect(self, volume_id: str, snapshot: str) -> None:
        if self._protected(volume_id, snapshot):
            self._rbd("snap", "unprotect", self._spec(volume_id, snapshot), failure="could not unprotect the snapshot")

    def _drop_snapshot(self, volume_id: str, snapshot: str) -> None:
        names = [s["name"] for s in self._json("snap", "ls", self._spec(volume_id), failure="cannot list snapshots") or []]
        if snapshot in names:
            self._unprotect(volume_id, snapshot)
            self._rbd("snap", "rm", "--no-progress", self._spec(volume_id, snapshot),
                      failure=f"could not delete snapshot {snapshot}")

    def _remove_image(self, image: str) -> None:
        names = self._json("ls", self.pool, failure="cannot list the rbd pool") or []
        if image in names:
            self._rbd("rm", "--no-progress", f"{self.pool}/{image}", failure=f"could not remove {image}")


def _mib(size_bytes: int) -> int:
    return (size_bytes + 1024**2 - 1) // 1024**2
