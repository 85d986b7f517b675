"""the operator's catalogue: plan status; incomplete subscriptions and what lets one stand

Revision ID: billing_engine0007
Revises: billing_engine0006
Create Date: 2026-12-07 06:00:00+00:00

Plans made before this revision were made by tenants for themselves (ADR 0027): they are kept,
archived, and give no tier, because the tier of a plan counts only when the operator owns it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "billing_engine0007"
down_revision: str | Sequence[str] | None = "billing_engine0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="draft", nullable=False)
        )
        batch.create_check_constraint(
            op.f("ck_plans_status"), "status IN ('draft', 'published', 'archived')"
        )
    op.execute("UPDATE plans SET status = 'archived'")
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("payment", sa.String(length=16), server_default="none", nullable=False)
        )
        batch.drop_constraint(op.f("ck_subscriptions_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_subscriptions_status"),
            "status IN ('incomplete', 'trialing', 'active', 'canceled')",
        )
        batch.create_check_constraint(
            op.f("ck_subscriptions_payment"), "payment IN ('none', 'card', 'granted')"
        )


def downgrade() -> None:
    op.execute("UPDATE subscriptions SET status = 'canceled' WHERE status = 'incomplete'")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f("ck_subscriptions_payment"), type_="check")
        batch.drop_constraint(op.f("ck_subscriptions_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_subscriptions_status"), "status IN ('trialing', 'active', 'canceled')"
        )
        batch.drop_column("payment")
    with op.batch_alter_table("plans") as batch:
        batch.drop_constraint(op.f("ck_plans_status"), type_="check")
        batch.drop_column("status")
