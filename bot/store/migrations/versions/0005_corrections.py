"""corrections and withdrawal of published posts (issue 16)

Revision ID: 0005
Revises: 0004

* ``contentitem.version`` (the newest version of what its posts show), ``withdrawn`` (the reason)
  and ``withdrawn_at``;
* ``delivery.post_version`` (the version the live post shows) and ``removed_at``;
* ``contentversion``: every version's hashes (file, text, image);
* ``postaction``: edits, reposts and removals, a work queue with the same lease columns as
  ``delivery``.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

DT = sqlmodel.sql.sqltypes.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('contentitem', schema=None) as b:
        b.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        b.add_column(sa.Column('withdrawn', S(), nullable=True))
        b.add_column(sa.Column('withdrawn_at', DT(), nullable=True))
    with op.batch_alter_table('delivery', schema=None) as b:
        b.add_column(sa.Column('post_version', sa.Integer(), nullable=True))
        b.add_column(sa.Column('removed_at', DT(), nullable=True))

    op.create_table(
        'contentversion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('content_id', S(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('content_hash', S(), nullable=True),
        sa.Column('text_hash', S(), nullable=False),
        sa.Column('image_hash', S(), nullable=False),
        sa.Column('changed', sa.JSON(), nullable=False),
        sa.Column('at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('content_id', 'version', name='uq_content_version'),
    )
    with op.batch_alter_table('contentversion', schema=None) as b:
        b.create_index(b.f('ix_contentversion_content_id'), ['content_id'], unique=False)

    op.create_table(
        'postaction',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('content_id', S(), nullable=False),
        sa.Column('channel_id', S(), nullable=False),
        sa.Column('unit_id', S(), nullable=False),
        sa.Column('platform', S(), nullable=False),
        sa.Column('action', S(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('target_post_id', S(), nullable=False),
        sa.Column('new_post_id', S(), nullable=True),
        sa.Column('why', S(), nullable=True),
        sa.Column('actor', S(), nullable=False),
        sa.Column('due_at', DT(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('state', S(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', DT(), nullable=True),
        sa.Column('needs_check', sa.Boolean(), nullable=False),
        sa.Column('lease_owner', S(), nullable=True),
        sa.Column('lease_until', DT(), nullable=True),
        sa.Column('sending_since', DT(), nullable=True),
        sa.Column('first_sent_attempt_at', DT(), nullable=True),
        sa.Column('reason', S(), nullable=True),
        sa.Column('done_at', DT(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.Column('created_at', DT(), nullable=False),
        sa.Column('updated_at', DT(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('delivery_id', 'action', 'version', name='uq_postaction'),
    )
    with op.batch_alter_table('postaction', schema=None) as b:
        b.create_index(b.f('ix_postaction_delivery_id'), ['delivery_id'], unique=False)
        b.create_index(b.f('ix_postaction_content_id'), ['content_id'], unique=False)
        b.create_index('ix_postaction_due', ['state', 'due_at'], unique=False)
        b.create_index('ix_postaction_channel_state', ['channel_id', 'state'], unique=False)


def downgrade() -> None:
    op.drop_table('postaction')
    op.drop_table('contentversion')
    with op.batch_alter_table('delivery', schema=None) as b:
        b.drop_column('removed_at')
        b.drop_column('post_version')
    with op.batch_alter_table('contentitem', schema=None) as b:
        b.drop_column('withdrawn_at')
        b.drop_column('withdrawn')
        b.drop_column('version')
