"""crm connections, contacts, activities and the sync log

Revision ID: integration0004
Revises: integration0003
Create Date: 2026-12-07 13:22:18.994974+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "integration0004"
down_revision: str | Sequence[str] | None = "integration0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_activities",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("contact_id", sa.String(length=36), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_activities")),
        sa.UniqueConstraint(
            "connection_id", "message_id", name=op.f("uq_crm_activities_connection_id_message_id")
        ),
    )
    op.create_index(
        "ix_crm_activities_connection_id_status",
        "crm_activities",
        ["connection_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_crm_activities_tenant_id"), "crm_activities", ["tenant_id"], unique=False
    )
    op.create_table(
        "crm_authorizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("vendor", sa.String(length=16), nullable=False),
        sa.Column("activity_event_types", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connection_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_authorizations")),
        sa.UniqueConstraint("state_digest", name=op.f("uq_crm_authorizations_state_digest")),
    )
    op.create_index(
        op.f("ix_crm_authorizations_tenant_id"), "crm_authorizations", ["tenant_id"], unique=False
    )
    op.create_table(
        "crm_connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("vendor", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("instance_url", sa.String(length=500), nullable=True),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activity_event_types", sa.JSON(), nullable=False),
        sa.Column("sync_enabled", sa.Boolean(), nullable=False),
        sa.Column("sync_status", sa.String(length=16), nullable=False),
        sa.Column("contacts_cursor", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activities_cursor", sa.String(length=36), nullable=True),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_connections")),
    )
    op.create_index(
        "ix_crm_connections_next_sync_at", "crm_connections", ["next_sync_at"], unique=False
    )
    op.create_index(
        op.f("ix_crm_connections_tenant_id"), "crm_connections", ["tenant_id"], unique=False
    )
    op.create_table(
        "crm_contacts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("local_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_push", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_contacts")),
        sa.UniqueConstraint(
            "connection_id", "remote_id", name=op.f("uq_crm_contacts_connection_id_remote_id")
        ),
    )
    op.create_index(
        "ix_crm_contacts_connection_id_email",
        "crm_contacts",
        ["connection_id", "email"],
        unique=False,
    )
    op.create_index(
        "ix_crm_contacts_connection_id_pending_push",
        "crm_contacts",
        ["connection_id", "pending_push"],
        unique=False,
    )
    op.create_index(op.f("ix_crm_contacts_tenant_id"), "crm_contacts", ["tenant_id"], unique=False)
    op.create_table(
        "crm_sync_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=True),
        sa.Column("activity_id", sa.String(length=36), nullable=True),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.String(length=8), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("local_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sync_decisions")),
    )
    op.create_index(
        "ix_crm_sync_decisions_connection_id_id",
        "crm_sync_decisions",
        ["connection_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_crm_sync_decisions_tenant_id"), "crm_sync_decisions", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_crm_sync_decisions_tenant_id"), table_name="crm_sync_decisions")
    op.drop_index("ix_crm_sync_decisions_connection_id_id", table_name="crm_sync_decisions")
    op.drop_table("crm_sync_decisions")
    op.drop_index(op.f("ix_crm_contacts_tenant_id"), table_name="crm_contacts")
    op.drop_index("ix_crm_contacts_connection_id_pending_push", table_name="crm_contacts")
    op.drop_index("ix_crm_contacts_connection_id_email", table_name="crm_contacts")
    op.drop_table("crm_contacts")
    op.drop_index(op.f("ix_crm_connections_tenant_id"), table_name="crm_connections")
    op.drop_index("ix_crm_connections_next_sync_at", table_name="crm_connections")
    op.drop_table("crm_connections")
    op.drop_index(op.f("ix_crm_authorizations_tenant_id"), table_name="crm_authorizations")
    op.drop_table("crm_authorizations")
    op.drop_index(op.f("ix_crm_activities_tenant_id"), table_name="crm_activities")
    op.drop_index("ix_crm_activities_connection_id_status", table_name="crm_activities")
    op.drop_table("crm_activities")
