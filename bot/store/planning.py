"""What the planner reads and writes, at a cost that grows with what is new, not with history.

The planner (bot.plan) asks at each slot: which channels, which approved stories, how many posts
each channel already has today, and which stories each channel has already received. The last
question is the one that grows with history (100,000 deliveries after a few months), so its answer
is kept in memory per store — :class:`Posted`, the (channel → content ids) pairs — and refreshed
with the rows whose id is above the last one seen. Stories are read without their bodies, channels
as plain tuples, and new deliveries go in with one Core ``INSERT … ON CONFLICT DO NOTHING`` of
plain rows.

Why the cache stays right:

* rows planned in a transaction that is rolled back (``preview`` plans inside one) never reach it:
  what a session reads is held aside and merged only when that session commits;
* ids on PostgreSQL may commit out of order, so a row can land below the last id seen: the
  unique constraint on (content, channel) is the truth, the insert skips a pair that exists, and the
  planner re-reads the channels whose insert was skipped (:func:`channel_posted`) and chooses again;
* deleting deliveries (the demo's reset) bumps a counter in ``meta`` (a trigger, migration 0008),
  which drops every cache built before it.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.store.models import Channel, ContentItem, Delivery, Meta

D = Delivery.__table__  # type: ignore[attr-defined]
CH = Channel.__table__  # type: ignore[attr-defined]
CI = ContentItem.__table__  # type: ignore[attr-defined]
M = Meta.__table__  # type: ignore[attr-defined]
FORGOTTEN = "delivery_forgotten"  # meta key bumped by the delete trigger (migration 0008)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An approved story as the planner chooses among them: no body, no banner data."""

    id: str
    unit_id: str
    audience: Any
    platforms: tuple[str, ...]
    priority: int
    approved_at: datetime | None
    not_before: datetime | None
    expires: datetime | None
    content_hash: str | None


@dataclass(slots=True)
class Posted:
    """Which stories each channel has received (as deliveries, in any state), read incrementally."""

    last_id: int = 0
    generation: str | None = None
    by_channel: dict[str, set[str]] = field(default_factory=dict)
    # The planner's memory of where each channel's search may start in an ordered candidate list
    # (bot.plan): {order key: {channel: index}}; valid while posted sets only grow. Only the lists
    # of the newest committed tick are kept.
    cursors: dict[Any, dict[str, int]] = field(default_factory=dict)

    def add(self, rows: Any) -> None:
        for did, content_id, channel_id in rows:
            self.by_channel.setdefault(channel_id, set()).add(content_id)
            if did > self.last_id:
                self.last_id = did


_caches: weakref.WeakKeyDictionary[Engine, Posted] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_PENDING = "bot.plan.posted"  # session.info key: rows this session read, merged on commit


_CURSORS = "bot.plan.cursors"  # session.info key: the cursors this session moved, kept on commit


def _on_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    cursors = session.info.pop(_CURSORS, None)
    if pending is None:
        return
    engine, generation, rows = pending
    with _lock:
        cache = _caches.get(engine)
        if cache is not None and cache.generation == generation:
            cache.add(rows)
            if cursors:
                cache.cursors = cursors


def _on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_CURSORS, None)


def cursors(s: Session, cache: Posted, key: Any) -> dict[str, int]:
    """The planner's cursors for one ordered candidate list, as this session may move them: a copy of
    the committed ones, installed in the cache only when the session commits (a rolled-back preview
    never moves them)."""
    mine: dict[Any, dict[str, int]] = s.info.setdefault(_CURSORS, {})
    if key not in mine:
        with _lock:
            mine[key] = dict(cache.cursors.get(key, {}))
    return mine[key]


def posted(s: Session) -> tuple[Posted, dict[str, set[str]]]:
    """The committed pairs known to this process (shared, read-only for the caller) and the pairs this
    session sees above them (its own new rows included), by channel."""
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    generation = s.execute(select(M.c.value).where(M.c.key == FORGOTTEN)).scalar()
    with _lock:
        cache = _caches.get(engine)
        if cache is None or cache.generation != generation:
            cache = Posted(generation=generation)
            _caches[engine] = cache
        last = cache.last_id
    pending = s.info.get(_PENDING)
    seen: list[tuple[int, str, str]] = list(pending[2]) if pending and pending[1] == generation else []
    start = max([last] + [r[0] for r in seen[-1:]])
    new = s.execute(select(D.c.id, D.c.content_id, D.c.channel_id).where(D.c.id > start).order_by(D.c.id)).all()
    seen.extend((r[0], r[1], r[2]) for r in new)
    if not event.contains(s, "after_commit", _on_commit):
        event.listen(s, "after_commit", _on_commit)
        event.listen(s, "after_rollback", _on_rollback)
    s.info[_PENDING] = (engine, generation, seen)
    extra: dict[str, set[str]] = {}
    for _, content_id, channel_id in seen:
        extra.setdefault(channel_id, set()).add(content_id)
    return cache, extra


def channel_posted(s: Session, channel_ids: list[str]) -> dict[str, set[str]]:
    """The exact stories of a few channels, read from the table (after an insert was skipped)."""
    out: dict[str, set[str]] = {cid: set() for cid in channel_ids}
    for content_id, channel_id in s.execute(select(D.c.content_id, D.c.channel_id)
                                            .where(D.c.channel_id.in_(channel_ids))):
        out[channel_id].add(content_id)
    return out


def active_channels(s: Session, units: list[str], platforms: list[str]) -> list[tuple[str, str, str]]:
    """(id, unit, platform) of the active channels of these units and platforms, as plain tuples."""
    if not units:
        return []
    wanted = set(units)
    rows = s.execute(select(CH.c.id, CH.c.unit_id, CH.c.platform)
                     .where(CH.c.active, CH.c.platform.in_(platforms))).all()
    return [(r[0], r[1], r[2]) for r in rows if r[1] in wanted]


def cap_counts(s: Session, day: str) -> dict[str, int]:
    """Scheduled deliveries per channel on one local day (for the daily cap)."""
    rows = s.execute(select(D.c.channel_id, func.count()).where(D.c.day == day, D.c.schedule_id.is_not(None))
                     .group_by(D.c.channel_id)).all()
    return {r[0]: r[1] for r in rows}


def candidates(s: Session, kinds: list[str]) -> list[Candidate]:
    """Approved, active, not withdrawn stories of these kinds (files only, not generated items)."""
    rows = s.execute(
        select(CI.c.id, CI.c.unit_id, CI.c.audience, CI.c.platforms, CI.c.priority, CI.c.approved_at,
               CI.c.not_before, CI.c.expires, CI.c.content_hash)
        .where(CI.c.active, CI.c.approved, CI.c.kind.in_(kinds), CI.c.source.is_not(None),
               CI.c.withdrawn.is_(None))  # issue 16: a withdrawn item is never planned again
    ).all()
    return [Candidate(r[0], r[1], r[2], tuple(r[3] or ()), r[4] or 0, r[5], r[6], r[7], r[8]) for r in rows]


VARYING = ("content_id", "channel_id", "unit_id", "platform", "priority")
RETURNED = "RETURNING id, content_id, channel_id"


def insert_deliveries(s: Session, shared: dict[str, Any], rows: list[tuple[str, str, str, str, int]]
                      ) -> list[tuple[int, str, str]]:
    """Insert new deliveries — ``rows`` of (content, channel, unit, platform, priority), every other
    column the same for all (``shared``) — in one statement per 1,000 rows; (id, content, channel)
    of those inserted. A pair that already exists is skipped, never duplicated (the unique
    constraint decides).

    Why plain SQL here: a slot plans a delivery for every channel at once (1,000 rows). Through
    SQLAlchemy's parameter processing each row's datetimes were formatted one by one (more than
    half of a tick); here the shared values are converted once by the columns' own types and the
    rows go as plain tuples in one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING``."""
    if not rows:
        return []
    conn = s.connection()
    dialect = conn.dialect
    names = [k for k in shared if k not in VARYING]
    fixed = []
    for k in names:
        processor = D.c[k].type._cached_bind_processor(dialect)
        fixed.append(processor(shared[k]) if processor else shared[k])
    if dialect.name == "postgresql":
        # One statement whatever the number of rows: the varying columns as five arrays (unnest),
        # the shared ones once. A VALUES list of 1,000 rows × 15 parameters took PostgreSQL a second to plan.
        casts = [f"CAST(%s AS {D.c[k].type.compile(dialect=dialect)})" for k in names]
        sql = (f"INSERT INTO delivery ({', '.join((*VARYING, *names))}) "
               f"SELECT u.c, u.ch, u.un, u.pl, u.pr, {', '.join(casts)} FROM unnest(CAST(%s AS varchar[]), "
               "CAST(%s AS varchar[]), CAST(%s AS varchar[]), CAST(%s AS varchar[]), CAST(%s AS integer[])) "
               f"AS u(c, ch, un, pl, pr) ON CONFLICT (content_id, channel_id) DO NOTHING {RETURNED}")
        columns = [list(col) for col in zip(*rows, strict=True)]
        result = conn.exec_driver_sql(sql, (*fixed, *columns))
        return [(r[0], r[1], r[2]) for r in result]
    mark = "?"
    one = "(" + ", ".join([mark] * (len(VARYING) + len(names))) + ")"
    head = f"INSERT INTO delivery ({', '.join((*VARYING, *names))}) VALUES "
    tail = f" ON CONFLICT (content_id, channel_id) DO NOTHING {RETURNED}"
    out: list[tuple[int, str, str]] = []
    for i in range(0, len(rows), 1000):
        chunk = rows[i : i + 1000]
        params: list[Any] = []
        for row in chunk:
            params.extend(row)
            params.extend(fixed)
        result = conn.exec_driver_sql(head + ", ".join([one] * len(chunk)) + tail, tuple(params))
        out.extend((r[0], r[1], r[2]) for r in result)
    return out
