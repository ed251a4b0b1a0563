"""The scheduler: filter hosts, weigh them, claim resources atomically.

A claim is one conditional UPDATE of the host's usage counters, so two
schedulers (threads or controllers) can never overcommit a host: the loser's
UPDATE matches no row and it moves on to the next host. When nothing fits,
the error says in plain words which resource was short and where the most of
it is free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from gureum.compute import hosts as hostinfo
from gureum.compute.models import Allocation, Host, Instance
from gureum.db.base import utcnow


class NoValidHost(Exception):
    """Nothing can take the instance; the message is what the user reads in the fault."""


@dataclass(frozen=True)
class Demand:
    flavor_name: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    availability_zone: str | None = None
    # Server group: "affinity" / "anti-affinity" / soft variants, and where its members are.
    group_policy: str | None = None
    group_host_ids: frozenset[int] = frozenset()
    image_properties: dict[str, Any] = field(default_factory=dict)
    extra_specs: dict[str, Any] = field(default_factory=dict)
    # Hosts that already failed this instance (a retry never returns to them).
    excluded_host_ids: frozenset[int] = frozenset()


WEIGHERS = ("spread", "pack")


def _fits(host: Host, demand: Demand) -> str | None:
    """None when the host can take the demand, else a reason."""
    room = hostinfo.free(host)
    if room.memory_mb < demand.memory_mb:
        return "ram"
    if room.vcpus < demand.vcpus:
        return "vcpus"
    if room.disk_gb < demand.disk_gb:
        return "disk"
    return None


def _matches(host: Host, demand: Demand) -> str | None:
    if host.id in demand.excluded_host_ids:
        return "excluded"
    if demand.availability_zone and host.availability_zone != demand.availability_zone:
        return "zone"
    policy = demand.group_policy
    if policy == "affinity" and demand.group_host_ids and host.id not in demand.group_host_ids:
        return "affinity"
    if policy == "anti-affinity" and host.id in demand.group_host_ids:
        return "anti-affinity"
    wanted_type = demand.image_properties.get("hypervisor_type")
    if wanted_type and str(wanted_type).lower() != host.hypervisor_type.lower():
        return "hypervisor_type"
    wanted_arch = demand.image_properties.get("architecture") or demand.image_properties.get("hw_architecture")
    if wanted_arch and str(wanted_arch).lower() != host.architecture.lower():
        return "architecture"
    for key, value in demand.extra_specs.items():
        # Only the capabilities namespace constrains placement here; others configure the guest.
        if key.startswith("capabilities:"):
            attr = key.split(":", 1)[1]
            if str(getattr(host, attr, "")) != str(value).removeprefix("s== ").strip():
                return "extra_specs"
    return None


def _some_names(hosts: list[Host], most: int = 5) -> str:
    names = sorted(h.hostname for h in hosts)
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def _explain(hosts: list[Host], demand: Demand, reasons: dict[str, list[Host]]) -> str:
    if not hosts:
        return ("No compute host is registered. Start `gureum agent` on a compute node "
                "(`gureum up` runs one on this host) and try again.")
    up = [h for h in hosts if hostinfo.is_up(h)]
    if not up:
        names = _some_names(hosts)
        return (f"No compute host is up: the agent on {names} has not reported for over "
                f"{hostinfo.HOST_DOWN_SECONDS} s. Check that `gureum agent` runs there.")
    enabled = [h for h in up if not h.disabled]
    if not enabled:
        return "Every compute host that is up is disabled (openstack compute service set --enable ...)."
    if reasons.get("zone") and len(reasons["zone"]) == len(enabled):
        zones = ", ".join(sorted({h.availability_zone for h in enabled}))
        return f"No host is in availability zone {demand.availability_zone!r}; the zones are: {zones}."
    if demand.group_policy and reasons.get(demand.group_policy):
        return (f"The server group's {demand.group_policy} policy leaves no host: "
                f"{len(reasons[demand.group_policy])} host(s) refused by it.")
    for key, label in (("hypervisor_type", "hypervisor_type"), ("architecture", "architecture")):
        if reasons.get(key) and len(reasons[key]) == len(enabled):
            wanted = demand.image_properties.get(key) or demand.image_properties.get("hw_" + key)
            return f"The image asks for {label} {wanted!r}, which no host offers."
    if reasons.get("extra_specs") and len(reasons["extra_specs"]) == len(enabled):
        return f"Flavor {demand.flavor_name}'s extra specs match no host."
    candidates = [h for h in enabled if h.id not in demand.excluded_host_ids] or enabled
    best_ram = max(candidates, key=lambda h: hostinfo.free(h).memory_mb)
    best_cpu = max(candidates, key=lambda h: hostinfo.free(h).vcpus)
    best_disk = max(candidates, key=lambda h: hostinfo.free(h).disk_gb)
    if hostinfo.free(best_ram).memory_mb < demand.memory_mb:
        return (f"{demand.flavor_name} needs {demand.memory_mb} MB of RAM; the most free on any host is "
                f"{int(max(0, hostinfo.free(best_ram).memory_mb))} MB on {best_ram.hostname}.")
    if hostinfo.free(best_cpu).vcpus < demand.vcpus:
        return (f"{demand.flavor_name} needs {demand.vcpus} vCPU(s); the most free on any host is "
                f"{int(max(0, hostinfo.free(best_cpu).vcpus))} on {best_cpu.hostname}.")
    if hostinfo.free(best_disk).disk_gb < demand.disk_gb:
        return (f"{demand.flavor_name} needs {demand.disk_gb} GB of disk; the most free on any host is "
                f"{int(max(0, hostinfo.free(best_disk).disk_gb))} GB on {best_disk.hostname}.")
    return (f"No single host has {demand.memory_mb} MB RAM, {demand.vcpus} vCPU(s) and {demand.disk_gb} GB "
            f"disk free at once for {demand.flavor_name}.")


# How many of the best hosts the database hands back; the Python filters pick among them.
CANDIDATES = 20


def _room_clauses(vcpus: Any, memory_mb: Any, disk_gb: Any) -> list[Any]:
    return [
        Host.used_vcpus + vcpus <= Host.vcpus * Host.cpu_allocation_ratio - Host.reserved_vcpus,
        Host.used_memory_mb + memory_mb <= Host.memory_mb * Host.ram_allocation_ratio - Host.reserved_memory_mb,
        Host.used_disk_gb + disk_gb <= Host.disk_gb * Host.disk_allocation_ratio - Host.reserved_disk_gb,
    ]


_V, _M, _D = bindparam("v"), bindparam("m"), bindparam("d")
_FREE_RAM = Host.memory_mb * Host.ram_allocation_ratio - Host.reserved_memory_mb - Host.used_memory_mb


def _candidates_statement(weigher: str, by_zone: bool) -> Any:
    """Built once per shape: constructing SQL expressions costs more than running them."""
    query = select(Host).where(
        Host.disabled.is_(False), Host.forced_down.is_(False), Host.last_seen_at >= bindparam("cutoff"),
        *_room_clauses(_V, _M, _D),
    )
    if by_zone:
        query = query.where(Host.availability_zone == bindparam("zone"))
    order = _FREE_RAM.desc() if weigher == "spread" else _FREE_RAM.asc()
    return query.order_by(order, Host.id).limit(CANDIDATES)


_CANDIDATE_STATEMENTS = {(w, z): _candidates_statement(w, z) for w in WEIGHERS for z in (False, True)}

_CLAIM = (
    update(Host)
    .where(Host.id == bindparam("host_id"), *_room_clauses(_V, _M, _D))
    .values(
        used_vcpus=Host.used_vcpus + _V,
        used_memory_mb=Host.used_memory_mb + _M,
        used_disk_gb=Host.used_disk_gb + _D,
        running_vms=Host.running_vms + bindparam("n"),
        desired_revision=Host.desired_revision + 1,
    )
    .execution_options(synchronize_session=False)
)


def _weigh(hosts: list[Host], demand: Demand, weigher: str) -> list[Host]:
    sign = -1 if weigher == "spread" else 1

    def weight(h: Host) -> tuple[float, ...]:
        group_bias = 0.0
        if demand.group_policy == "soft-affinity":
            group_bias = 0.0 if h.id in demand.group_host_ids else 1.0
        elif demand.group_policy == "soft-anti-affinity":
            group_bias = 1.0 if h.id in demand.group_host_ids else 0.0
        return (group_bias, sign * hostinfo.free(h).memory_mb, h.id)

    return sorted(hosts, key=weight)


def rank(session: Session, demand: Demand, weigher: str = "spread") -> list[Host]:
    """Hosts that pass every filter, best first; NoValidHost with the reason when none.

    The database does the resource filters and the ordering, so a decision reads a
    handful of rows whatever the cloud's size; only when those all fail the Python
    filters (zones, groups, image needs) does it look at every host.
    """
    cutoff = utcnow() - timedelta(seconds=hostinfo.HOST_DOWN_SECONDS)
    params = {"cutoff": cutoff, "v": demand.vcpus, "m": demand.memory_mb, "d": demand.disk_gb}
    if demand.availability_zone:
        params["zone"] = demand.availability_zone
    statement = _CANDIDATE_STATEMENTS[(weigher if weigher in WEIGHERS else "spread", bool(demand.availability_zone))]
    candidates = [h for h in session.execute(statement, params).scalars() if h.id not in demand.excluded_host_ids]
    usable = [h for h in candidates if _matches(h, demand) is None]
    if usable:
        return _weigh(usable, demand, weigher)
    return _rank_everything(session, demand, weigher)


def _rank_everything(session: Session, demand: Demand, weigher: str) -> list[Host]:
    hosts = list(session.execute(select(Host).order_by(Host.id)).scalars())
    reasons: dict[str, list[Host]] = {}
    usable: list[Host] = []
    for host in hosts:
        if not hostinfo.is_up(host) or host.disabled:
            continue
        reason = _matches(host, demand) or _fits(host, demand)
        if reason:
            reasons.setdefault(reason, []).append(host)
        else:
            usable.append(host)
    if not usable:
        raise NoValidHost(_explain(hosts, demand, reasons))
    return _weigh(usable, demand, weigher)


def claim(session: Session, host: Host, instance_uuid: str, demand: Demand) -> bool:
    """Take the demand on the host if it still fits, in one statement. True when claimed."""
    result = session.execute(
        _CLAIM, {"host_id": host.id, "v": demand.vcpus, "m": demand.memory_mb, "d": demand.disk_gb, "n": 1}
    )
    if result.rowcount != 1:
        return False
    session.add(Allocation(instance_uuid=instance_uuid, host_id=host.id, vcpus=demand.vcpus,
                           memory_mb=demand.memory_mb, disk_gb=demand.disk_gb))
    return True


def release(session: Session, instance_uuid: str) -> int | None:
    """Give back what the instance holds; returns the host it held it on."""
    allocation = session.execute(
        select(Allocation).where(Allocation.instance_uuid == instance_uuid)
    ).scalar_one_or_none()
    if allocation is None:
        return None
    session.execute(
        update(Host)
        .where(Host.id == allocation.host_id)
        .values(
            used_vcpus=Host.used_vcpus - allocation.vcpus,
            used_memory_mb=Host.used_memory_mb - allocation.memory_mb,
            used_disk_gb=Host.used_disk_gb - allocation.disk_gb,
            running_vms=Host.running_vms - 1,
            desired_revision=Host.desired_revision + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.delete(allocation)
    return allocation.host_id


def reclaim(session: Session, instance_uuid: str, demand: Demand) -> bool:
    """Change an instance's claim on its host to a new size (resize, revert), atomically."""
    allocation = session.execute(
        select(Allocation).where(Allocation.instance_uuid == instance_uuid)
    ).scalar_one_or_none()
    if allocation is None:
        return False
    dv = demand.vcpus - allocation.vcpus
    dm = demand.memory_mb - allocation.memory_mb
    dd = demand.disk_gb - allocation.disk_gb
    result = session.execute(
        update(Host)
        .where(
            Host.id == allocation.host_id,
            Host.used_vcpus + dv <= Host.vcpus * Host.cpu_allocation_ratio - Host.reserved_vcpus,
            Host.used_memory_mb + dm <= Host.memory_mb * Host.ram_allocation_ratio - Host.reserved_memory_mb,
            Host.used_disk_gb + dd <= Host.disk_gb * Host.disk_allocation_ratio - Host.reserved_disk_gb,
        )
        .values(
            used_vcpus=Host.used_vcpus + dv,
            used_memory_mb=Host.used_memory_mb + dm,
            used_disk_gb=Host.used_disk_gb + dd,
            desired_revision=Host.desired_revision + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    allocation.vcpus, allocation.memory_mb, allocation.disk_gb = demand.vcpus, demand.memory_mb, demand.disk_gb
    return True


def repair_usage(session: Session) -> None:
    """Recompute every host's usage from the allocations (after a crash, say)."""
    sums: dict[int, list[int]] = {}
    live = set(session.execute(select(Instance.uuid).where(Instance.deleted.is_(False))).scalars())
    for allocation in session.execute(select(Allocation)).scalars():
        if allocation.instance_uuid not in live and not _pending_delete(session, allocation.instance_uuid):
            session.delete(allocation)
            continue
        total = sums.setdefault(allocation.host_id, [0, 0, 0, 0])
        total[0] += allocation.vcpus
        total[1] += allocation.memory_mb
        total[2] += allocation.disk_gb
        total[3] += 1
    for host in session.execute(select(Host)).scalars():
        v, m, d, n = sums.get(host.id, [0, 0, 0, 0])
        host.used_vcpus, host.used_memory_mb, host.used_disk_gb, host.running_vms = v, m, d, n


def _pending_delete(session: Session, instance_uuid: str) -> bool:
    """A deleted instance keeps its claim until its agent confirms the guest is gone."""
    instance = session.get(Instance, instance_uuid)
    return instance is not None and instance.deleted and instance.task_state == "deleting"
