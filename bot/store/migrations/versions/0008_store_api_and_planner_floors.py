"""store API and planner floors: per-channel cursors, leaner indexes (issues 14, 15)

Revision ID: 0008
Revises: 0007

* Indexes that a unique constraint (or a wider index) already covers are dropped: each one cost
  a write on every insert for nothing a query needed.

  - ``ix_delivery_content_id``: ``uq_delivery (content_id, channel_id)`` leads with it;
  - ``ix_delivery_channel_id``: ``ix_delivery_channel_state (channel_id, state)`` leads with it;
  - ``ix_postaction_delivery_id``: ``uq_postaction (delivery_id, action, version)``;
  - ``ix_contentversion_content_id``: ``uq_content_version (content_id, version)``;
  - ``ix_alertitem_event_id``: ``uq_alertitem (event_id, recipient)``;
  - ``ix_digestweek_unit_id``: ``uq_digestweek (unit_id, week)``.

* The planner keeps the (channel, story) pairs already planned in memory and reads only rows with
  a larger id (bot.store.planning). Deleting deliveries (the demo's reset) must drop that memory in
  every process: a trigger bumps ``meta['delivery_forgotten']`` on every delete, and a planner
  whose memory was built under another value starts again.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COVERED = [
    ('delivery', 'ix_delivery_content_id', ['content_id']),
    ('delivery', 'ix_delivery_channel_id', ['channel_id']),
    ('postaction', 'ix_postaction_delivery_id', ['delivery_id']),
    ('contentversion', 'ix_contentversion_content_id', ['content_id']),
    ('alertitem', 'ix_alertitem_event_id', ['event_id']),
    ('digestweek', 'ix_digestweek_unit_id', ['unit_id']),
]


def upgrade() -> None:
    bind = op.get_bind()
    existing = {(t, ix['name']) for t in {c[0] for c in COVERED} for ix in sa.inspect(bind).get_indexes(t)}
    for table, name, _ in COVERED:
        if (table, name) in existing:
            op.drop_index(name, table_name=table)
    op.execute(sa.text("INSERT INTO meta (key, value) VALUES ('delivery_forgotten', '0')"))
    if bind.dialect.name == 'postgresql':
        op.execute(sa.text(
            "CREATE FUNCTION delivery_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'delivery_forgotten'; RETURN NULL; END $$"))
        op.execute(sa.text("CREATE TRIGGER delivery_forgotten AFTER DELETE ON delivery "
                           "FOR EACH STATEMENT EXECUTE FUNCTION delivery_forgotten()"))
    else:
        op.execute(sa.text(
            "CREATE TRIGGER delivery_forgotten AFTER DELETE ON delivery BEGIN "
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'delivery_forgotten'; END"))


def downgrade() -> None:
    op.execute(sa.text("DROP TRIGGER IF EXISTS delivery_forgotten" +
                       (" ON delivery" if op.get_bind().dialect.name == 'postgresql' else "")))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text("DROP FUNCTION IF EXISTS delivery_forgotten()"))
    op.execute(sa.text("DELETE FROM meta WHERE key = 'delivery_forgotten'"))
    for table, name, columns in COVERED:
        op.create_index(name, table, columns, unique=False)
