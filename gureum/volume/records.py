"""Volumes and snapshots with their child rows, loaded in a fixed number of statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.volume.models import Snapshot, SnapshotMetadata, Volume, VolumeAttachment, VolumeMetadata, VolumeType


@dataclass
class VolumeRecord:
    volume: Volume
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[VolumeAttachment] = field(default_factory=list)
    type_name: str | None = None


@dataclass
class SnapshotRecord:
    snapshot: Snapshot
    metadata: dict[str, str] = field(default_factory=dict)


def volume_records(session: Session, volumes: Sequence[Volume]) -> list[VolumeRecord]:
    """Three statements for any number of volumes: metadata, attachments, type names."""
    if not volumes:
        return []
    ids = [v.id for v in volumes]
    records = {v.id: VolumeRecord(v) for v in volumes}
    for row in session.execute(select(VolumeMetadata).where(VolumeMetadata.volume_id.in_(ids))).scalars():
        records[row.volume_id].metadata[row.key] = row.value
    attachments = session.execute(
        select(VolumeAttachment).where(VolumeAttachment.volume_id.in_(ids)).order_by(VolumeAttachment.created_at)
    ).scalars()
    for attachment in attachments:
        records[attachment.volume_id].attachments.append(attachment)
    type_ids = {v.volume_type_id for v in volumes if v.volume_type_id}
    if type_ids:
        names = dict(session.execute(select(VolumeType.id, VolumeType.name).where(VolumeType.id.in_(type_ids))).all())
        for record in records.values():
            record.type_name = names.get(record.volume.volume_type_id or "")
    return [records[i] for i in ids]


def volume_record(session: Session, volume: Volume) -> VolumeRecord:
    return volume_records(session, [volume])[0]


def snapshot_records(session: Session, snapshots: Sequence[Snapshot]) -> list[SnapshotRecord]:
    if not snapshots:
        return []
    ids = [s.id for s in snapshots]
    records = {s.id: SnapshotRecord(s) for s in snapshots}
    rows = session.execute(select(SnapshotMetadata).where(SnapshotMetadata.snapshot_id.in_(ids))).scalars()
    for row in rows:
        records[row.snapshot_id].metadata[row.key] = row.value
    return [records[i] for i in ids]


def snapshot_record(session: Session, snapshot: Snapshot) -> SnapshotRecord:
    return snapshot_records(session, [snapshot])[0]
