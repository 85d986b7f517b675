"""clips: the credit hold and the credits charged

Revision ID: video_processing0003
Revises: video_processing0002
Create Date: 2026-11-26 23:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_processing0003"
down_revision: str | Sequence[str] | None = "video_processing0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("hold_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("credits_charged", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("credits_charged")
        batch.drop_column("hold_id")
