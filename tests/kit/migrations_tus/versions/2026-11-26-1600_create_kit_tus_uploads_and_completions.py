"""create kit_tus_uploads and completions

Revision ID: 7c2e4b1d9a30
Revises: (first revision)
Create Date: 2026-11-26 16:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from v100.kit.tus.migration import create_tus_table, drop_tus_table

revision: str = "7c2e4b1d9a30"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_tus_table()
    op.create_table(
        "completions",
        sa.Column("upload_id", sa.String(length=36), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_completions")),
    )


def downgrade() -> None:
    op.drop_table("completions")
    drop_tus_table()
