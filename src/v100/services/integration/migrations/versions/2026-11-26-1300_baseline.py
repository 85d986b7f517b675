"""baseline: the service's version table, before its first tables

Revision ID: integration0001
Revises: (first revision)
Create Date: 2026-11-26 13:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "integration0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
