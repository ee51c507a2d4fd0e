"""indexes that grow with open work, not with history (issue 15)

Revision ID: 0010
Revises: 0009

A planner tick inserts a delivery for every channel at once (1,000 rows). Each insert writes an
entry into every index of ``delivery``; an index keyed by channel puts those 1,000 entries on
1,000 different pages once history is large, so the pages SQLite wrote at each commit — and the
tick's cost — grew with the number of past deliveries (45 ms at 100,000 against 19 ms at 1,000).

* ``ix_delivery_channel_state (channel_id, state)`` becomes ``ix_delivery_channel_open``, the
  same keys over open rows only (``pending``, ``sending``, ``retry``), and ``ix_delivery_due
  (state, due_at)`` becomes ``ix_delivery_open_lease (state, lease_until)`` over open rows. The
  worker's questions (a channel's next due row, is anything of it in ``sending``, what a dead
  process left in ``sending``) are all about open rows, so the indexes now hold the queue, not the campaign's history — and a delivery that
  is sent leaves them instead of writing new entries into them (on PostgreSQL every finish wrote
  one per index). The queries repeat the indexes' condition word for word
  (bot.store.models.open_state), which is how SQLite knows a partial index applies.
* Why ``lease_until`` and not ``due_at`` beside the state: with ``(state, due_at)`` SQLite answered
  "this channel's next due row" by walking every due row of every channel (its planner preferred
  the due-time range to the channel index), so leasing a batch of channels cost 150–240 ms with
  1,000 channels due. Keyed by lease, the index serves what it is for — the rows a dead or
  settling worker left in ``sending`` past their lease — and per-channel questions go to the
  channel index.
* ``ix_delivery_sent_at (sent_at) WHERE state = 'sent'`` is new: every tick asks which posts of the
  last two weeks are due an engagement reading, and that read the whole history (14 ms at 100,000
  deliveries against 0.8 at 1,000). A post enters it once, when sent, at its right-hand end.
* ``ix_delivery_unit_id`` is dropped: the report and the dashboard group by unit over a period,
  which reads the rows anyway, and the weekly digest now reads the week's posts once for every
  unit and checks a unit's stories by (story, channel) pairs through ``uq_delivery``.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OPEN = "state IN ('pending', 'sending', 'retry')"
SENT = "state = 'sent'"


def upgrade() -> None:
    bind = op.get_bind()
    existing = {ix['name'] for ix in sa.inspect(bind).get_indexes('delivery')}
    for name in ('ix_delivery_channel_state', 'ix_delivery_due', 'ix_delivery_unit_id'):
        if name in existing:
            op.drop_index(name, table_name='delivery')
    op.create_index('ix_delivery_channel_open', 'delivery', ['channel_id', 'state'], unique=False,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_delivery_open_lease', 'delivery', ['state', 'lease_until'], unique=False,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_delivery_sent_at', 'delivery', ['sent_at'], unique=False,
                    sqlite_where=sa.text(SENT), postgresql_where=sa.text(SENT))


def downgrade() -> None:
    op.drop_index('ix_delivery_sent_at', table_name='delivery')
    op.drop_index('ix_delivery_open_lease', table_name='delivery')
    op.drop_index('ix_delivery_channel_open', table_name='delivery')
    op.create_index('ix_delivery_due', 'delivery', ['state', 'due_at'], unique=False)
    op.create_index('ix_delivery_unit_id', 'delivery', ['unit_id'], unique=False)
    op.create_index('ix_delivery_channel_state', 'delivery', ['channel_id', 'state'], unique=False)
