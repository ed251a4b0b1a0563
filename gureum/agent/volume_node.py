"""Block storage on one agent: its backends, the volume reconciler and its guests' attachments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gureum.agent.client import ControllerClient
from gureum.agent.hypervisor import Hypervisor
from gureum.agent.imagecache import ImageCache
from gureum.agent.jobs import JobQueue
from gureum.agent.storage import (
    ISCSI_UNAVAILABLE,
    LVM_UNAVAILABLE,
    FileBackend,
    LiveOwner,
    UnavailableBackend,
    VolumeBackend,
)
from gureum.agent.storage.nbd_export import NbdExporter
from gureum.agent.storage.rbd import RbdBackend
from gureum.agent.volume_attachments import GuestVolumes
from gureum.agent.volume_reconcile import LedgerStore, VolumeReconciler


class VolumeHolders:
    """Which QEMU on this host has a volume open: a running guest that attached it as a file,
    or the storage daemon that exports it."""

    def __init__(self, hypervisor: Hypervisor, exporter: NbdExporter | None) -> None:
        self.hv = hypervisor
        self.exporter = exporter

    def __call__(self, volume_id: str) -> LiveOwner | None:
        holder = self.hv.volume_holders().get(volume_id)
        if holder:
            return LiveOwner(*holder)
        return self.exporter.owner_of(volume_id) if self.exporter is not None else None


def volume_parts(state_dir: Path, hypervisor: Hypervisor, images: ImageCache, client: ControllerClient,
                 storage_address: str = "", command_prefix: list[str] | None = None,
                 nbd_port: int = 10809, rbd: RbdBackend | None = None,
                 wake: Callable[[], None] = lambda: None) -> tuple[VolumeReconciler, GuestVolumes]:
    """`storage_address`: where this host serves its volumes to others over NBD ("": it does not).
    `command_prefix` runs the storage daemon where the guests' QEMUs run (the host namespace).
    `rbd`: this host's Ceph (None: rbd volumes are refused, saying so). `wake` asks for a
    pass when a slow volume step ends."""
    file_backend = FileBackend(state_dir / "volumes")
    backends: dict[str, VolumeBackend] = {
        "file": file_backend,
        # Behind the seam, refused with the reason (reported as the backend's error).
        "lvm": UnavailableBackend("lvm", LVM_UNAVAILABLE),
        "iscsi": UnavailableBackend("iscsi", ISCSI_UNAVAILABLE),
        "rbd": rbd if rbd is not None else UnavailableBackend(
            "rbd", "no Ceph cluster is configured for this host's agent (rbd_conf)"),
    }
    exporter = NbdExporter(state_dir / "nbd", file_backend, storage_address, nbd_port, command_prefix) \
        if storage_address else None
    reconciler = VolumeReconciler(backends, images, client, LedgerStore(state_dir / "volume-ledger"),
                                  state_dir / "volume-scratch", VolumeHolders(hypervisor, exporter), exporter,
                                  JobQueue(wake))
    return reconciler, GuestVolumes(hypervisor, file_backend, state_dir / "volume-keys", rbd)
