"""a meeting recording's media: its recording in recording_processor

Revision ID: meeting0003
Revises: meeting0002
Create Date: 2026-12-07 21:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "meeting0003"
down_revision: str | Sequence[str] | None = "meeting0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meeting_recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_recording_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meeting_recordings", schema=None) as batch_op:
        batch_op.drop_column("media_recording_id")
