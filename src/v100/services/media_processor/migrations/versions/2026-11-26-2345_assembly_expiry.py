"""assemblies expire: expires_at (open ones from before get created_at + 24 h)

Revision ID: media_processor0003
Revises: media_processor0002
Create Date: 2026-11-26 23:45:00+00:00
"""

from collections.abc import Sequence
from datetime import UTC, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "media_processor0003"
down_revision: str | Sequence[str] | None = "media_processor0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default of settings.assembly_ttl_seconds when this revision was written.
_TTL = timedelta(hours=24)


def upgrade() -> None:
    op.add_column(
        "media_assemblies", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_media_assemblies_expires_at"), "media_assemblies", ["expires_at"])
    assemblies = sa.table(
        "media_assemblies",
        sa.column("id", sa.String()),
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(assemblies.c.id, assemblies.c.created_at).where(assemblies.c.status == "open")
    ).all()
    for assembly_id, created_at in rows:
        created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        expires = created.astimezone(UTC) + _TTL
        if bind.dialect.name == "sqlite":  # stored naive, in UTC (kit.db.UTCDateTime)
            expires = expires.replace(tzinfo=None)
        bind.execute(
            sa.update(assemblies).where(assemblies.c.id == assembly_id).values(expires_at=expires)
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_media_assemblies_expires_at"), table_name="media_assemblies")
    with op.batch_alter_table("media_assemblies") as batch:
        batch.drop_column("expires_at")
