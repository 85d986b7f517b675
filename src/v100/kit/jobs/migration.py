"""DDL for the ``kit_jobs`` table, called from a service's own Alembic revision so no service copies
it:

    from v100.kit.jobs.migration import create_job_table, drop_job_table

    def upgrade() -> None:
        create_job_table()

    def downgrade() -> None:
        drop_job_table()

These helpers are frozen: a revision written today must build the same table in a year. When
the table changes, kit adds a new helper (``upgrade_job_table_v2()``) for a new revision to
call, and never edits these.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["create_job_table", "drop_job_table"]

_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def create_job_table() -> None:
    """Create ``kit_jobs`` (version 1) and its indexes."""
    op.create_table(
        "kit_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{status}'" for status in _STATUSES)),
            name=op.f("ck_kit_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kit_jobs")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_kit_jobs_dedupe_key")),
    )
    op.create_index(op.f("ix_kit_jobs_tenant_id"), "kit_jobs", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_kit_jobs_status_run_after"), "kit_jobs", ["status", "run_after"], unique=False
    )


def drop_job_table() -> None:
    """Drop ``kit_jobs`` and its indexes (the downgrade of ``create_job_table``)."""
    op.drop_index(op.f("ix_kit_jobs_status_run_after"), table_name="kit_jobs")
    op.drop_index(op.f("ix_kit_jobs_tenant_id"), table_name="kit_jobs")
    op.drop_table("kit_jobs")
