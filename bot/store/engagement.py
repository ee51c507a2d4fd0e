"""Engagement read back from the platforms: which posts are due a reading, and the readings.

The question is asked at every tick, so it must cost what the window holds (posts of the last two
weeks), not the whole history of posts and readings (issue 15): the posts come from the partial index
of sent posts by time (``ix_delivery_sent_at``, migration 0010; the query repeats its condition
``state = 'sent'`` word for word, as SQLite needs), and each post's last reading is looked up through
the readings' index by delivery, instead of grouping every reading ever made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bot.store.db import Store
from bot.store.models import Delivery, Engagement, sent_state

D = Delivery.__table__  # type: ignore[attr-defined]
E = Engagement.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Posted:
    delivery_id: int
    post_id: str


def due_for_reading(store: Store, now: datetime, *, window: timedelta, every: timedelta) -> dict[str, list[Posted]]:
    """Live posts sent within ``window``, by channel, whose last reading (or, before the first, whose
    sending) is older than ``every``; outbox posts are never read."""
    last = select(func.max(E.c.read_at)).where(E.c.delivery_id == D.c.id).scalar_subquery()
    query = (
        select(D.c.id, D.c.channel_id, D.c.platform_post_id)
        .where(sent_state(D), D.c.sent_at >= now - window, D.c.platform_post_id.is_not(None),
               D.c.removed_at.is_(None),  # a removed post has nothing left to read
               D.c.platform_post_id.not_like("outbox:%"),
               # read recently: most of the window, filtered here rather than built into rows first
               func.coalesce(last, D.c.sent_at) <= now - every)
        .order_by(D.c.sent_at)  # the index's order: ordered by id, SQLite preferred reading every post
    )
    out: dict[str, list[Posted]] = {}
    with store.engine.connect() as conn:
        rows = sorted(conn.execute(query).all())  # by id, as the readings are asked for
        for did, cid, post_id in rows:
            out.setdefault(cid, []).append(Posted(did, post_id))
    return out


def record(store: Store, read_at: datetime, readings: list[tuple[int, Any]]) -> int:
    """Store readings (delivery id, reading with reactions/comments/shares/views/extra); how many."""
    rows = [{"delivery_id": did, "read_at": read_at, "reactions": r.reactions, "comments": r.comments,
             "shares": r.shares, "views": r.views, "extra": r.extra} for did, r in readings]
    if rows:
        with store.engine.begin() as conn:
            conn.execute(insert(E), rows)
    return len(rows)
