"""alerts and last known good campaign version (issue 11)

Revision ID: 0002
Revises: 0001

The alert cursors start at the store's current audit log and milestone firings, so that upgrading
an existing store does not mail people about what happened before alerts existed.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

DT = sqlmodel.sql.sqltypes.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'campaignversion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('config_hash', S(), nullable=False),
        sa.Column('files', sa.JSON(), nullable=False),
        sa.Column('assets', sa.JSON(), nullable=False),
        sa.Column('loaded_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('campaignversion', schema=None) as b:
        b.create_index(b.f('ix_campaignversion_config_hash'), ['config_hash'], unique=False)
        b.create_index(b.f('ix_campaignversion_loaded_at'), ['loaded_at'], unique=False)

    op.create_table(
        'alertevent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', S(), nullable=False),
        sa.Column('kind', S(), nullable=False),
        sa.Column('type', S(), nullable=False),
        sa.Column('subject', S(), nullable=True),
        sa.Column('unit_id', S(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('at', DT(), nullable=False),
        sa.Column('routed', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    with op.batch_alter_table('alertevent', schema=None) as b:
        b.create_index(b.f('ix_alertevent_kind'), ['kind'], unique=False)
        b.create_index(b.f('ix_alertevent_at'), ['at'], unique=False)
        b.create_index(b.f('ix_alertevent_routed'), ['routed'], unique=False)

    op.create_table(
        'alertmessage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recipient', S(), nullable=False),
        sa.Column('type', S(), nullable=False),
        sa.Column('message_id', S(), nullable=False),
        sa.Column('subject', S(), nullable=False),
        sa.Column('text', S(), nullable=False),
        sa.Column('html', S(), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('state', S(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', DT(), nullable=True),
        sa.Column('lease_owner', S(), nullable=True),
        sa.Column('lease_until', DT(), nullable=True),
        sa.Column('sent_at', DT(), nullable=True),
        sa.Column('error', S(), nullable=True),
        sa.Column('created_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id'),
    )
    with op.batch_alter_table('alertmessage', schema=None) as b:
        b.create_index('ix_alertmessage_due', ['state', 'next_attempt_at'], unique=False)
        b.create_index(b.f('ix_alertmessage_recipient'), ['recipient'], unique=False)
        b.create_index(b.f('ix_alertmessage_created_at'), ['created_at'], unique=False)

    op.create_table(
        'alertitem',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('recipient', S(), nullable=False),
        sa.Column('type', S(), nullable=False),
        sa.Column('message', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id', 'recipient', name='uq_alertitem'),
    )
    with op.batch_alter_table('alertitem', schema=None) as b:
        b.create_index(b.f('ix_alertitem_event_id'), ['event_id'], unique=False)
        b.create_index(b.f('ix_alertitem_recipient'), ['recipient'], unique=False)
        b.create_index(b.f('ix_alertitem_message'), ['message'], unique=False)

    # Alerts start from now: an upgraded store does not report its history.
    op.execute(
        "INSERT INTO meta (key, value) SELECT 'alerts:audit_cursor', CAST(COALESCE(MAX(id), 0) AS VARCHAR(20)) FROM auditlog"
    )
    op.execute(
        "INSERT INTO meta (key, value) SELECT 'alerts:firing_cursor', CAST(COALESCE(MAX(id), 0) AS VARCHAR(20)) "
        "FROM milestonefiring"
    )


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key IN ('alerts:audit_cursor', 'alerts:firing_cursor')")
    for table in ('alertitem', 'alertmessage', 'alertevent', 'campaignversion'):
        op.drop_table(table)
