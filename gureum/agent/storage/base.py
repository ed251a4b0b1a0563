"""The VolumeBackend seam: what the agent asks of whatever holds this host's volumes.

A backend makes volumes exist, grow, snapshot, clone, revert and go away, and says
how a QEMU reaches one (`blockdev`). It never reads or writes the live data of a
volume a QEMU has open: when one does (`LiveOwner`), the backend works through
that QEMU's QMP monitor instead (internal snapshots, block_resize).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIB = 1024**3


class VolumeError(RuntimeError):
    """A volume operation failed; the message says what, in plain words. Retried next pass."""


class VolumeSourceError(VolumeError):
    """The source can never become this volume (too big, wrong format): not retried."""


@dataclass(frozen=True)
class LiveOwner:
    """The QEMU (a guest's, or the storage daemon's) that has a volume open, and its node."""

    qmp_socket: Path
    node_name: str


@dataclass(frozen=True)
class VolumeState:
    volume_id: str
    size_bytes: int
    allocated_bytes: int
    snapshots: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BackendUsage:
    total_bytes: int
    free_bytes: int


def node_name(volume_id: str) -> str:
    """QEMU node names are at most 31 characters: `v` and 30 hex of the volume id."""
    hex_digits = "".join(c for c in volume_id.lower() if c in "0123456789abcdef")
    if len(hex_digits) < 30:
        import hashlib

        hex_digits = hashlib.sha256(volume_id.encode()).hexdigest()
    return "v" + hex_digits[:30]


class VolumeBackend(ABC):
    name: str

    @abstractmethod
    def list_volumes(self) -> list[str]:
        """Ids of every volume this backend holds on this host (complete ones only)."""

    @abstractmethod
    def state(self, volume_id: str, owner: LiveOwner | None) -> VolumeState | None:
        """Size, allocation and snapshots; None when the volume does not exist."""

    @abstractmethod
    def create_empty(self, volume_id: str, size_bytes: int) -> None: ...

    @abstractmethod
    def create_from_image(self, volume_id: str, image: Path, size_bytes: int) -> None:
        """`image` is a local file (raw or qcow2, no backing file), checked before use."""

    @abstractmethod
    def create_from_snapshot(self, volume_id: str, source_volume_id: str, snapshot_id: str, size_bytes: int,
                             owner: LiveOwner | None) -> None: ...

    @abstractmethod
    def create_from_volume(self, volume_id: str, source_volume_id: str, size_bytes: int,
                           owner: LiveOwner | None) -> None: ...

    @abstractmethod
    def delete(self, volume_id: str) -> None:
        """Remove it and its snapshots; nothing if it is not there. Never while a QEMU holds it."""

    @abstractmethod
    def extend(self, volume_id: str, size_bytes: int, owner: LiveOwner | None) -> None: ...

    @abstractmethod
    def create_snapshot(self, volume_id: str, snapshot_id: str, owner: LiveOwner | None) -> None: ...

    @abstractmethod
    def delete_snapshot(self, volume_id: str, snapshot_id: str, owner: LiveOwner | None) -> None: ...

    @abstractmethod
    def revert(self, volume_id: str, snapshot_id: str) -> None:
        """Back to the snapshot's data and size; the volume must be detached."""

    @abstractmethod
    def export_image(self, volume_id: str, target: Path, disk_format: str, owner: LiveOwner | None) -> None:
        """Write the volume's data as a standalone image file (for upload to Glance)."""

    @abstractmethod
    def blockdev(self, volume_id: str) -> dict[str, Any]:
        """The `file` child of QEMU's blockdev-add for this volume, and its format driver:
        {"driver": "qcow2"|"raw", "file": {...}}."""

    @abstractmethod
    def usage(self) -> BackendUsage: ...


class UnavailableBackend(VolumeBackend):
    """A backend this host cannot run, kept behind the seam so the reason is reported."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise VolumeError(f"volume backend {self.name} is not available on this host: {self.reason}")

    def list_volumes(self) -> list[str]:
        return []

    def state(self, volume_id: str, owner: LiveOwner | None) -> VolumeState | None:
        return None

    create_empty = create_from_image = create_from_snapshot = create_from_volume = _refuse  # type: ignore[assignment]
    delete = extend = create_snapshot = delete_snapshot = revert = export_image = blockdev = _refuse  # type: ignore[assignment]

    def usage(self) -> BackendUsage:
        return BackendUsage(0, 0)


# Why the backends Cinder users know best are not offered: these kernels cannot run them.
LVM_UNAVAILABLE = ("LVM needs the kernel's device-mapper (dm-thin for thin pools), which this kernel does not "
                   "have; use the file or rbd backend")
ISCSI_UNAVAILABLE = ("an iSCSI target needs LIO, which needs configfs, which this kernel does not have; gureum "
                     "reaches volumes on other hosts over NBD with TLS-PSK instead")
