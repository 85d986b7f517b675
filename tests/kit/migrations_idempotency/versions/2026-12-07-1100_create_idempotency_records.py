"""create idempotency_records

Revision ID: 3f6a9c2e7b10
Revises: (first revision)
Create Date: 2026-12-07 11:00:00.000000+00:00
"""

from collections.abc import Sequence

from v100.kit.idempotency.migration import create_idempotency_table, drop_idempotency_table

revision: str = "3f6a9c2e7b10"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
