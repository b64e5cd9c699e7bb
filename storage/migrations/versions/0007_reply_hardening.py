"""replies: a sender that is not the structure's is flagged until an auditor reviews it

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_check", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("sender_checked_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("sender_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_reply_sender_check"), ["sender_check"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_sender_check"))
        batch_op.drop_column("sender_checked_at")
        batch_op.drop_column("sender_checked_by")
        batch_op.drop_column("sender_check")
