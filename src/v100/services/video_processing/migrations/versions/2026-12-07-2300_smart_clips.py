"""smart clips and analysis highlights: one clip resource for cuts and smart-cropped renders
(ADR 0060); highlights found by an analysis name it and their id there

Revision ID: video_processing0005
Revises: video_processing0004
Create Date: 2026-12-07 23:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_processing0005"
down_revision: str | Sequence[str] | None = "video_processing0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLIP_COLUMNS = ("caption_cues", "rendered_end", "rendered_start", "plan", "captions", "aspect",
                 "title", "analysis_id")  # fmt: skip


def upgrade() -> None:
    op.add_column("clips", sa.Column("analysis_id", sa.String(length=36), nullable=True))
    op.add_column("clips", sa.Column("title", sa.String(length=200), nullable=True))
    op.add_column("clips", sa.Column("aspect", sa.String(length=8), nullable=True))
    op.add_column("clips", sa.Column("captions", sa.Boolean(), nullable=True))
    op.add_column("clips", sa.Column("plan", sa.JSON(), nullable=True))
    op.add_column("clips", sa.Column("rendered_start", sa.Float(), nullable=True))
    op.add_column("clips", sa.Column("rendered_end", sa.Float(), nullable=True))
    op.add_column("clips", sa.Column("caption_cues", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_clips_analysis_id"), "clips", ["analysis_id"], unique=False)
    op.add_column("highlights", sa.Column("analysis_id", sa.String(length=36), nullable=True))
    op.add_column("highlights", sa.Column("ref", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_highlights_analysis_id"), "highlights", ["analysis_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_highlights_analysis_id"), table_name="highlights")
    with op.batch_alter_table("highlights") as batch:
        batch.drop_column("ref")
        batch.drop_column("analysis_id")
    op.drop_index(op.f("ix_clips_analysis_id"), table_name="clips")
    with op.batch_alter_table("clips") as batch:
        for column in _CLIP_COLUMNS:
            batch.drop_column(column)
