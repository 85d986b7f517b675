"""the job queue's table (the expiry sweep)

Revision ID: billing0003
Revises: billing0002
Create Date: 2026-11-26 14:26:00+00:00
"""

from collections.abc import Sequence

from v100.kit.jobs.migration import create_job_table, drop_job_table

revision: str = "billing0003"
down_revision: str | Sequence[str] | None = "billing0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_job_table()


def downgrade() -> None:
    drop_job_table()
