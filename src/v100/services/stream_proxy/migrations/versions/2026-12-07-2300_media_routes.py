"""media routes: a tenant's named, health-checked backends; the stored answers of idempotent POSTs

Revision ID: stream_proxy0002
Revises: stream_proxy0001
Create Date: 2026-12-07 23:02:30.748585+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stream_proxy0002"
down_revision: str | Sequence[str] | None = "stream_proxy0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
    op.create_table(
        "media_routes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("backends", sa.JSON(), nullable=False),
        sa.Column("health_path", sa.String(length=200), nullable=False),
        sa.Column("health_interval_seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_routes")),
    )
    op.create_index(op.f("ix_media_routes_kind"), "media_routes", ["kind"], unique=False)
    op.create_index(op.f("ix_media_routes_tenant_id"), "media_routes", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_media_routes_tenant_id"), table_name="media_routes")
    op.drop_index(op.f("ix_media_routes_kind"), table_name="media_routes")
    op.drop_table("media_routes")
    op.drop_index(op.f("ix_idempotency_records_tenant_id"), table_name="idempotency_records")
    op.drop_table("idempotency_records")
