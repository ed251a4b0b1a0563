"""Object storage tables: accounts, containers, objects, S3 uploads and blobs to free.

Names sort in byte order everywhere (listings page by key on them): SQLite's BINARY
collation already is byte order for UTF-8; on PostgreSQL the name columns are
`COLLATE "C"`. Counters live on the container and account rows and change in the
object's own transaction, so a listing and its counts never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gureum.db.base import ID, Base


def byte_ordered(length: int) -> String:
    """A name column that sorts by bytes on every backend."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")  # type: ignore[return-value]


class Account(Base):
    """A project's Swift account: its metadata (TempURL keys, quotas) and its totals."""

    __tablename__ = "os_account"

    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    # User metadata, keys lowercased without the X-Account-Meta- prefix.
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    container_count: Mapped[int] = mapped_column(BigInteger, default=0)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class Container(Base):
    __tablename__ = "os_container"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, ForeignKey("os_account.project_id"))
    name: Mapped[str] = mapped_column(byte_ordered(256))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_acl: Mapped[str | None] = mapped_column(String(8192), default=None)
    write_acl: Mapped[str | None] = mapped_column(String(8192), default=None)
    # Legacy versioning: the container (same account) that keeps older copies.
    versions_location: Mapped[str | None] = mapped_column(String(256), default=None)
    storage_policy: Mapped[str] = mapped_column(String(64), default="Policy-0")
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class StoredObject(Base):
    __tablename__ = "os_object"
    __table_args__ = (Index("ix_os_object_delete_at", "delete_at", postgresql_where="delete_at IS NOT NULL",
                            sqlite_where="delete_at IS NOT NULL"),)

    container_id: Mapped[str] = mapped_column(ID, ForeignKey("os_container.id"), primary_key=True)
    name: Mapped[str] = mapped_column(byte_ordered(1024), primary_key=True)
    # The file holding the bytes; None for a manifest (SLO, DLO) without its own body.
    blob_id: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    etag: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(256))
    timestamp: Mapped[float] = mapped_column(Float)
    # X-Object-Meta-* (keys lowercased, prefix off) and the other headers Swift keeps.
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    delete_at: Mapped[float | None] = mapped_column(Float, default=None)
    # 'plain', 'slo' (manifest holds the segments) or 'dlo' (manifest holds "c/prefix").
    kind: Mapped[str] = mapped_column(String(8), default="plain")
    manifest: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)


class S3Upload(Base):
    """An S3 multipart upload in progress; its parts are rows, not a visible container."""

    __tablename__ = "os_s3_upload"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    container_id: Mapped[str] = mapped_column(ID, ForeignKey("os_container.id"))
    name: Mapped[str] = mapped_column(byte_ordered(1024))
    content_type: Mapped[str] = mapped_column(String(256))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[float] = mapped_column(Float)


class S3Part(Base):
    __tablename__ = "os_s3_part"

    upload_id: Mapped[str] = mapped_column(ID, ForeignKey("os_s3_upload.id"), primary_key=True)
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob_id: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class BlobGarbage(Base):
    """Blob files no row points at any more, unlinked after the transaction commits
    (or by the sweep, after a crash between the commit and the unlink)."""

    __tablename__ = "os_blob_garbage"

    blob_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[float] = mapped_column(Float)
