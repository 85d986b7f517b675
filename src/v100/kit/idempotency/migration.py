"""DDL for the ``idempotency_records`` table, called from a service's own Alembic revision:

    from v100.kit.idempotency.migration import create_idempotency_table, drop_idempotency_table

    def upgrade() -> None:
        create_idempotency_table()

    def downgrade() -> None:
        drop_idempotency_table()

Frozen like ``v100.kit.jobs.migration``: a change to the table is a new helper, never an edit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["create_idempotency_table", "drop_idempotency_table"]


def create_idempotency_table() -> None:
    """Create ``idempotency_records`` (version 1) and its index."""
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=300), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_idempotency_records_tenant_id_key")),
    )
    op.create_index(
        op.f("ix_idempotency_records_tenant_id"), "idempotency_records", ["tenant_id"], unique=False
    )


def drop_idempotency_table() -> None:
    """Drop ``idempotency_records`` (the downgrade of ``create_idempotency_table``)."""
    op.drop_index(op.f("ix_idempotency_records_tenant_id"), table_name="idempotency_records")
    op.drop_table("idempotency_records")
