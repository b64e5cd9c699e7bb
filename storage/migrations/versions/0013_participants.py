"""participants: enrolments, their sites, their emailed tokens, published waves

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("official_id", sa.String(length=64), nullable=False),
        sa.Column("declared_name", sa.String(length=300), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("offer", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("contact_phone", sa.String(length=32), nullable=False),
        sa.Column("postal_address", sa.String(length=500), nullable=False),
        sa.Column("first_time", sa.Boolean(), nullable=False),
        sa.Column("terms_accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decision_reason", sa.String(length=1000), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["structure_id"], ["structure.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_participant_official_id", "participant", ["official_id"])
    op.create_index("ix_participant_status", "participant", ["status"])
    op.create_index("ix_participant_structure_id", "participant", ["structure_id"])
    op.create_table(
        "participantsite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("official_id", sa.String(length=64), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["structure_id"], ["structure.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("participant_id", "official_id"),
    )
    op.create_index("ix_participantsite_official_id", "participantsite", ["official_id"])
    op.create_index("ix_participantsite_participant_id", "participantsite", ["participant_id"])
    op.create_index("ix_participantsite_structure_id", "participantsite", ["structure_id"])
    op.create_table(
        "participanttoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_index("ix_participanttoken_participant_id", "participanttoken", ["participant_id"])
    op.create_table(
        "wavepublication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wave_id"),
    )


def downgrade() -> None:
    op.drop_table("wavepublication")
    op.drop_index("ix_participanttoken_participant_id", table_name="participanttoken")
    op.drop_table("participanttoken")
    op.drop_index("ix_participantsite_structure_id", table_name="participantsite")
    op.drop_index("ix_participantsite_participant_id", table_name="participantsite")
    op.drop_index("ix_participantsite_official_id", table_name="participantsite")
    op.drop_table("participantsite")
    op.drop_index("ix_participant_structure_id", table_name="participant")
    op.drop_index("ix_participant_status", table_name="participant")
    op.drop_index("ix_participant_official_id", table_name="participant")
    op.drop_table("participant")
