"""costs and alerts: each call's price as Twilio gives it, a wave's budget, the alerts table

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price", sa.Numeric(14, 5), nullable=True))
        batch_op.add_column(sa.Column("price_unit", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("priced_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.add_column(sa.Column("budget", sa.Numeric(14, 2), nullable=True))
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("wave_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(length=200), nullable=True),
        sa.Column("raise_emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clear_emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_open", "alert", ["rule", "subject", "cleared_at"], unique=False)
    op.create_index(
        "ux_alert_open_subject",
        "alert",
        ["rule", "subject"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_alert_open_subject", table_name="alert")
    op.drop_index("ix_alert_open", table_name="alert")
    op.drop_table("alert")
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.drop_column("budget")
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.drop_column("priced_at")
        batch_op.drop_column("price_unit")
        batch_op.drop_column("price")
