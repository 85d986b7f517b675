"""kit_vectors version 2 (SQLite: float vectors by id, sign bits per shard)

Revision ID: 5d1f7a2c9e04
Revises: 7c2e4b1d0a93
Create Date: 2026-12-08 11:00:00.000000+00:00
"""

from collections.abc import Sequence

from v100.kit.vectors.migration import (
    downgrade_vector_tables_from_v2,
    upgrade_vector_tables_to_v2,
)

revision: str = "5d1f7a2c9e04"
down_revision: str | Sequence[str] | None = "7c2e4b1d0a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_vector_tables_to_v2(dimensions=(4,))


def downgrade() -> None:
    downgrade_vector_tables_from_v2(dimensions=(4,))
