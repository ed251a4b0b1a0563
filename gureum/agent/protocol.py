"""What the controller and an agent say to each other, over HTTP, under /agent/v1.

The controller never reaches into a node. It keeps, per host, the desired state
of every instance placed there and a revision that goes up when any of it
changes. The agent:

  1. POST /agent/v1/hosts/{hostname}/report  with its capacity and what it
     observes (registers the host on first contact; a heartbeat every time);
  2. GET  /agent/v1/hosts/{hostname}/desired?after=REV&wait=S  answers at once
     when the revision is newer than REV, else after at most S seconds;
  3. makes the node match, idempotently, and reports again.

One-shot actions (reboot, rebuild, resize, snapshot) are counters in the desired
state; the agent keeps the counters it last applied on the node and reports
them, so an action runs exactly once even across restarts of either side.
Every request carries `X-Gureum-Agent-Token`, a secret of the controller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

AGENT_TOKEN_HEADER = "X-Gureum-Agent-Token"
AGENT_TOKEN_FILE = "agent-token"

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a dataclass from a dict, ignoring keys a newer peer may have added."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class DesiredNic:
    port_id: str
    mac: str
    network_id: str = ""
    mtu: int | None = None
    fixed_ips: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredSnapshot:
    image_id: str
    name: str


@dataclass(frozen=True)
class DesiredInstance:
    uuid: str
    name: str
    hostname: str
    project_id: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image_id: str
    # running | stopped | paused | suspended
    power: str
    reboot_count: int = 0
    reboot_hard: bool = False
    rebuild_count: int = 0
    resize_count: int = 0
    snapshots: list[DesiredSnapshot] = field(default_factory=list)
    config_drive: bool = False
    # What the guest reads about itself (config drive and metadata service).
    public_keys: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None  # base64, as the API took it
    metadata: dict[str, str] = field(default_factory=dict)
    availability_zone: str = "nova"
    flavor_name: str = ""
    launch_index: int = 0
    nics: list[DesiredNic] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DesiredInstance":
        data = dict(data)
        data["snapshots"] = [_from_dict(DesiredSnapshot, s) for s in data.get("snapshots", [])]
        data["nics"] = [_from_dict(DesiredNic, n) for n in data.get("nics", [])]
        return _from_dict(cls, data)


@dataclass(frozen=True)
class DesiredHostState:
    hostname: str
    revision: int
    instances: list[DesiredInstance]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DesiredHostState":
        return cls(
            hostname=data["hostname"],
            revision=int(data["revision"]),
            instances=[DesiredInstance.from_dict(i) for i in data.get("instances", [])],
        )


@dataclass(frozen=True)
class ObservedInstance:
    uuid: str
    # Nova's power_state numbers: 0 nostate, 1 running, 3 paused, 4 shutdown, 6 crashed, 7 suspended.
    power_state: int
    # False once the node holds nothing of it any more (after a delete).
    present: bool = True
    reboot_count: int = 0
    rebuild_count: int = 0
    resize_count: int = 0
    snapshots_done: list[str] = field(default_factory=list)
    snapshots_failed: dict[str, str] = field(default_factory=dict)
    # Plain words for the operator and the user: what failed and what to do.
    error: str | None = None
    # The tail of the serial console, sent only when it changed.
    console_tail: str | None = None


@dataclass(frozen=True)
class HostCapacity:
    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str = "QEMU"
    hypervisor_version: int = 0
    accelerator: str = "tcg"
    architecture: str = "x86_64"
    host_ip: str = ""
    cpu_info: dict[str, Any] = field(default_factory=dict)
    availability_zone: str = "nova"


@dataclass(frozen=True)
class HostReport:
    hostname: str
    capacity: HostCapacity
    # Every instance the node holds, including ones the controller no longer wants.
    instances: list[ObservedInstance]
    applied_revision: int = 0
    agent_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HostReport":
        return cls(
            hostname=str(data["hostname"]),
            capacity=_from_dict(HostCapacity, data.get("capacity", {})),
            instances=[_from_dict(ObservedInstance, i) for i in data.get("instances", [])],
            applied_revision=int(data.get("applied_revision", 0)),
            agent_version=str(data.get("agent_version", "")),
        )
