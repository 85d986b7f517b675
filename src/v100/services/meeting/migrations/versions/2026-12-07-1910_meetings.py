"""meetings, participants, breakout rooms, recordings

Revision ID: meeting0002
Revises: meeting0001
Create Date: 2026-12-07 19:10:27.118264+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from v100.kit.idempotency.migration import create_idempotency_table, drop_idempotency_table

revision: str = "meeting0002"
down_revision: str | Sequence[str] | None = "meeting0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "breakout_rooms",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breakout_rooms")),
    )
    op.create_index(
        op.f("ix_breakout_rooms_meeting_id"), "breakout_rooms", ["meeting_id"], unique=False
    )
    op.create_index(
        op.f("ix_breakout_rooms_tenant_id"), "breakout_rooms", ["tenant_id"], unique=False
    )
    create_idempotency_table()
    op.create_table(
        "meeting_recordings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_by", sa.String(length=36), nullable=False),
        sa.Column("stopped_by", sa.String(length=36), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_recordings")),
    )
    op.create_index(
        op.f("ix_meeting_recordings_meeting_id"), "meeting_recordings", ["meeting_id"], unique=False
    )
    op.create_index(
        op.f("ix_meeting_recordings_tenant_id"), "meeting_recordings", ["tenant_id"], unique=False
    )
    op.create_table(
        "meetings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("waiting_room", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("recording_allowed", sa.Boolean(), nullable=False),
        sa.Column("event_sequence", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index(op.f("ix_meetings_status"), "meetings", ["status"], unique=False)
    op.create_index(op.f("ix_meetings_tenant_id"), "meetings", ["tenant_id"], unique=False)
    op.create_table(
        "participants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("grants", sa.JSON(), nullable=False),
        sa.Column("token_id", sa.String(length=36), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("room", sa.String(length=36), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
    )
    op.create_index(
        op.f("ix_participants_meeting_id"), "participants", ["meeting_id"], unique=False
    )
    op.create_index(op.f("ix_participants_status"), "participants", ["status"], unique=False)
    op.create_index(op.f("ix_participants_tenant_id"), "participants", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_participants_tenant_id"), table_name="participants")
    op.drop_index(op.f("ix_participants_status"), table_name="participants")
    op.drop_index(op.f("ix_participants_meeting_id"), table_name="participants")
    op.drop_table("participants")
    op.drop_index(op.f("ix_meetings_tenant_id"), table_name="meetings")
    op.drop_index(op.f("ix_meetings_status"), table_name="meetings")
    op.drop_table("meetings")
    op.drop_index(op.f("ix_meeting_recordings_tenant_id"), table_name="meeting_recordings")
    op.drop_index(op.f("ix_meeting_recordings_meeting_id"), table_name="meeting_recordings")
    op.drop_table("meeting_recordings")
    drop_idempotency_table()
    op.drop_index(op.f("ix_breakout_rooms_tenant_id"), table_name="breakout_rooms")
    op.drop_index(op.f("ix_breakout_rooms_meeting_id"), table_name="breakout_rooms")
    op.drop_table("breakout_rooms")
