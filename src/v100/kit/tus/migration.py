"""DDL for the ``kit_tus_uploads`` table, called from a service's own Alembic revision so no
service copies it:

    from v100.kit.tus.migration import create_tus_table, drop_tus_table

    def upgrade() -> None:
        create_tus_table()

    def downgrade() -> None:
        drop_tus_table()

These helpers are frozen: a revision written today must build the same table in a year. When
the table changes, kit adds a new helper (``upgrade_tus_table_v2()``) for a new revision to
call, and never edits these.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["create_tus_table", "drop_tus_table"]

_STATUSES = ("receiving", "assembled", "completed")


def create_tus_table() -> None:
    """Create ``kit_tus_uploads`` (version 1) and its indexes."""
    op.create_table(
        "kit_tus_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("upload_metadata", sa.JSON(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("multipart_id", sa.String(length=1024), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("pending_key", sa.String(length=1024), nullable=True),
        sa.Column("pending_size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lock_token", sa.String(length=36), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{status}'" for status in _STATUSES)),
            name=op.f("ck_kit_tus_uploads_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kit_tus_uploads")),
    )
    op.create_index(
        op.f("ix_kit_tus_uploads_tenant_id"), "kit_tus_uploads", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_kit_tus_uploads_expires_at"), "kit_tus_uploads", ["expires_at"], unique=False
    )


def drop_tus_table() -> None:
    """Drop ``kit_tus_uploads`` and its indexes (the downgrade of ``create_tus_table``)."""
    op.drop_index(op.f("ix_kit_tus_uploads_expires_at"), table_name="kit_tus_uploads")
    op.drop_index(op.f("ix_kit_tus_uploads_tenant_id"), table_name="kit_tus_uploads")
    op.drop_table("kit_tus_uploads")
