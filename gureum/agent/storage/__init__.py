"""Volumes on this host: the VolumeBackend seam and its backends (file, rbd)."""

from gureum.agent.storage.base import (
    GIB,
    ISCSI_UNAVAILABLE,
    LVM_UNAVAILABLE,
    BackendUsage,
    LiveOwner,
    UnavailableBackend,
    VolumeBackend,
    VolumeError,
    VolumeSourceError,
    VolumeState,
    node_name,
)
from gureum.agent.storage.file import FileBackend

__all__ = [
    "GIB",
    "ISCSI_UNAVAILABLE",
    "LVM_UNAVAILABLE",
    "BackendUsage",
    "FileBackend",
    "LiveOwner",
    "UnavailableBackend",
    "VolumeBackend",
    "VolumeError",
    "VolumeSourceError",
    "VolumeState",
    "node_name",
]
