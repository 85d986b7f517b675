"""meeting recordings' chunked uploads: the tus table and the recording's tus upload

Revision ID: recording_processor0003
Revises: recording_processor0002
Create Date: 2026-12-07 21:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from v100.kit.tus.migration import create_tus_table, drop_tus_table

revision: str = "recording_processor0003"
down_revision: str | Sequence[str] | None = "recording_processor0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_tus_table()
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tus_upload_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("tus_upload_id")
    drop_tus_table()
