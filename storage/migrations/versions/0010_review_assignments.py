"""review assignments: who reviews which contact, blind double reviews and arbitrations

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reviewassignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("probe_id", sa.Uuid(), nullable=False),
        sa.Column("auditor", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("double", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["probe_id"], ["probe.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("probe_id", "auditor"),
    )
    op.create_index(
        "ix_reviewassignment_wave_auditor",
        "reviewassignment",
        ["wave_id", "auditor", "reviewed_at"],
        unique=False,
    )
    op.create_index(
        "ix_reviewassignment_wave_disputed",
        "reviewassignment",
        ["wave_id", "disputed"],
        unique=False,
    )
    op.create_index(
        op.f("ix_reviewassignment_probe_id"), "reviewassignment", ["probe_id"], unique=False
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="review")
        )
        batch_op.add_column(sa.Column("submission", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_review_submission_criterion_id", ["submission", "criterion_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_constraint("uq_review_submission_criterion_id", type_="unique")
        batch_op.drop_column("submission")
        batch_op.drop_column("kind")
    op.drop_index(op.f("ix_reviewassignment_probe_id"), table_name="reviewassignment")
    op.drop_index("ix_reviewassignment_wave_disputed", table_name="reviewassignment")
    op.drop_index("ix_reviewassignment_wave_auditor", table_name="reviewassignment")
    op.drop_table("reviewassignment")
