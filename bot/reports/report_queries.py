"""The report's questions to the store, answered in SQL (issue 15): counts and sums with GROUP BY
and date filters, and the long lists (posts not sent, engagement per post) streamed row by row into
the CSV and XLSX files, so that the report's memory does not grow with the campaign's history.

Every function takes an open session and returns plain tuples or dictionaries; nothing here knows
how the report looks. Times are compared in UTC (SQLite keeps naive UTC, PostgreSQL aware values).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from bot.metrics import counting
from bot.store.models import ChannelState, ContentItem, Delivery, DeliveryState, Engagement, MetricReading, open_state

STREAM_CHUNK = 1000  # rows fetched at a time by the streamed lists
ENGAGEMENT_FIELDS = ("reactions", "comments", "shares", "views")
ISSUE_STATES = (DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.RETRY)


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_period(start: datetime, end: datetime) -> Any:
    return and_(col(Delivery.due_at) >= start, col(Delivery.due_at) < end)


def _held() -> Any:
    """The delivery is open on a channel that a person must release (its posts wait)."""
    return and_(open_state(Delivery.__table__), ChannelState.status == "held")  # type: ignore[attr-defined]


LEAN_PRAGMAS = {"cache_size": -2048, "mmap_size": 0}


def lean_pragmas(conn: Any) -> dict[str, Any]:
    """A 2 MiB SQLite page cache and no memory map on ``conn``; returns what to put back."""
    if conn.dialect.name != "sqlite":
        return {}
    saved = {k: conn.exec_driver_sql(f"PRAGMA {k}").scalar() for k in LEAN_PRAGMAS}
    for k, v in LEAN_PRAGMAS.items():
        conn.exec_driver_sql(f"PRAGMA {k}={int(v)}")
    return saved


def restore_pragmas(conn: Any, saved: dict[str, Any]) -> None:
    for k, v in saved.items():
        conn.exec_driver_sql(f"PRAGMA {k}={int(v or 0)}")


@contextmanager
def lean_session(engine: Any, **options: Any) -> Iterator[Session]:
    """A session for one pass over the history (the report) on a connection of its own.

    Such a pass gains nothing from the store's large SQLite page cache and memory map (bot.store.db sets
    them for the planner's repeated reads): on this connection they are 2 MiB and none while the session
    reads, so its memory does not grow with the file, and put back before the connection returns to the
    pool. The session owns its transaction. (Not for the preview: the planner it runs keeps a cache per
    engine and wants a session bound to the engine.) PostgreSQL keeps its pages in the server: nothing to change there."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            mmap = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
            conn.exec_driver_sql("PRAGMA cache_size=-2048")
            conn.exec_driver_sql("PRAGMA mmap_size=0")
        conn.commit()  # no transaction left open: the session begins (and ends) its own
        try:
            with Session(bind=conn, **options) as s:
                yield s
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache or -2000)}")
                conn.exec_driver_sql(f"PRAGMA mmap_size={int(mmap or 0)}")
                conn.commit()


def _stream(s: Session, query: Any) -> Iterator[Any]:
    """Rows a chunk at a time (a server-side cursor on PostgreSQL), never the whole list in memory."""
    yield from s.execute(query.execution_options(yield_per=STREAM_CHUNK))


def latest_activity(s: Session) -> datetime | None:
    """The latest post sent or due (the demo plays days ahead: the report then runs to that day)."""
    return utc(s.execute(sa_select(func.max(func.coalesce(Delivery.sent_at, Delivery.due_at)))).scalar())


def latest_firing(s: Session) -> datetime | None:
    from bot.store.models import MilestoneFiring

    return utc(s.execute(sa_select(func.max(MilestoneFiring.fired_at))).scalar())


def readings(s: Session, metric: str, now: datetime) -> list[tuple[str, datetime, float]]:
    """The readings that count (bot.metrics.counting), as (unit, time, value): the metric's history,
    one row per unit and import, which grows with the weeks, not with the posts."""
    query = counting(sa_select(MetricReading.unit_id, MetricReading.at, MetricReading.value), metric, now)
    return [(uid, utc(at), float(v)) for uid, at, v in s.execute(query)]  # type: ignore[misc]


def state_counts(s: Session, start: datetime, end: datetime) -> list[tuple[str, str, str, int]]:
    """(channel, unit, report state, count) for the posts due in [start, end); report states are
    sent, waiting, held (open on a held channel), failed and skipped."""
    held = case((_held(), "held"), else_=Delivery.state)
    query = (sa_select(Delivery.channel_id, Delivery.unit_id, held, func.count())
             .outerjoin(ChannelState, ChannelState.channel_id == Delivery.channel_id)
             .where(_in_period(start, end))
             .group_by(Delivery.channel_id, Delivery.unit_id, held))
    out = []
    for channel_id, unit_id, state, n in s.execute(query):
        if state in DeliveryState.OPEN:
            state = "waiting"
        elif state not in ("held", DeliveryState.SENT, DeliveryState.FAILED):
            state = "skipped"
        out.append((channel_id, unit_id, state, int(n)))
    return out


def last_sent(s: Session, ref: datetime) -> dict[str, datetime]:
    """Each unit's latest post sent up to ``ref``."""
    query = (sa_select(Delivery.unit_id, func.max(Delivery.sent_at))
             .where(Delivery.state == DeliveryState.SENT, col(Delivery.sent_at) <= ref)
             .group_by(Delivery.unit_id))
    return {uid: utc(at) for uid, at in s.execute(query) if at is not None}  # type: ignore[misc]


def open_per_channel(s: Session) -> Counter[str]:
    """Posts waiting per held channel (what a release would let go)."""
    query = (sa_select(Delivery.channel_id, func.count())
             .join(ChannelState, ChannelState.channel_id == Delivery.channel_id)
             .where(_held())
             .group_by(Delivery.channel_id))
    return Counter({cid: int(n) for cid, n in s.execute(query)})


# --- posts not sent ------------------------------------------------------------------------------


def _issue_filter(start: datetime, end: datetime) -> Any:
    return and_(_in_period(start, end), or_(col(Delivery.state).in_(ISSUE_STATES), _held()))


def issue_count(s: Session, start: datetime, end: datetime) -> int:
    query = (sa_select(func.count()).select_from(Delivery)
             .outerjoin(ChannelState, ChannelState.channel_id == Delivery.channel_id)
             .where(_issue_filter(start, end)))
    return int(s.execute(query).scalar() or 0)


def issues(s: Session, start: datetime, end: datetime, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Posts failed, skipped, waiting for a retry or for a held channel in [start, end), failed first,
    then held, retry and skipped; with the reason the staff can act on (the channel's for a hold)."""
    held = _held()
    rank = case((Delivery.state == DeliveryState.FAILED, 0), (held, 1), (Delivery.state == DeliveryState.RETRY, 2),
                else_=3)
    query = (sa_select(Delivery.unit_id, Delivery.platform, Delivery.content_id, ContentItem.title,
                       case((held, "held"), else_=Delivery.state), Delivery.reason, ChannelState.reason,
                       Delivery.updated_at, Delivery.due_at)
             .outerjoin(ChannelState, ChannelState.channel_id == Delivery.channel_id)
             .outerjoin(ContentItem, ContentItem.id == Delivery.content_id)
             .where(_issue_filter(start, end))
             .order_by(rank, Delivery.unit_id, Delivery.due_at, Delivery.id))
    if limit is not None:
        query = query.limit(limit)
    for unit_id, platform, content_id, title, state, reason, held_reason, updated, due in _stream(s, query):
        yield {"unit_id": unit_id, "platform": platform, "content_id": content_id, "title": title or content_id,
               "state": state, "reason": (held_reason or reason or "") if state == "held" else (reason or ""),
               "when": utc(updated), "due_at": utc(due)}


# --- engagement ----------------------------------------------------------------------------------


def _with_latest_engagement(query: Any, start: datetime, end: datetime) -> Any:
    """``query`` over the latest reading of each post sent in [start, end) (by read time, then id),
    joined to its post: one window function in the store instead of every reading in memory."""
    ranked = sa_select(
        Engagement.id,
        func.row_number().over(partition_by=Engagement.delivery_id,
                               order_by=(col(Engagement.read_at).desc(), col(Engagement.id).desc())).label("rn"),
    ).subquery()
    return (query.select_from(ranked)
            .join(Engagement, and_(Engagement.id == ranked.c.id, ranked.c.rn == 1))
            .join(Delivery, Delivery.id == Engagement.delivery_id)
            .where(Delivery.state == DeliveryState.SENT, _in_period(start, end)))


def engagement_by_unit(s: Session, start: datetime, end: datetime) -> dict[str, Counter[str]]:
    """Each unit's engagement: the sums of its posts' latest readings."""
    sums = [func.sum(func.coalesce(getattr(Engagement, k), 0)) for k in ENGAGEMENT_FIELDS]
    query = _with_latest_engagement(sa_select(Delivery.unit_id, func.count(), *sums), start, end)
    query = query.group_by(Delivery.unit_id)
    out: dict[str, Counter[str]] = {}
    for unit_id, n, *values in s.execute(query):
        out[unit_id] = Counter({k: int(v or 0) for k, v in zip(ENGAGEMENT_FIELDS, values, strict=True)})
        out[unit_id]["posts"] = int(n)
    return out


def engagement_rows(s: Session, start: datetime, end: datetime, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every post's latest reading, most engagement first (reactions + comments + shares, then views)."""
    total = (func.coalesce(Engagement.reactions, 0) + func.coalesce(Engagement.comments, 0)
             + func.coalesce(Engagement.shares, 0))
    query = _with_latest_engagement(
        sa_select(Delivery.unit_id, Delivery.platform, ContentItem.title, Delivery.content_id, Delivery.sent_at,
                  Delivery.platform_post_id, Engagement.read_at, *(getattr(Engagement, k) for k in ENGAGEMENT_FIELDS)),
        start, end)
    query = (query.outerjoin(ContentItem, ContentItem.id == Delivery.content_id)
             .order_by(total.desc(), func.coalesce(Engagement.views, 0).desc(), Delivery.unit_id, Delivery.id))
    if limit is not None:
        query = query.limit(limit)
    for unit_id, platform, title, content_id, sent_at, post_id, read_at, *values in _stream(s, query):
        yield {"unit_id": unit_id, "platform": platform, "title": title or content_id, "content_id": content_id,
               "sent_at": utc(sent_at), "post_id": post_id, "read_at": utc(read_at),
               "values": dict(zip(ENGAGEMENT_FIELDS, values, strict=True))}


# --- milestones ----------------------------------------------------------------------------------


def delivered(s: Session, content_ids: list[str]) -> dict[str, Counter[str]]:
    """Posts per state of each announcement (a few hundred milestones at most), 500 ids a query."""
    out: dict[str, Counter[str]] = {}
    for i in range(0, len(content_ids), 500):
        query = (sa_select(Delivery.content_id, Delivery.state, func.count())
                 .where(col(Delivery.content_id).in_(content_ids[i : i + 500]))
                 .group_by(Delivery.content_id, Delivery.state))
        for cid, state, n in s.execute(query):
            out.setdefault(cid, Counter())[state] = int(n)
    return out


def titles(s: Session, content_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(content_ids), 500):
        query = sa_select(ContentItem.id, ContentItem.title).where(col(ContentItem.id).in_(content_ids[i : i + 500]))
        out.update({cid: title for cid, title in s.execute(query)})
    return out
