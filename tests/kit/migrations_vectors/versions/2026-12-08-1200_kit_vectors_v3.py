"""kit_vectors version 3 (SQLite: sign bits in 32 shards of 512-row chunks)

Revision ID: 9b3e6f1a2d57
Revises: 5d1f7a2c9e04
Create Date: 2026-12-08 12:00:00.000000+00:00
"""

from collections.abc import Sequence

from v100.kit.vectors.migration import (
    downgrade_vector_tables_from_v3,
    upgrade_vector_tables_to_v3,
)

revision: str = "9b3e6f1a2d57"
down_revision: str | Sequence[str] | None = "5d1f7a2c9e04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_vector_tables_to_v3(dimensions=(4,))


def downgrade() -> None:
    downgrade_vector_tables_from_v3(dimensions=(4,))
