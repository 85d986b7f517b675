"""the highlights asked for on an analysis

Revision ID: video_analysis0003
Revises: video_analysis0002
Create Date: 2026-12-07 20:45:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_analysis0003"
down_revision: str | Sequence[str] | None = "video_analysis0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("highlight_options", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("highlight_options")
