"""Image tables: images, their free-form properties, tags and members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
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
