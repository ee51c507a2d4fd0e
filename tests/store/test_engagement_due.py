"""Which posts are due an engagement reading, on SQLite and PostgreSQL: the store answers it in SQL
(issue 15), so the rules live there — recent live posts only, none read within ``every``, never an
outbox post or a removed one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import update

from bot.store import Delivery, Store, engagement, utcnow
from tests.worker_fleet import make_workspace, page_ids, seed

EVERY, WINDOW = timedelta(hours=6), timedelta(days=14)


def _due(store: Store, now) -> list[int]:
    found = engagement.due_for_reading(store, now, window=WINDOW, every=EVERY)
    return sorted(p.delivery_id for posts in found.values() for p in posts)


def test_a_post_is_due_again_only_when_its_last_reading_is_older_than_every(any_store: Store, tmp_path: Path) -> None:
    pages = page_ids(2)
    ids = sorted(seed(any_store, make_workspace(tmp_path, pages), pages, 3).ids)
    now = utcnow()
    with any_store.session() as s:
        s.execute(update(Delivery).values(state="sent", sent_at=now - timedelta(hours=7), platform_post_id="1_2"))
        s.execute(update(Delivery).where(Delivery.id == ids[1]).values(platform_post_id="outbox:42"))
        s.execute(update(Delivery).where(Delivery.id == ids[2]).values(removed_at=now))
        s.execute(update(Delivery).where(Delivery.id == ids[3]).values(sent_at=now - timedelta(hours=2)))  # too fresh
        s.execute(update(Delivery).where(Delivery.id == ids[4]).values(sent_at=now - WINDOW - timedelta(hours=1)))
    assert _due(any_store, now) == [ids[0], ids[5]]
    reading = SimpleNamespace(reactions=3, comments=1, shares=0, views=None, extra={})
    engagement.record(any_store, now - timedelta(hours=1), [(ids[0], reading)])
    engagement.record(any_store, now - timedelta(hours=9), [(ids[5], reading)])  # an older reading: due again
    assert _due(any_store, now) == [ids[5]]
    assert _due(any_store, now + timedelta(hours=5, minutes=30)) == [ids[0], ids[3], ids[5]]
