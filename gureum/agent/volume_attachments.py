"""Each guest's volumes, as the desired state lists them: disks built in at launch,
hot-plugged while it runs, and what QEMU shows reported back per attachment."""

from __future__ import annotations

import threading
from pathlib import Path

from gureum.agent.hypervisor import DiskSpec, DiskSync, GuestNotFound, Hypervisor
from gureum.agent.protocol import DesiredInstance
from gureum.agent.storage import VolumeBackend, VolumeError
from gureum.agent.volume_disks import disk_for


class GuestVolumes:
    def __init__(self, hypervisor: Hypervisor, file_backend: VolumeBackend, keys_dir: Path,
                 rbd_backend: VolumeBackend | None = None) -> None:
        self.hv = hypervisor
        self.file_backend = file_backend
        self.rbd_backend = rbd_backend
        self.keys_dir = keys_dir
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._last: dict[str, DiskSync] = {}
        self._lock = threading.Lock()

    def disks(self, want: DesiredInstance) -> tuple[list[DiskSpec], dict[str, str]]:
        """The DiskSpecs of the guest's attachments that can be reached now, and why the others cannot."""
        disks: list[DiskSpec] = []
        errors: dict[str, str] = {}
        for attachment in want.volumes:
            try:
                disks.append(disk_for(attachment, self.file_backend, self.keys_dir, self.rbd_backend))
            except VolumeError as error:
                errors[attachment.attachment_id] = str(error)
        return disks, errors

    def sync(self, want: DesiredInstance) -> DiskSync:
        disks, unreachable = self.disks(want)
        result = self.hv.sync_disks(want.uuid, disks)
        result = DiskSync(result.attached, result.detach_pending, {**unreachable, **result.errors})
        with self._lock:
            self._last[want.uuid] = result
        self._forget_keys({a.attachment_id for a in want.volumes}, want.uuid)
        return result

    def last(self, instance_uuid: str) -> DiskSync:
        with self._lock:
            known = self._last.get(instance_uuid)
        if known is not None:
            return known
        try:  # not synced by this agent yet (it just started): the saved spec is what it launches with
            return DiskSync(attached=[d.attachment_id for d in self.hv.disks_of(instance_uuid)])
        except (GuestNotFound, NotImplementedError, OSError):
            return DiskSync()

    def forget(self, instance_uuid: str) -> None:
        with self._lock:
            self._last.pop(instance_uuid, None)

    def _forget_keys(self, wanted: set[str], instance_uuid: str) -> None:
        del instance_uuid  # keys are per attachment; drop those no guest of this host wants
        # (cheap: one directory per NBD attachment)
        if not self.keys_dir.exists():
            return
        in_use = wanted | {a for s in self._last.values() for a in (*s.attached, *s.detach_pending)}
        for entry in self.keys_dir.iterdir():
            if entry.is_dir() and entry.name not in in_use:
                for file in entry.iterdir():
                    file.unlink(missing_ok=True)
                entry.rmdir()
