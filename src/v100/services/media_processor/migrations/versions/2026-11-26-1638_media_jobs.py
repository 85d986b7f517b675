"""inputs, media jobs, assemblies, the job table and idempotent answers

Revision ID: media_processor0002
Revises: media_processor0001
Create Date: 2026-11-26 16:38:31+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from v100.kit.idempotency.migration import create_idempotency_table, drop_idempotency_table
from v100.kit.jobs.migration import create_job_table, drop_job_table

revision: str = "media_processor0002"
down_revision: str | Sequence[str] | None = "media_processor0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owned() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
    ]


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    create_job_table()
    create_idempotency_table()
    op.create_table(
        "media_inputs",
        *_owned(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_inputs")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_media_inputs_tenant_id_name")),
    )
    op.create_index(op.f("ix_media_inputs_tenant_id"), "media_inputs", ["tenant_id"])
    op.create_table(
        "media_jobs",
        *_owned(),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("input_name", sa.String(length=200), nullable=False),
        sa.Column("input_key", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("output_key", sa.String(length=1024), nullable=True),
        sa.Column("output_size", sa.BigInteger(), nullable=True),
        sa.Column("output_content_type", sa.String(length=100), nullable=True),
        sa.Column("output_media", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("credits_charged", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_jobs")),
    )
    op.create_index(op.f("ix_media_jobs_status"), "media_jobs", ["status"])
    op.create_index(op.f("ix_media_jobs_tenant_id"), "media_jobs", ["tenant_id"])
    op.create_table(
        "media_assemblies",
        *_owned(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("upload_id", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_assemblies")),
    )
    op.create_index(op.f("ix_media_assemblies_status"), "media_assemblies", ["status"])
    op.create_index(op.f("ix_media_assemblies_tenant_id"), "media_assemblies", ["tenant_id"])
    op.create_table(
        "media_assembly_parts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("assembly_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("store_number", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assembly_id"],
            ["media_assemblies.id"],
            name=op.f("fk_media_assembly_parts_assembly_id_media_assemblies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_assembly_parts")),
        sa.UniqueConstraint(
            "assembly_id", "number", name=op.f("uq_media_assembly_parts_assembly_id_number")
        ),
    )
    op.create_index(
        op.f("ix_media_assembly_parts_assembly_id"), "media_assembly_parts", ["assembly_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_media_assembly_parts_assembly_id"), table_name="media_assembly_parts")
    op.drop_table("media_assembly_parts")
    op.drop_index(op.f("ix_media_assemblies_tenant_id"), table_name="media_assemblies")
    op.drop_index(op.f("ix_media_assemblies_status"), table_name="media_assemblies")
    op.drop_table("media_assemblies")
    op.drop_index(op.f("ix_media_jobs_tenant_id"), table_name="media_jobs")
    op.drop_index(op.f("ix_media_jobs_status"), table_name="media_jobs")
    op.drop_table("media_jobs")
    op.drop_index(op.f("ix_media_inputs_tenant_id"), table_name="media_inputs")
    op.drop_table("media_inputs")
    drop_idempotency_table()
    drop_job_table()
