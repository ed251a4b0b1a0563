"""The Dataplane seam: what the agent asks of whatever wires its guests' networks.

The twin of the Hypervisor seam (gureum/agent/hypervisor/base.py): the reconcile
pass calls `apply` with this host's share of the desired networking before it
starts guests, and reports what `apply` returns. An implementation owns one
host's network devices, adopts what it finds there after an agent restart, and
never lets one broken network stop the others. Linux bridges, VXLAN,
namespaces and nftables today (LinuxDataplane); OVS or another later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gureum.agent.protocol import DesiredNetworking


@dataclass(frozen=True)
class NetworkObservation:
    """What apply() built: HostReport.ports_up, floating_ips_up and network_errors."""

    ports_up: list[str] = field(default_factory=list)
    floating_ips_up: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Dataplane(Protocol):
    def apply(self, networking: DesiredNetworking) -> NetworkObservation:
        """Make this host's networks, ports, DHCP, routers and filters match `networking`, idempotently,
        and remove what this dataplane made that is no longer in it. Errors go in the observation by id."""
        ...

    def tap_name(self, port_id: str) -> str:
        """The tap device a guest's NIC for this port opens (made by `apply`, owned by the dataplane)."""
        ...

    def command_prefix(self) -> list[str]:
        """What to run a guest's process under so it sees the taps (e.g. `ip netns exec HOST`)."""
        ...

    def vlan_supported(self) -> bool:
        """Whether this host can carry vlan provider networks (reported in HostCapacity)."""
        ...

    def remove_all(self) -> None:
        """Everything this dataplane made on the host (for tests and decommissioning)."""
        ...

    def close(self) -> None:
        """Let go of what this process holds (sockets, servers); the host's devices stay."""
        ...
