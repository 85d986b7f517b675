"""caption tracks: a video's WebVTT and SRT text tracks, one per language

Revision ID: video_processing0004
Revises: video_processing0003
Create Date: 2026-12-07 16:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_processing0004"
down_revision: str | Sequence[str] | None = "video_processing0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "caption_tracks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("transcript_id", sa.String(length=36), nullable=True),
        sa.Column("cues", sa.Integer(), nullable=False),
        sa.Column("vtt_key", sa.String(length=1024), nullable=False),
        sa.Column("srt_key", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_caption_tracks_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caption_tracks")),
        sa.UniqueConstraint(
            "video_id", "language", name=op.f("uq_caption_tracks_video_id_language")
        ),
    )
    op.create_index(
        op.f("ix_caption_tracks_tenant_id"), "caption_tracks", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_caption_tracks_video_id"), "caption_tracks", ["video_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_caption_tracks_video_id"), table_name="caption_tracks")
    op.drop_index(op.f("ix_caption_tracks_tenant_id"), table_name="caption_tracks")
    op.drop_table("caption_tracks")
