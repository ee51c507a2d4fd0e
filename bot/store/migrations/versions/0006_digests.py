"""weekly digests and nudges (issue 17)

Revision ID: 0006
Revises: 0005

* ``digestrecord``: which units each weekly digest (an ``alertmessage`` of type ``digest``) was about;
* ``digestweek``: each unit's standing at each weekly digest, for the escalation after K weeks.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DT = sqlmodel.sql.sqltypes.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'digestrecord',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('week', S(), nullable=False),
        sa.Column('recipient', S(), nullable=False),
        sa.Column('unit_id', S(), nullable=False),
        sa.Column('message_id', S(), nullable=False),
        sa.Column('created_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('week', 'recipient', 'unit_id', name='uq_digestrecord'),
    )
    with op.batch_alter_table('digestrecord', schema=None) as b:
        b.create_index(b.f('ix_digestrecord_unit_id'), ['unit_id'], unique=False)
        b.create_index(b.f('ix_digestrecord_message_id'), ['message_id'], unique=False)
    op.create_table(
        'digestweek',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('unit_id', S(), nullable=False),
        sa.Column('week', S(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('percent', sa.Float(), nullable=True),
        sa.Column('expected', sa.Float(), nullable=True),
        sa.Column('behind', sa.Boolean(), nullable=False),
        sa.Column('quiet', sa.Boolean(), nullable=False),
        sa.Column('streak', sa.Integer(), nullable=False),
        sa.Column('at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('unit_id', 'week', name='uq_digestweek'),
    )
    with op.batch_alter_table('digestweek', schema=None) as b:
        b.create_index(b.f('ix_digestweek_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    op.drop_table('digestweek')
    op.drop_table('digestrecord')
