"""Engagement read back from the platforms: which posts are due a reading, and the readings.

Why a GROUP BY for the last reading: the worker asks every few hours which recent posts to read;
that question must cost what the window holds (posts of the last two weeks), not the whole history
of readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bot.store.db import Store
from bot.store.models import Delivery, DeliveryState, Engagement

D = Delivery.__table__  # type: ignore[attr-defined]
E = Engagement.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Posted:
    delivery_id: int
    post_id: str


def due_for_reading(store: Store, now: datetime, *, window: timedelta, every: timedelta) -> dict[str, list[Posted]]:
    """Live posts sent within ``window``, by channel, whose last reading (or, before the first, whose
    sending) is older than ``every``; outbox posts are never read."""
    last = (
        select(E.c.delivery_id, func.max(E.c.read_at).label("last"))
        .group_by(E.c.delivery_id)
        .subquery()
    )
    query = (
        select(D.c.id, D.c.channel_id, D.c.platform_post_id, D.c.sent_at, last.c.last)
        .select_from(D.outerjoin(last, last.c.delivery_id == D.c.id))
        .where(D.c.state == DeliveryState.SENT, D.c.sent_at >= now - window, D.c.platform_post_id.is_not(None),
               D.c.removed_at.is_(None))  # a removed post has nothing left to read
        .order_by(D.c.id)
    )
    out: dict[str, list[Posted]] = {}
    with store.engine.connect() as conn:
        for did, cid, post_id, sent_at, last_read in conn.execute(query):
            if post_id.startswith("outbox:"):
                continue
            since = last_read or sent_at
            if since is not None and since > now - every:
                continue
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
