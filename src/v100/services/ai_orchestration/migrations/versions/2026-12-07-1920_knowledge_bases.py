"""knowledge bases; the tools an assistant turn called; a test run's credits held

Revision ID: ai_orchestration0003
Revises: ai_orchestration0002
Create Date: 2026-12-07 19:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ai_orchestration0003"
down_revision: str | Sequence[str] | None = "ai_orchestration0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_bases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("embedding_model", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_bases")),
    )
    op.create_index(
        op.f("ix_knowledge_bases_tenant_id"), "knowledge_bases", ["tenant_id"], unique=False
    )
    with op.batch_alter_table("conversation_messages") as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON(), nullable=True))
    with op.batch_alter_table("test_runs") as batch:
        batch.add_column(sa.Column("held", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.drop_column("held")
    with op.batch_alter_table("conversation_messages") as batch:
        batch.drop_column("tool_calls")
    op.drop_index(op.f("ix_knowledge_bases_tenant_id"), table_name="knowledge_bases")
    op.drop_table("knowledge_bases")
