"""create kit_vectors (4 and 8 dimensions)

Revision ID: 7c2e4b1d0a93
Revises: (first revision)
Create Date: 2026-12-08 10:00:00.000000+00:00
"""

from collections.abc import Sequence

from v100.kit.vectors.migration import create_vector_tables, drop_vector_tables

revision: str = "7c2e4b1d0a93"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_vector_tables(dimensions=(4,))


def downgrade() -> None:
    drop_vector_tables(dimensions=(4,))
