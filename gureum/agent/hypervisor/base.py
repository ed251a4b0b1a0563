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
class GuestSpec:
    """Everything needed to start one guest. Paths are on this node."""

    instance_id: str
    name: str
    vcpus: int
    memory_mib: int
    root_disk_base: Path  # the image; the guest writes to its own overlay of it
    root_disk_gib: int | None = None  # grow the overlay to this size (flavor root_gb)
    kernel: Path | None = None  # direct kernel boot, as with AMI/ARI images
    initrd: Path | None = None
    kernel_cmdline: str | None = None
    config_drive: Path | None = None  # an ISO 9660 image labelled config-2
    nics: list[NicSpec] = field(default_factory=list)


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

    def attach_disk(self, instance_id: str, disk: Path, device_name: str) -> None:
        raise NotImplementedError("volume attach is not implemented yet (volume issue)")

    def detach_disk(self, instance_id: str, device_name: str) -> None:
        raise NotImplementedError("volume detach is not implemented yet (volume issue)")

    def attach_port(self, instance_id: str, nic: NicSpec) -> None:
        raise NotImplementedError("interface attach is not implemented yet (networking issue)")

    def detach_port(self, instance_id: str, mac: str) -> None:
        raise NotImplementedError("interface detach is not implemented yet (networking issue)")
