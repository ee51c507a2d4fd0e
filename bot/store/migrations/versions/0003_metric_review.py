"""metric readings review and bounds (issue 12)

Revision ID: 0003
Revises: 0002

A reading now has a ``status``: ``ok`` (counts), ``held`` (a suspicious jump waiting for a person:
`campaign-bot metrics confirm`) or ``dropped`` (removed by `campaign-bot metrics drop`; the row is
kept so that importing the same file again does not bring the bad value back). Existing readings
are ``ok``.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

DT = sqlmodel.sql.sqltypes.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('metricreading', schema=None) as b:
        b.add_column(sa.Column('status', S(), nullable=False, server_default='ok'))
        b.add_column(sa.Column('note', S(), nullable=True))
        b.add_column(sa.Column('reviewed_by', S(), nullable=True))
        b.add_column(sa.Column('reviewed_at', DT(), nullable=True))
        b.create_index(b.f('ix_metricreading_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('metricreading', schema=None) as b:
        b.drop_index(b.f('ix_metricreading_status'))
        b.drop_column('reviewed_at')
        b.drop_column('reviewed_by')
        b.drop_column('note')
        b.drop_column('status')
