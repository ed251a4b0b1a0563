"""Compute hosts: whether one is up, and how much room it has left.

A host is registered by its agent, which heartbeats by updating `last_seen_at`.
The scheduler, os-hypervisors, os-services and availability zones all ask here,
so "up" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gureum.compute.models import Host

# A host whose agent has not been heard from for this long is down
# (nova's service_down_time defaults to 60 s as well).
HOST_DOWN_SECONDS = 60


def is_up(host: Host, now: datetime | None = None) -> bool:
    """Up when its agent heartbeated within HOST_DOWN_SECONDS and no one forced it down."""
    if host.forced_down or host.last_seen_at is None:
        return False
    now = now or datetime.now(timezone.utc)
    seen = host.last_seen_at
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=timezone.utc)
    return now - seen <= timedelta(seconds=HOST_DOWN_SECONDS)


@dataclass(frozen=True)
class Room:
    vcpus: float
    memory_mb: float
    disk_gb: float


def free(host: Host) -> Room:
    """What the scheduler may still claim: capacity times allocation ratio, less reserve and use."""
    return Room(
        vcpus=host.vcpus * host.cpu_allocation_ratio - host.reserved_vcpus - host.used_vcpus,
        memory_mb=host.memory_mb * host.ram_allocation_ratio - host.reserved_memory_mb - host.used_memory_mb,
        disk_gb=host.disk_gb * host.disk_allocation_ratio - host.reserved_disk_gb - host.used_disk_gb,
    )
