"""Image tables: images, their free-form properties, tags and members."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gureum.db.base import NAME, Base, utcnow

UUID_LENGTH = 36


class Image(Base):
    __tablename__ = "image_images"
    __table_args__ = (
        Index("ix_image_images_owner_status", "owner", "status"),
        Index("ix_image_images_created_at_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(NAME, index=True)
    status: Mapped[str] = mapped_column(String(30), default="queued")
    visibility: Mapped[str] = mapped_column(String(16), default="shared", index=True)
    owner: Mapped[str | None] = mapped_column(NAME)
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128), index=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The store key of the image's data (content address); None while it has none.
    data_key: Mapped[str | None] = mapped_column(String(160), index=True)
    # Which process is writing data for this image right now (upload, stage or import),
    # so a restarted controller can tell an abandoned transfer from a live one.
    transfer_holder: Mapped[str | None] = mapped_column(String(255))
    # Bytes sitting in the staging area for glance-direct (counts against image_stage_total).
    staged_size: Mapped[int | None] = mapped_column(BigInteger)

    properties: Mapped[list[ImageProperty]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin", order_by="ImageProperty.name"
    )
    tags: Mapped[list[ImageTag]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin", order_by="ImageTag.value"
    )
    members: Mapped[list[ImageMember]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin", order_by="ImageMember.created_at"
    )


class ImageProperty(Base):
    """One free-form property (`--property os_type=linux`); glance keeps them as strings."""

    __tablename__ = "image_properties"
    __table_args__ = (Index("ix_image_properties_name_value", "name", "value"),)

    image_id: Mapped[str] = mapped_column(ForeignKey("image_images.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[Image] = relationship(back_populates="properties")


class ImageTag(Base):
    __tablename__ = "image_tags"

    image_id: Mapped[str] = mapped_column(ForeignKey("image_images.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(NAME, primary_key=True, index=True)
    image: Mapped[Image] = relationship(back_populates="tags")


class ImageMember(Base):
    """A project an image is shared with, and what that project said about it."""

    __tablename__ = "image_members"

    image_id: Mapped[str] = mapped_column(ForeignKey("image_images.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(NAME, primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    image: Mapped[Image] = relationship(back_populates="members")


# -- Metadata definitions (glance "metadefs"): a catalogue of properties clients may set --


class MetadefNamespace(Base):
    __tablename__ = "image_metadef_namespaces"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(NAME)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    objects: Mapped[list[MetadefObject]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MetadefObject.name"
    )
    properties: Mapped[list[MetadefProperty]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MetadefProperty.name"
    )
    tags: Mapped[list[MetadefTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MetadefTag.name"
    )
    resource_types: Mapped[list[MetadefNamespaceResourceType]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MetadefNamespaceResourceType.created_at"
    )


class MetadefObject(Base):
    __tablename__ = "image_metadef_objects"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    namespace_id: Mapped[str] = mapped_column(
        ForeignKey("image_metadef_namespaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    required: Mapped[list[Any]] = mapped_column(default=list)
    # Property definitions keyed by name, as glance stores them (JSON schema fragments).
    schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetadefProperty(Base):
    __tablename__ = "image_metadef_properties"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    namespace_id: Mapped[str] = mapped_column(
        ForeignKey("image_metadef_namespaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    # Everything but the name (title, type, enum, ...): a JSON schema fragment.
    schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetadefTag(Base):
    __tablename__ = "image_metadef_tags"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    namespace_id: Mapped[str] = mapped_column(
        ForeignKey("image_metadef_namespaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetadefResourceType(Base):
    __tablename__ = "image_metadef_resource_types"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetadefNamespaceResourceType(Base):
    """A namespace applies to a resource type (OS::Glance::Image, OS::Nova::Flavor, ...)."""

    __tablename__ = "image_metadef_namespace_resource_types"

    namespace_id: Mapped[str] = mapped_column(
        ForeignKey("image_metadef_namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    resource_type_id: Mapped[str] = mapped_column(
        ForeignKey("image_metadef_resource_types.id", ondelete="CASCADE"), primary_key=True
    )
    prefix: Mapped[str | None] = mapped_column(String(80))
    properties_target: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resource_type: Mapped[MetadefResourceType] = relationship(lazy="joined")
