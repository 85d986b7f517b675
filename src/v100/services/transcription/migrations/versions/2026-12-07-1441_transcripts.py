"""transcripts, the job table and idempotent answers

Revision ID: transcription0002
Revises: transcription0001
Create Date: 2026-12-07 14:41:40+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from v100.kit.idempotency.migration import create_idempotency_table, drop_idempotency_table
from v100.kit.jobs.migration import create_job_table, drop_job_table

revision: str = "transcription0002"
down_revision: str | Sequence[str] | None = "transcription0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_job_table()
    create_idempotency_table()
    op.create_table(
        "transcripts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_url", sa.String(length=2048), nullable=True),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("source_content_type", sa.String(length=100), nullable=True),
        sa.Column("source_key", sa.String(length=1024), nullable=True),
        sa.Column("source_size", sa.BigInteger(), nullable=True),
        sa.Column("language_requested", sa.String(length=16), nullable=True),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("credits_charged", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("language_probability", sa.Float(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("speech_duration", sa.Float(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
    )
    op.create_index(op.f("ix_transcripts_status"), "transcripts", ["status"], unique=False)
    op.create_index(op.f("ix_transcripts_tenant_id"), "transcripts", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_transcripts_tenant_id"), table_name="transcripts")
    op.drop_index(op.f("ix_transcripts_status"), table_name="transcripts")
    op.drop_table("transcripts")
    drop_idempotency_table()
    drop_job_table()
