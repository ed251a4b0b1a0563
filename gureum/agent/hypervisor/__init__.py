"""The Hypervisor seam (base) and its QEMU implementation."""

from gureum.agent.hypervisor.accel import Accel, detect_accel
from gureum.agent.hypervisor.base import (
    DiskSpec,
    DiskSync,
    GuestNotFound,
    GuestSpec,
    Hypervisor,
    HypervisorError,
    NicSpec,
    ObservedGuest,
    PowerState,
)
from gureum.agent.hypervisor.configdrive import build_config_drive
from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
from gureum.agent.hypervisor.qemu import QemuHypervisor

__all__ = [
    "Accel",
    "DiskSpec",
    "DiskSync",
    "GuestNotFound",
    "GuestSpec",
    "Hypervisor",
    "HypervisorError",
    "InstanceMetadata",
    "NicSpec",
    "ObservedGuest",
    "PowerState",
    "QemuHypervisor",
    "build_config_drive",
    "detect_accel",
]
