"""Cinder's quotas: per-project limits over usage counted in SQL at the moment of the change.

The check runs inside the transaction that adds the volume or snapshot; on SQLite
that transaction holds the write lock, so two creates cannot both pass the last slot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gureum.http.errors import ApiError, BadRequest
from gureum.volume.common import positive_int
from gureum.volume.models import Backup, Snapshot, Volume, VolumeQuota

DEFAULTS: dict[str, int] = {
    "volumes": 10,
    "snapshots": 10,
    "gigabytes": 1000,
    "backups": 10,
    "backup_gigabytes": 1000,
    "groups": 10,
    "per_volume_gigabytes": -1,
}
DEFAULT_TYPE = "__DEFAULT__"
# Cinder also shows per-type quotas for each type; gureum shows the default type's.
PER_TYPE = ("volumes", "gigabytes", "snapshots")


class OverLimit(ApiError):
    status = 413


def limits_for(session: Session, project_id: str) -> dict[str, int]:
    limits = dict(DEFAULTS)
    for row in session.execute(select(VolumeQuota).where(VolumeQuota.project_id == project_id)).scalars():
        limits[row.resource] = row.hard_limit
    return limits


def usage_for(session: Session, project_id: str) -> dict[str, int]:
    volumes, volume_gb = session.execute(
        select(func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0)).where(Volume.project_id == project_id)
    ).one()
    snapshots, snapshot_gb = session.execute(
        select(func.count(Snapshot.id), func.coalesce(func.sum(Snapshot.size), 0)).where(
            Snapshot.project_id == project_id)
    ).one()
    backups, backup_gb = session.execute(
        select(func.count(Backup.id), func.coalesce(func.sum(Backup.size), 0)).where(Backup.project_id == project_id)
    ).one()
    return {
        "volumes": int(volumes),
        "snapshots": int(snapshots),
        "gigabytes": int(volume_gb) + int(snapshot_gb),
        "backups": int(backups),
        "backup_gigabytes": int(backup_gb),
        "groups": 0,
        "per_volume_gigabytes": 0,
    }


def check(session: Session, project_id: str, *, volumes: int = 0, snapshots: int = 0, gigabytes: int = 0,
          size: int | None = None) -> None:
    """Refuse (413) a change that takes the project over a limit; the message says which."""
    limits = limits_for(session, project_id)
    per_volume = limits["per_volume_gigabytes"]
    if size is not None and per_volume >= 0 and size > per_volume:
        raise OverLimit(f"VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum allowed "
                        f"limit {per_volume}G.")
    usage = usage_for(session, project_id)
    if volumes and 0 <= limits["volumes"] < usage["volumes"] + volumes:
        raise OverLimit(f"VolumeLimitExceeded: Maximum number of volumes allowed ({limits['volumes']}) exceeded "
                        "for quota 'volumes'.")
    if snapshots and 0 <= limits["snapshots"] < usage["snapshots"] + snapshots:
        raise OverLimit(f"SnapshotLimitExceeded: Maximum number of snapshots allowed ({limits['snapshots']}) "
                        "exceeded for quota 'snapshots'.")
    if gigabytes and 0 <= limits["gigabytes"] < usage["gigabytes"] + gigabytes:
        raise OverLimit(f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes "
                        f"quota. Requested {gigabytes}G, quota is {limits['gigabytes']}G and "
                        f"{usage['gigabytes']}G has been consumed.")


def quota_set(session: Session, project_id: str, *, usage: bool) -> dict[str, Any]:
    limits = limits_for(session, project_id)
    used = usage_for(session, project_id) if usage else {}
    body: dict[str, Any] = {"id": project_id}
    for resource, limit in limits.items():
        body[resource] = {"limit": limit, "in_use": used.get(resource, 0), "reserved": 0, "allocated": 0} \
            if usage else limit
    for resource in PER_TYPE:
        key = f"{resource}_{DEFAULT_TYPE}"
        body[key] = {"limit": -1, "in_use": 0, "reserved": 0, "allocated": 0} if usage else -1
    return body


def default_set(project_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": project_id, **DEFAULTS}
    for resource in PER_TYPE:
        body[f"{resource}_{DEFAULT_TYPE}"] = -1
    return body


def update(session: Session, project_id: str, values: dict[str, Any]) -> None:
    """Set limits; -1 is unlimited; a limit below what is used is refused, as Cinder does."""
    known = set(DEFAULTS) | {f"{r}_{DEFAULT_TYPE}" for r in PER_TYPE}
    usage = usage_for(session, project_id)
    parsed: dict[str, int] = {}
    for key, value in values.items():
        if key in ("tenant_id", "id"):
            continue
        if key not in known:
            raise BadRequest(f"Bad key(s) in quota set: {key}")
        limit = positive_int(value, key, minimum=-1)
        if limit != -1 and key in usage and limit < usage[key]:
            raise BadRequest(f"Invalid input received: Quota limit {limit} for {key} must be equal or greater "
                             f"than existing resources. Current usage is {usage[key]}.")
        parsed[key] = limit
    for key, limit in parsed.items():
        if key.endswith(DEFAULT_TYPE):
            continue
        row = session.get(VolumeQuota, (project_id, key))
        if row is None:
            session.add(VolumeQuota(project_id=project_id, resource=key, hard_limit=limit))
        else:
            row.hard_limit = limit


def reset(session: Session, project_id: str) -> None:
    session.query(VolumeQuota).filter(VolumeQuota.project_id == project_id).delete()


def absolute_limits(session: Session, project_id: str) -> dict[str, int]:
    limits = limits_for(session, project_id)
    used = usage_for(session, project_id)
    return {
        "maxTotalVolumes": limits["volumes"],
        "maxTotalSnapshots": limits["snapshots"],
        "maxTotalVolumeGigabytes": limits["gigabytes"],
        "maxTotalBackups": limits["backups"],
        "maxTotalBackupGigabytes": limits["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"],
        "totalSnapshotsUsed": used["snapshots"],
        "totalGigabytesUsed": used["gigabytes"],
        "totalBackupsUsed": used["backups"],
        "totalBackupGigabytesUsed": used["backup_gigabytes"],
    }
