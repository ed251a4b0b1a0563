"""The Hypervisor seam: what the agent asks of whatever runs its guests.

The agent reconciles desired state into calls on this interface and reports
what `list_running`/`observe` return. Implementations own one node's guests and
keep them alive across restarts of the agent process.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gureum.agent.protocol import HostCapabilities


class HypervisorError(RuntimeError):
    """An action on a guest failed; the message says what and what to do."""


class GuestNotFound(HypervisorError):
    """No guest with that instance id exists on this node."""


class PowerState(enum.Enum):
    """Nova's power states (nova.compute.power_state), as this node observes them."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4  # defined but not running: the instance dir and disk are still there
    CRASHED = 6
    SUSPENDED = 7  # memory saved to disk, no process


@dataclass(frozen=True)
class NicSpec:
    """One virtio NIC. `tap` is a tap device the dataplane created and owns;
    None gives a NIC on an isolated hub (a guest with no network at all)."""

    mac: str
    tap: str | None = None
    mtu: int | None = None  # told to the guest through virtio (host_mtu)


@dataclass(frozen=True)
class DiskSpec:
    """A volume as a virtio disk of the guest: QEMU's blockdev and device for it.

    `blockdev` is blockdev-add's arguments without the node name (format driver and
    its `file` child: a local file, NBD or RBD); `objects` are object-add arguments it
    needs first (TLS-PSK credentials, secrets), with ids derived from `node_name`.
    The guest sees serial `serial` (/dev/disk/by-id/virtio-<first 20 chars>).
    """

    attachment_id: str
    volume_id: str
    node_name: str  # "v" + 30 hex: QEMU allows 31 characters
    blockdev: dict[str, Any]
    serial: str = ""
    objects: list[dict[str, Any]] = field(default_factory=list)
    boot_index: int | None = None
    readonly: bool = False
    # This guest's QEMU is where the volume's live operations go (snapshots of a local file,
    # block_resize so the guest sees a new size): true for a file of this host and for rbd;
    # false for NBD, whose exporter holds the volume.
    live_owner: bool = False

    @property
    def device_id(self) -> str:
        return f"volume-{self.volume_id}"


@dataclass(frozen=True)
class DiskSync:
    """What a guest's disks are after a sync, by attachment id."""

    attached: list[str] = field(default_factory=list)
    # Detached in the desired state, but the guest has not released the disk yet.
    detach_pending: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GuestSpec:
    """Everything needed to start one guest. Paths are on this node."""

    instance_id: str
    name: str
    vcpus: int
    memory_mib: int
    # The image; the guest writes to its own overlay of it. None: no root disk (boot from volume).
    root_disk_base: Path | None
    root_disk_gib: int | None = None  # grow the overlay to this size (flavor root_gb)
    kernel: Path | None = None  # direct kernel boot, as with AMI/ARI images
    initrd: Path | None = None
    kernel_cmdline: str | None = None
    config_drive: Path | None = None  # an ISO 9660 image labelled config-2
    nics: list[NicSpec] = field(default_factory=list)
    # Volumes, built in at launch; a running guest gets changes hot-plugged (sync_disks).
    disks: list[DiskSpec] = field(default_factory=list)


@dataclass(frozen=True)
class ObservedGuest:
    """What the node sees, reported to the controller as observed state."""

    instance_id: str
    power_state: PowerState
    pid: int | None
    instance_dir: Path


class Hypervisor(ABC):
    """One node's guests. Every method is idempotent where the name allows it."""

    @property
    def capabilities(self) -> HostCapabilities:
        """What this driver can do, reported to the controller in HostCapacity.

        Attach support follows from the methods: a driver that implements attach_disk or
        attach_port says so without a second place to keep in step. Override to say more."""
        implements = {name: getattr(type(self), name) is not getattr(Hypervisor, name)
                      for name in ("attach_disk", "attach_port")}
        return HostCapabilities(accel=self.accelerator, supports_attach_volume=implements["attach_disk"],
                                supports_attach_interface=implements["attach_port"])

    @property
    def accelerator(self) -> str:
        """kvm | tcg."""
        return "tcg"

    @abstractmethod
    def spawn(self, spec: GuestSpec) -> ObservedGuest:
        """Create the guest's disk and start it; a running guest is left as is."""

    @abstractmethod
    def destroy(self, instance_id: str) -> None:
        """Stop the guest hard and delete everything it had on this node."""

    @abstractmethod
    def start(self, instance_id: str) -> ObservedGuest:
        """Start a stopped guest with its existing disk."""

    @abstractmethod
    def stop(self, instance_id: str, timeout_seconds: float = 60.0) -> ObservedGuest:
        """Ask the guest to power off (ACPI); after the timeout, pull the plug.
        A timeout of 0 stops it hard at once."""

    @abstractmethod
    def reboot(self, instance_id: str, hard: bool = False, timeout_seconds: float = 60.0) -> ObservedGuest:
        """Soft: graceful stop then start (hard if the guest ignores ACPI).
        Hard: kill and start again from the saved spec."""

    @abstractmethod
    def pause(self, instance_id: str) -> ObservedGuest:
        """Freeze the vCPUs; memory stays in the QEMU process."""

    @abstractmethod
    def unpause(self, instance_id: str) -> ObservedGuest: ...

    @abstractmethod
    def suspend(self, instance_id: str) -> ObservedGuest:
        """Save the guest's memory to its instance dir and end the process."""

    @abstractmethod
    def resume(self, instance_id: str) -> ObservedGuest:
        """Start a suspended guest from its saved memory."""

    @abstractmethod
    def observe(self, instance_id: str) -> ObservedGuest:
        """The guest's current state; GuestNotFound if it is not on this node."""

    @abstractmethod
    def list_running(self) -> list[ObservedGuest]:
        """Guests with a live process (running or paused), found from the node
        itself, so an agent that restarted adopts the guests it left running."""

    @abstractmethod
    def list_guests(self) -> list[ObservedGuest]:
        """Every guest with an instance dir on this node, in whatever state."""

    @abstractmethod
    def resize(self, instance_id: str, vcpus: int, memory_mib: int, root_disk_gib: int | None) -> ObservedGuest:
        """Give the guest a new size (a stop and start if it runs); the root disk only grows."""

    @abstractmethod
    def snapshot(self, instance_id: str, target: Path) -> None:
        """Write the guest's root disk, flattened, as a standalone qcow2 image at `target`."""

    @abstractmethod
    def console_log(self, instance_id: str, max_bytes: int = 100 * 1024) -> str:
        """The tail of the serial console output (Nova caps it at 100 KiB)."""

    def sync_disks(self, instance_id: str, disks: list[DiskSpec]) -> DiskSync:
        """Make the guest's volumes `disks`: saved for its next launch, and hot-plugged or
        unplugged now if it runs. A disk the guest does not release is reported pending."""
        raise NotImplementedError(f"{type(self).__name__} cannot attach volumes")

    def attach_disk(self, instance_id: str, disk: DiskSpec) -> DiskSync:
        """Add one volume to the guest's disks (idempotent)."""
        kept = [d for d in self.disks_of(instance_id) if d.volume_id != disk.volume_id]
        return self.sync_disks(instance_id, [*kept, disk])

    def detach_disk(self, instance_id: str, volume_id: str) -> DiskSync:
        """Remove one volume from the guest's disks (idempotent)."""
        return self.sync_disks(instance_id, [d for d in self.disks_of(instance_id) if d.volume_id != volume_id])

    def disks_of(self, instance_id: str) -> list[DiskSpec]:
        """The volumes the guest is meant to have (its saved spec)."""
        raise NotImplementedError(f"{type(self).__name__} cannot attach volumes")

    def volume_holders(self) -> dict[str, tuple[Path, str]]:
        """Volume id -> (QMP socket, node name) of each running guest's volume it owns (a local
        file, rbd): where a volume's live snapshots and resizes must go."""
        return {}

    def attach_port(self, instance_id: str, nic: NicSpec) -> None:
        raise NotImplementedError("interface attach is not implemented yet (networking issue)")

    def detach_port(self, instance_id: str, mac: str) -> None:
        raise NotImplementedError("interface detach is not implemented yet (networking issue)")
