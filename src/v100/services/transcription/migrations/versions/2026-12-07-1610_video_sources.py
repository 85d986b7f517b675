"""stored-video sources, automatic transcripts of a tenant's videos, and the tenant settings

Revision ID: transcription0004v
Revises: transcription0002
Create Date: 2026-12-07 16:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "transcription0004v"
down_revision: str | Sequence[str] | None = "transcription0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transcripts") as batch:
        batch.add_column(sa.Column("source_video_id", sa.String(length=36), nullable=True))
        batch.add_column(
            sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("transcripts") as batch:
        batch.alter_column("automatic", server_default=None)
    automatic = sa.text("automatic = true")
    op.create_index(
        "uq_transcripts_automatic_video",
        "transcripts",
        ["tenant_id", "source_video_id"],
        unique=True,
        sqlite_where=automatic,
        postgresql_where=automatic,
    )
    op.create_table(
        "tenant_settings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("auto_transcribe_videos", sa.Boolean(), nullable=False),
        sa.Column("auto_language", sa.String(length=16), nullable=True),
        sa.Column("auto_backend", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_tenant_settings_tenant_id")),
    )
    op.create_index(
        op.f("ix_tenant_settings_tenant_id"),
        "tenant_settings",
        ["tenant_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_settings_tenant_id"), table_name="tenant_settings")
    op.drop_table("tenant_settings")
    op.drop_index("uq_transcripts_automatic_video", table_name="transcripts")
    with op.batch_alter_table("transcripts") as batch:
        batch.drop_column("automatic")
        batch.drop_column("source_video_id")
