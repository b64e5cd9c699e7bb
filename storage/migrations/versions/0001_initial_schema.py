"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('persona',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('caller_id', sa.String(length=32), nullable=False),
    sa.Column('reply_mailbox', sa.String(length=320), nullable=False),
    sa.Column('postal_address', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('scenario',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('source_path', sa.String(length=1000), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('structure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('peer_group', sa.String(length=128), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('holiday_subdivision', sa.String(length=8), nullable=True),
    sa.Column('opening_hours', sa.String(length=1000), nullable=True),
    sa.Column('opening_hours_note', sa.String(length=2000), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('structure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_structure_departement'), ['departement'], unique=False)
        batch_op.create_index(batch_op.f('ix_structure_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_structure_official_id'), ['official_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_structure_peer_group'), ['peer_group'], unique=False)

    op.create_table('wave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('panel', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('parameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('plan_seed', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wave', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wave_name'), ['name'], unique=True)

    op.create_table('contactpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('structure_id', 'kind', 'value')
    )
    with op.batch_alter_table('contactpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contactpoint_structure_id'), ['structure_id'], unique=False)

    op.create_table('score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('grid', sa.String(length=128), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('accessibility', sa.Float(), nullable=True),
    sa.Column('responsiveness', sa.Float(), nullable=True),
    sa.Column('sample_size', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], ),
    sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('wave_id', 'structure_id', 'channel', 'grid')
    )
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_structure_id'), ['structure_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_score_wave_id'), ['wave_id'], unique=False)

    op.create_table('probe',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('scenario_id', sa.String(length=64), nullable=False),
    sa.Column('persona_id', sa.String(length=64), nullable=False),
    sa.Column('contact_point_id', sa.Integer(), nullable=True),
    sa.Column('slot_index', sa.Integer(), nullable=False),
    sa.Column('slot_kind', sa.String(length=16), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempt_count', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_point_id'], ['contactpoint.id'], ),
    sa.ForeignKeyConstraint(['persona_id'], ['persona.id'], ),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenario.id'], ),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], ),
    sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('probe', schema=None) as batch_op:
        batch_op.create_index('ix_probe_due', ['state', 'scheduled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_probe_structure_id'), ['structure_id'], unique=False)
        batch_op.create_index('ix_probe_wave_structure', ['wave_id', 'structure_id'], unique=False)

    op.create_table('attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('probe_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['probe_id'], ['probe.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('probe_id', 'number')
    )
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempt_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_probe_id'), ['probe_id'], unique=False)

    op.create_table('reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('probe_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('sender', sa.String(length=998), nullable=False),
    sa.Column('subject', sa.String(length=998), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('classification', sa.String(length=32), nullable=True),
    sa.Column('match_method', sa.String(length=32), nullable=True),
    sa.Column('raw_size_bytes', sa.Integer(), nullable=False),
    sa.Column('raw_path', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['probe_id'], ['probe.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reply_probe_id'), ['probe_id'], unique=False)

    op.create_table('review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('probe_id', sa.Uuid(), nullable=False),
    sa.Column('criterion_id', sa.String(length=128), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.String(length=4000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['probe_id'], ['probe.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_probe_id'), ['probe_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('probe_id', sa.Uuid(), nullable=True),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('dedup_key', sa.String(length=255), nullable=True),
    sa.Column('source_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempt.id'], ),
    sa.ForeignKeyConstraint(['probe_id'], ['probe.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedup_key')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_probe_id'), ['probe_id'], unique=False)

    op.create_table('recording',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('probe_id', sa.Uuid(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('media_path', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempt.id'], ),
    sa.ForeignKeyConstraint(['probe_id'], ['probe.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_probe_id'), ['probe_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_probe_id'))

    op.drop_table('recording')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_probe_id'))
        batch_op.drop_index(batch_op.f('ix_event_kind'))

    op.drop_table('event')
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_probe_id'))

    op.drop_table('review')
    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reply_probe_id'))
        batch_op.drop_index(batch_op.f('ix_reply_message_id'))

    op.drop_table('reply')
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempt_probe_id'))
        batch_op.drop_index(batch_op.f('ix_attempt_external_id'))

    op.drop_table('attempt')
    with op.batch_alter_table('probe', schema=None) as batch_op:
        batch_op.drop_index('ix_probe_wave_structure')
        batch_op.drop_index(batch_op.f('ix_probe_structure_id'))
        batch_op.drop_index('ix_probe_due')

    op.drop_table('probe')
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_wave_id'))
        batch_op.drop_index(batch_op.f('ix_score_structure_id'))

    op.drop_table('score')
    with op.batch_alter_table('contactpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contactpoint_structure_id'))

    op.drop_table('contactpoint')
    with op.batch_alter_table('wave', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wave_name'))

    op.drop_table('wave')
    with op.batch_alter_table('structure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_structure_peer_group'))
        batch_op.drop_index(batch_op.f('ix_structure_official_id'))
        batch_op.drop_index(batch_op.f('ix_structure_kind'))
        batch_op.drop_index(batch_op.f('ix_structure_departement'))

    op.drop_table('structure')
    op.drop_table('scenario')
    op.drop_table('persona')

