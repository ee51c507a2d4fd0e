"""indexes that grow with open work, not with history (issue 15)

Revision ID: 0010
Revises: 0009

A planner tick inserts a delivery for every channel at once (1,000 rows). Each insert writes an
entry into every index of ``delivery``; an index keyed by channel puts those 1,000 entries on
1,000 different pages once history is large, so the pages SQLite wrote at each commit — and the
tick's cost — grew with the number of past deliveries (45 ms at 100,000 against 19 ms at 1,000).

* ``ix_delivery_channel_state (channel_id, state)`` becomes ``ix_delivery_channel_open``, the same
  keys over open rows only (``pending``, ``sending``, ``retry``): the worker's questions about a
  channel (its next due row, is anything of it in ``sending``) are all about open rows, and the
  index now holds the queue, not the campaign's history. The queries repeat the index's condition
  word for word (bot.store.models.open_state), which is how SQLite knows a partial index applies.
* ``ix_delivery_unit_id`` is dropped: no query looks deliveries up by unit (the report groups by it
  over a period, which reads the rows anyway).
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OPEN = "state IN ('pending', 'sending', 'retry')"


def upgrade() -> None:
    bind = op.get_bind()
    existing = {ix['name'] for ix in sa.inspect(bind).get_indexes('delivery')}
    for name in ('ix_delivery_channel_state', 'ix_delivery_unit_id'):
        if name in existing:
            op.drop_index(name, table_name='delivery')
    op.create_index('ix_delivery_channel_open', 'delivery', ['channel_id', 'state'], unique=False,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_index('ix_delivery_channel_open', table_name='delivery')
    op.create_index('ix_delivery_unit_id', 'delivery', ['unit_id'], unique=False)
    op.create_index('ix_delivery_channel_state', 'delivery', ['channel_id', 'state'], unique=False)
