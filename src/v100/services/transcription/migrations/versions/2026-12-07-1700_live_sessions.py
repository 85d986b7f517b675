"""live transcription sessions, and the session a live transcript came from

Revision ID: transcription0003l
Revises: transcription0004v
Create Date: 2026-12-07 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "transcription0003l"
down_revision: str | Sequence[str] | None = "transcription0004v"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcription_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("final_results", sa.Integer(), nullable=False),
        sa.Column("interim_results", sa.Integer(), nullable=False),
        sa.Column("latency_median_ms", sa.Float(), nullable=True),
        sa.Column("latency_p90_ms", sa.Float(), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("held_minutes", sa.Integer(), nullable=False),
        sa.Column("credits_charged", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("end_detail", sa.String(length=500), nullable=True),
        sa.Column("close_code", sa.Integer(), nullable=True),
        sa.Column("transcript_id", sa.String(length=36), nullable=True),
        sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcription_sessions")),
    )
    op.create_index(
        op.f("ix_transcription_sessions_status"), "transcription_sessions", ["status"],
        unique=False,
    )  # fmt: skip
    op.create_index(
        op.f("ix_transcription_sessions_tenant_id"), "transcription_sessions", ["tenant_id"],
        unique=False,
    )  # fmt: skip
    with op.batch_alter_table("transcripts") as batch:
        batch.add_column(sa.Column("source_session_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transcripts") as batch:
        batch.drop_column("source_session_id")
    op.drop_index(op.f("ix_transcription_sessions_tenant_id"), table_name="transcription_sessions")
    op.drop_index(op.f("ix_transcription_sessions_status"), table_name="transcription_sessions")
    op.drop_table("transcription_sessions")
