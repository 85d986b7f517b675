"""crm contacts remember the change the CRM refused, so it is not sent (and logged) again
until the contact changes

Revision ID: integration0006
Revises: integration0005
Create Date: 2026-12-07 19:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "integration0006"
down_revision: str | Sequence[str] | None = "integration0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "crm_contacts", sa.Column("refused_change_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("crm_contacts") as batch:
        batch.drop_column("refused_change_at")
