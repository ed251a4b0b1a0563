"""Block storage tables: volumes, snapshots, types, attachments, transfers, backups, quotas, hosts.

`volume_attachments` is both Cinder's attachment and Nova's block device mapping: one row,
one truth, so neither API can keep an attachment the other has dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gureum.db.base import ID, NAME, Base, new_uuid, utcnow

UUID = String(36)


class VolumeType(Base):
    __tablename__ = "volume_types"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)


class VolumeTypeAccess(Base):
    __tablename__ = "volume_type_access"
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)


class Volume(Base):
    """A volume as asked for (desired) and as its host reports it (observed)."""

    __tablename__ = "volumes"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    user_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str | None] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    availability_zone: Mapped[str] = mapped_column(NAME, default="nova")
    volume_type_id: Mapped[str | None] = mapped_column(UUID)
    snapshot_id: Mapped[str | None] = mapped_column(UUID)
    source_volid: Mapped[str | None] = mapped_column(UUID)
    image_id: Mapped[str | None] = mapped_column(UUID)
    backup_id: Mapped[str | None] = mapped_column(UUID)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    # None until os-update_readonly_flag sets it (Cinder shows it in metadata from then on).
    readonly: Mapped[bool | None] = mapped_column(Boolean)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    image_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The status the controller records; `status.py` derives what the API shows from it
    # and from what the host reports.
    status: Mapped[str] = mapped_column(String(32), default="creating", index=True)
    # Admin os-reset_status: shown until the next observation changes the volume.
    status_override: Mapped[str | None] = mapped_column(String(32))
    # Why the volume is in error, or why a delete or extend is still pending (plain words).
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Placement: the backend and the agent host that makes the volume exist.
    backend: Mapped[str | None] = mapped_column(String(32))
    host: Mapped[str | None] = mapped_column(NAME, index=True)
    # A transfer is offered: shown as awaiting-transfer, and refuses changes.
    awaiting_transfer: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped by os-extend: the agent grows the volume once per increment.
    extend_count: Mapped[int] = mapped_column(Integer, default=0)
    # Revert (3.40): the agent reverts once each time the counter goes up.
    revert_count: Mapped[int] = mapped_column(Integer, default=0)
    revert_snapshot_id: Mapped[str | None] = mapped_column(UUID)
    # Uploads to images still to run ([{"image_id", "disk_format"}]); dropped when reported.
    uploads: Mapped[list[Any]] = mapped_column(default=list)
    # What the host reports: present, and the size it sees.
    observed_present: Mapped[bool] = mapped_column(Boolean, default=False)
    observed_size: Mapped[int | None] = mapped_column(Integer)
    observed_error: Mapped[str | None] = mapped_column(Text)
    # Set by delete: the volume is desired absent and goes once its host reports it gone.
    deleted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column()


class VolumeMetadata(Base):
    """User metadata, one row per key: filters on it run in SQL."""

    __tablename__ = "volume_metadata"
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(NAME)


class Snapshot(Base):
    __tablename__ = "volume_snapshots"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    user_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str | None] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    status_override: Mapped[str | None] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Set by os-update_snapshot_status; else derived from the status.
    progress: Mapped[str | None] = mapped_column(String(255))
    observed_present: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)


class SnapshotMetadata(Base):
    __tablename__ = "volume_snapshot_metadata"
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("volume_snapshots.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(NAME)


class VolumeAttachment(Base):
    """Cinder's attachment and Nova's block device mapping in one row.

    `exclusive_volume_id` holds the volume id for a volume that is not multiattach and is
    NULL otherwise: its unique index lets a plain volume have one live attachment only,
    whichever API asks.
    """

    __tablename__ = "volume_attachments"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    exclusive_volume_id: Mapped[str | None] = mapped_column(UUID, unique=True)
    instance_uuid: Mapped[str | None] = mapped_column(UUID, index=True)
    project_id: Mapped[str] = mapped_column(ID)
    # reserved (no connector yet), attaching (connector given), attached (completed), detaching.
    attach_status: Mapped[str] = mapped_column(String(16), default="reserved")
    attach_mode: Mapped[str] = mapped_column(String(4), default="rw")
    connector: Mapped[dict[str, Any] | None] = mapped_column()
    attached_host: Mapped[str | None] = mapped_column(NAME)
    device: Mapped[str | None] = mapped_column(String(64))
    # Nova's BDM fields.
    boot_index: Mapped[int | None] = mapped_column(Integer)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    tag: Mapped[str | None] = mapped_column(String(60))
    # The guest's host reports the disk plugged into QEMU.
    observed_attached: Mapped[bool] = mapped_column(Boolean, default=False)
    observed_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attached_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)


class VolumeTransfer(Base):
    __tablename__ = "volume_transfers"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), unique=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str | None] = mapped_column(NAME)
    salt: Mapped[str] = mapped_column(String(32))
    crypt_hash: Mapped[str] = mapped_column(String(128))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Backup(Base):
    __tablename__ = "volume_backups"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(UUID, index=True)
    snapshot_id: Mapped[str | None] = mapped_column(UUID)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    user_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str | None] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text)
    container: Mapped[str | None] = mapped_column(NAME)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    status_reason: Mapped[str | None] = mapped_column(Text)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    availability_zone: Mapped[str | None] = mapped_column(NAME)
    metadata_items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)
    data_timestamp: Mapped[datetime | None] = mapped_column()


class VolumeQuota(Base):
    """A project's own limit for one resource (volumes, gigabytes, snapshots, ...)."""

    __tablename__ = "volume_quotas"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class VolumeHost(Base):
    """A storage backend on an agent host, as its reports describe it.

    `allocated_gb` counts the volumes placed there; a placement claims it with one
    conditional UPDATE, so two controllers never overfill a backend.
    """

    __tablename__ = "volume_hosts"
    __table_args__ = (UniqueConstraint("hostname", "backend"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(NAME)
    backend: Mapped[str] = mapped_column(String(32))
    availability_zone: Mapped[str] = mapped_column(NAME, default="nova")
    capacity_gb: Mapped[int] = mapped_column(Integer, default=0)
    free_gb: Mapped[int] = mapped_column(Integer, default=0)
    allocated_gb: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
