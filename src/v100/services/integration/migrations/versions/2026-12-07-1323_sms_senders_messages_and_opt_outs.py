"""SMS: senders, messages and opt-outs (down_revision becomes integration0004 once the CRM
branch, which takes that id, is merged)

Revision ID: integration0005
Revises: integration0004
Create Date: 2026-12-07 13:22:30.936286+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "integration0005"
down_revision: str | Sequence[str] | None = "integration0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sender_id", sa.String(length=36), nullable=True),
        sa.Column("from_number", sa.String(length=16), nullable=True),
        sa.Column("messaging_service_sid", sa.String(length=34), nullable=True),
        sa.Column("to", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("twilio_sid", sa.String(length=34), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
    )
    op.create_index(
        "ix_sms_messages_status_next_attempt_at",
        "sms_messages",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(op.f("ix_sms_messages_tenant_id"), "sms_messages", ["tenant_id"], unique=False)
    op.create_index(
        "ix_sms_messages_tenant_id_status", "sms_messages", ["tenant_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_sms_messages_twilio_sid"), "sms_messages", ["twilio_sid"], unique=False
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sender_address", sa.String(length=34), nullable=False),
        sa.Column("sender_id", sa.String(length=36), nullable=True),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_opt_outs")),
        sa.UniqueConstraint(
            "sender_address",
            "phone_number",
            name=op.f("uq_sms_opt_outs_sender_address_phone_number"),
        ),
    )
    op.create_index(op.f("ix_sms_opt_outs_tenant_id"), "sms_opt_outs", ["tenant_id"], unique=False)
    op.create_table(
        "sms_senders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=True),
        sa.Column("messaging_service_sid", sa.String(length=34), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_senders")),
        sa.UniqueConstraint(
            "messaging_service_sid", name=op.f("uq_sms_senders_messaging_service_sid")
        ),
        sa.UniqueConstraint("phone_number", name=op.f("uq_sms_senders_phone_number")),
    )
    op.create_index(op.f("ix_sms_senders_tenant_id"), "sms_senders", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sms_senders_tenant_id"), table_name="sms_senders")
    op.drop_table("sms_senders")
    op.drop_index(op.f("ix_sms_opt_outs_tenant_id"), table_name="sms_opt_outs")
    op.drop_table("sms_opt_outs")
    op.drop_index(op.f("ix_sms_messages_twilio_sid"), table_name="sms_messages")
    op.drop_index("ix_sms_messages_tenant_id_status", table_name="sms_messages")
    op.drop_index(op.f("ix_sms_messages_tenant_id"), table_name="sms_messages")
    op.drop_index("ix_sms_messages_status_next_attempt_at", table_name="sms_messages")
    op.drop_table("sms_messages")
