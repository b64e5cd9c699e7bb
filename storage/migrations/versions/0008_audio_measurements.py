"""call measurements from the recording's audio, kept beside those from Twilio's callbacks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callmeasurement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recording_external_id", sa.String(length=64), nullable=True),
        sa.Column("rings", sa.Integer(), nullable=True),
        sa.Column("rings_after_answer", sa.Integer(), nullable=True),
        sa.Column("answered_at_s", sa.Float(), nullable=True),
        sa.Column("hold_s", sa.Float(), nullable=True),
        sa.Column("first_words_s", sa.Float(), nullable=True),
        sa.Column("music_s", sa.Float(), nullable=True),
        sa.Column("announcement_s", sa.Float(), nullable=True),
        sa.Column("busy", sa.Boolean(), nullable=True),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("check", sa.String(length=16), nullable=True),
        sa.Column("checked_by", sa.String(length=200), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempt.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attempt_id", "source"),
    )
    with op.batch_alter_table("callmeasurement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callmeasurement_attempt_id"), ["attempt_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_callmeasurement_check"), ["check"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callmeasurement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callmeasurement_check"))
        batch_op.drop_index(batch_op.f("ix_callmeasurement_attempt_id"))
    op.drop_table("callmeasurement")
