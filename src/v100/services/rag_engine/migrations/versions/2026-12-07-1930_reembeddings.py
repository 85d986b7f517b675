"""re-embeddings and transcripts: a collection's vector space, the re-embeddings into another
model, and a document's source transcript

Revision ID: rag_engine0003r
Revises: rag_engine0002
Create Date: 2026-12-07 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rag_engine0003r"
down_revision: str | Sequence[str] | None = "rag_engine0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("collections", sa.Column("space_id", sa.String(length=36), nullable=True))
    op.add_column(
        "documents", sa.Column("source_transcript_id", sa.String(length=36), nullable=True)
    )
    op.create_table(
        "reembeddings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("knowledge_base_id", sa.String(length=64), nullable=False),
        sa.Column("from_model", sa.String(length=100), nullable=False),
        sa.Column("to_model", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("passage_count", sa.Integer(), nullable=True),
        sa.Column("embedded_count", sa.Integer(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("credits_charged", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reembeddings")),
    )
    for column in ("collection_id", "status", "tenant_id"):
        op.create_index(op.f(f"ix_reembeddings_{column}"), "reembeddings", [column], unique=False)


def downgrade() -> None:
    for column in ("collection_id", "status", "tenant_id"):
        op.drop_index(op.f(f"ix_reembeddings_{column}"), table_name="reembeddings")
    op.drop_table("reembeddings")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("source_transcript_id")
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("space_id")
