"""kit_vectors version 2 on SQLite: float vectors by id and sign bits sharded per collection
for the shortlist-and-rescore nearest search (ADR 0059); nothing on PostgreSQL

Revision ID: rag_engine0004
Revises: rag_engine0003r
Create Date: 2026-12-08 00:00:00+00:00
"""

from collections.abc import Sequence

from v100.kit.vectors.migration import (
    downgrade_vector_tables_from_v2,
    upgrade_vector_tables_to_v2,
)

revision: str = "rag_engine0004"
down_revision: str | Sequence[str] | None = "rag_engine0003r"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = (384,)


def upgrade() -> None:
    upgrade_vector_tables_to_v2(dimensions=DIMENSIONS)


def downgrade() -> None:
    downgrade_vector_tables_from_v2(dimensions=DIMENSIONS)
