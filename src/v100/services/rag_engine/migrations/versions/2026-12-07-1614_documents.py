"""collections, documents, passages with their vectors, the job table and idempotent answers

Revision ID: rag_engine0002
Revises: rag_engine0001
Create Date: 2026-12-07 16:14:02+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from v100.kit.idempotency.migration import create_idempotency_table, drop_idempotency_table
from v100.kit.jobs.migration import create_job_table, drop_job_table
from v100.kit.vectors.migration import create_vector_tables, drop_vector_tables

revision: str = "rag_engine0002"
down_revision: str | Sequence[str] | None = "rag_engine0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The local MiniLM's vectors; another model's dimension is prepared when its first knowledge
# base appears (VectorStore.prepare).
DIMENSIONS = (384,)


def upgrade() -> None:
    create_job_table()
    create_idempotency_table()
    create_vector_tables(dimensions=DIMENSIONS)
    op.create_table(
        "collections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("knowledge_base_id", sa.String(length=64), nullable=False),
        sa.Column("embedding_model", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint(
            "tenant_id",
            "knowledge_base_id",
            name=op.f("uq_collections_tenant_id_knowledge_base_id"),
        ),
    )
    op.create_index(op.f("ix_collections_tenant_id"), "collections", ["tenant_id"], unique=False)
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("knowledge_base_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("source_key", sa.String(length=1024), nullable=True),
        sa.Column("source_size", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("revised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("credits_charged", sa.Integer(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=True),
        sa.Column("token_count", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint(
            "collection_id", "external_id", name=op.f("uq_documents_collection_id_external_id")
        ),
    )
    for column in ("collection_id", "content_hash", "knowledge_base_id", "status", "tenant_id"):
        op.create_index(op.f(f"ix_documents_{column}"), "documents", [column], unique=False)


def downgrade() -> None:
    for column in ("collection_id", "content_hash", "knowledge_base_id", "status", "tenant_id"):
        op.drop_index(op.f(f"ix_documents_{column}"), table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_collections_tenant_id"), table_name="collections")
    op.drop_table("collections")
    drop_vector_tables(dimensions=DIMENSIONS)
    drop_idempotency_table()
    drop_job_table()
