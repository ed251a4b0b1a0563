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
from gureum.volume.models import Backup, Snapshot, Volume, VolumeQuota, VolumeType

DEFAULTS: dict[str, int] = {
    "volumes": 10,
    "snapshots": 10,
    "gigabytes": 1000,
    "backups": 10,
    "backup_gigabytes": 1000,
    "groups": 10,
    "per_volume_gigabytes": -1,
}
# The default quota class (os-quota-class-sets/default) is kept as this pseudo project.
CLASS_DEFAULT = "__quota_class_default__"
# Per volume type, as Cinder shows them: volumes_<type>, gigabytes_<type>, snapshots_<type>.
PER_TYPE = ("volumes", "gigabytes", "snapshots")


class OverLimit(ApiError):
    status = 413


def _type_names(session: Session) -> list[str]:
    return list(session.execute(select(VolumeType.name).order_by(VolumeType.name)).scalars())


def class_limits(session: Session) -> dict[str, int]:
    """Cinder's defaults, per-type limits unlimited, then what the default class sets."""
    limits = dict(DEFAULTS)
    for name in _type_names(session):
        for resource in PER_TYPE:
            limits[f"{resource}_{name}"] = -1
    for row in session.execute(select(VolumeQuota).where(VolumeQuota.project_id == CLASS_DEFAULT)).scalars():
        limits[row.resource] = row.hard_limit
    return limits


def limits_for(session: Session, project_id: str) -> dict[str, int]:
    limits = class_limits(session)
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
    usage = {
        "volumes": int(volumes),
        "snapshots": int(snapshots),
        "gigabytes": int(volume_gb) + int(snapshot_gb),
        "backups": int(backups),
        "backup_gigabytes": int(backup_gb),
        "groups": 0,
        "per_volume_gigabytes": 0,
    }
    per_type = session.execute(
        select(VolumeType.name, func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
        .join(VolumeType, VolumeType.id == Volume.volume_type_id).where(Volume.project_id == project_id)
        .group_by(VolumeType.name)
    ).all()
    for name, count, size in per_type:
        usage[f"volumes_{name}"], usage[f"gigabytes_{name}"] = int(count), int(size)
    snapshot_types = session.execute(
        select(VolumeType.name, func.count(Snapshot.id)).join(Volume, Volume.id == Snapshot.volume_id)
        .join(VolumeType, VolumeType.id == Volume.volume_type_id).where(Snapshot.project_id == project_id)
        .group_by(VolumeType.name)
    ).all()
    for name, count in snapshot_types:
        usage[f"snapshots_{name}"] = int(count)
    return usage


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
    return body


def default_set(session: Session, owner: str) -> dict[str, Any]:
    return {"id": owner, **class_limits(session)}


def update(session: Session, owner: str, values: dict[str, Any]) -> None:
    """Set limits; -1 is unlimited; a project limit below what it uses is refused, as Cinder does."""
    known = set(class_limits(session))
    usage = usage_for(session, owner) if owner != CLASS_DEFAULT else {}
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
        row = session.get(VolumeQuota, (owner, key))
        if row is None:
            session.add(VolumeQuota(project_id=owner, resource=key, hard_limit=limit))
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
