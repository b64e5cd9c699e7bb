"""call measurements: attempt.measurement, event.clock, recording checksum and status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("measurement", _JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.alter_column("measurement", server_default=None)
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("clock", sa.String(length=16), nullable=False, server_default="source")
        )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column("clock", server_default=None)
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("size_bytes", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="announced")
        )
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.drop_column("status")
        batch_op.drop_column("size_bytes")
        batch_op.drop_column("sha256")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("clock")
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.drop_column("measurement")
