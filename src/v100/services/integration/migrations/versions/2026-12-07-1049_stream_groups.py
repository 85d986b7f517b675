"""event stream consumer groups and their leases

Revision ID: integration0003
Revises: integration0002
Create Date: 2026-12-07 10:49:16.129266+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "integration0003"
down_revision: str | Sequence[str] | None = "integration0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("position", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_groups")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_stream_groups_tenant_id_name")),
    )
    op.create_index(
        op.f("ix_stream_groups_tenant_id"), "stream_groups", ["tenant_id"], unique=False
    )
    op.create_table(
        "stream_leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("visible_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_leases")),
        sa.UniqueConstraint(
            "group_id", "message_id", name=op.f("uq_stream_leases_group_id_message_id")
        ),
    )
    op.create_index(
        "ix_stream_leases_group_id_visible_at",
        "stream_leases",
        ["group_id", "visible_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stream_leases_tenant_id"), "stream_leases", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_stream_leases_tenant_id"), table_name="stream_leases")
    op.drop_index("ix_stream_leases_group_id_visible_at", table_name="stream_leases")
    op.drop_table("stream_leases")
    op.drop_index(op.f("ix_stream_groups_tenant_id"), table_name="stream_groups")
    op.drop_table("stream_groups")
