"""object storage (accounts, containers, objects, S3 uploads)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gureum.db.base  # noqa: F401

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _name(length: int) -> sa.types.TypeEngine:
    # Byte order on PostgreSQL too: listings page by key on these columns.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "os_account",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("container_count", sa.BigInteger(), nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("bytes_used", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_os_account")),
    )
    op.create_table(
        "os_container",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", _name(256), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("read_acl", sa.String(8192), nullable=True),
        sa.Column("write_acl", sa.String(8192), nullable=True),
        sa.Column("versions_location", sa.String(256), nullable=True),
        sa.Column("storage_policy", sa.String(64), nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("bytes_used", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["os_account.project_id"],
                                name=op.f("fk_os_container_project_id_os_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_os_container")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_os_container_project_id")),
    )
    op.create_table(
        "os_object",
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("name", _name(1024), nullable=False),
        sa.Column("blob_id", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(256), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("delete_at", sa.Float(), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["container_id"], ["os_container.id"],
                                name=op.f("fk_os_object_container_id_os_container")),
        sa.PrimaryKeyConstraint("container_id", "name", name=op.f("pk_os_object")),
    )
    op.create_index("ix_os_object_delete_at", "os_object", ["delete_at"],
                    postgresql_where=sa.text("delete_at IS NOT NULL"), sqlite_where=sa.text("delete_at IS NOT NULL"))
    op.create_table(
        "os_s3_upload",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("name", _name(1024), nullable=False),
        sa.Column("content_type", sa.String(256), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["container_id"], ["os_container.id"],
                                name=op.f("fk_os_s3_upload_container_id_os_container")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_os_s3_upload")),
    )
    op.create_table(
        "os_s3_part",
        sa.Column("upload_id", sa.String(64), nullable=False),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["os_s3_upload.id"],
                                name=op.f("fk_os_s3_part_upload_id_os_s3_upload")),
        sa.PrimaryKeyConstraint("upload_id", "part_number", name=op.f("pk_os_s3_part")),
    )
    op.create_table(
        "os_blob_garbage",
        sa.Column("blob_id", sa.String(64), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", name=op.f("pk_os_blob_garbage")),
    )


def downgrade() -> None:
    op.drop_table("os_blob_garbage")
    op.drop_table("os_s3_part")
    op.drop_table("os_s3_upload")
    op.drop_index("ix_os_object_delete_at", table_name="os_object")
    op.drop_table("os_object")
    op.drop_table("os_container")
    op.drop_table("os_account")
