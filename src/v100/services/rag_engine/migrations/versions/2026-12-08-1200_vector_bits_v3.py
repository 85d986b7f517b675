"""kit_vectors version 3 on SQLite: the sign-bit tables built again with 32 shards a
collection in 512-row chunks, half the CPU of a nearest search (ADR 0059, 2026-12-08);
nothing on PostgreSQL

Revision ID: rag_engine0005
Revises: rag_engine0004
Create Date: 2026-12-08 12:00:00+00:00
"""

from collections.abc import Sequence

from v100.kit.vectors.migration import (
    downgrade_vector_tables_from_v3,
    upgrade_vector_tables_to_v3,
)

revision: str = "rag_engine0005"
down_revision: str | Sequence[str] | None = "rag_engine0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = (384,)


def upgrade() -> None:
    upgrade_vector_tables_to_v3(dimensions=DIMENSIONS)


def downgrade() -> None:
    downgrade_vector_tables_from_v3(dimensions=DIMENSIONS)
