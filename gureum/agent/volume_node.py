"""Block storage on one agent: its backends, the volume reconciler and its guests' attachments."""

from __future__ import annotations

from pathlib import Path

from gureum.agent.client import ControllerClient
from gureum.agent.hypervisor import Hypervisor
from gureum.agent.imagecache import ImageCache
from gureum.agent.storage import (
    ISCSI_UNAVAILABLE,
    LVM_UNAVAILABLE,
    FileBackend,
    LiveOwner,
    UnavailableBackend,
    VolumeBackend,
)
from gureum.agent.volume_attachments import GuestVolumes
from gureum.agent.volume_reconcile import LedgerStore, VolumeReconciler


class VolumeHolders:
    """Which QEMU on this host has a volume open: a running guest that attached it as a file."""

    def __init__(self, hypervisor: Hypervisor) -> None:
        self.hv = hypervisor

    def __call__(self, volume_id: str) -> LiveOwner | None:
        holder = self.hv.volume_holders().get(volume_id)
        return LiveOwner(*holder) if holder else None


def volume_parts(state_dir: Path, hypervisor: Hypervisor, images: ImageCache,
                 client: ControllerClient) -> tuple[VolumeReconciler, GuestVolumes]:
    file_backend = FileBackend(state_dir / "volumes")
    backends: dict[str, VolumeBackend] = {
        "file": file_backend,
        # Behind the seam, refused with the reason (reported as the backend's error).
        "lvm": UnavailableBackend("lvm", LVM_UNAVAILABLE),
        "iscsi": UnavailableBackend("iscsi", ISCSI_UNAVAILABLE),
    }
    reconciler = VolumeReconciler(backends, images, client, LedgerStore(state_dir / "volume-ledger"),
                                  state_dir / "volume-scratch", VolumeHolders(hypervisor))
    return reconciler, GuestVolumes(hypervisor, file_backend, state_dir / "volume-keys")
