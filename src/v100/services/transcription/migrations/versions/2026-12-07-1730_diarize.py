"""transcripts.diarize: whether a transcript finds speakers

Revision ID: transcription0003d
Revises: transcription0003l
Create Date: 2026-12-07 16:05:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "transcription0003d"
down_revision: str | Sequence[str] | None = "transcription0003l"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Transcripts made before diarization existed found no speakers.
    op.add_column(
        "transcripts",
        sa.Column("diarize", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("transcripts", "diarize")
