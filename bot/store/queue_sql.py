"""The work queue's SQL: its conditions and statements, each built once (bot.store.deliveries runs them).

Apart from the functions that run them so that each reads as a sentence about one state change:
the statements carry the queue's rules (a channel is leased to one worker; nothing of it may be in
``sending`` when the next post is claimed; every write after a claim is fenced by the lease), and
they are written for PostgreSQL's planner and psycopg's parse cache as much as for SQLite's
partial indexes — which is what the comments here are about.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from bot.store.models import AuditLog, ChannelState, ContentItem, Delivery, DeliveryState, PostAction, open_state
from bot.store.models import Channel as ChannelModel

D = Delivery.__table__  # type: ignore[attr-defined]
A = PostAction.__table__  # type: ignore[attr-defined]
CS = ChannelState.__table__  # type: ignore[attr-defined]
CH = ChannelModel.__table__  # type: ignore[attr-defined]
CI = ContentItem.__table__  # type: ignore[attr-defined]
AL = AuditLog.__table__  # type: ignore[attr-defined]
DT = D.c.due_at.type
TEXT = D.c.state.type

SENDING = DeliveryState.SENDING
DUE_STATES = (DeliveryState.PENDING, DeliveryState.RETRY)
# Constants written into the statements rather than bound: fewer parameters, shorter text.
_SENDING, _ACTIVE = literal_column(f"'{SENDING}'"), literal_column("'active'")


class _Moment(UTCDateTime):
    """A time parameter: converted like the columns on SQLite; on PostgreSQL written without a cast
    (psycopg sends it as ``timestamptz``). The cast, written at each of the ten places a statement
    uses "now", made the chained statement too long for psycopg to keep its parsed form."""

    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return NullType() if dialect.name == "postgresql" else super().load_dialect_impl(dialect)


class _Word(AutoString):
    """A text parameter, without a cast on PostgreSQL (see :class:`_Moment`)."""

    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return NullType() if dialect.name == "postgresql" else super().load_dialect_impl(dialect)


_PARAM_TYPES = {id(DT): _Moment(), id(TEXT): _Word()}


def _p(name: str, type_: Any = None) -> Any:
    """A bound parameter; every name starts with ``p_`` so none collides with a column of an UPDATE."""
    return bindparam(f"p_{name}", type_=_PARAM_TYPES.get(id(type_), type_))


# --- conditions --------------------------------------------------------------------------------


def _on_deliveries(t: Any) -> bool:
    """Whether ``t`` is the delivery table or an alias of it."""
    return t is D or getattr(t, "element", None) is D


def _is_due_state(t: Any) -> ColumnElement[bool]:
    """``pending`` or ``retry``, written into the SQL (a list parameter would be expanded at every call);
    on deliveries with the open-rows condition that lets SQLite use ix_delivery_channel_next."""
    due = or_(*(t.c.state == literal_column(f"'{state}'") for state in DUE_STATES))
    return and_(due, open_state(t)) if _on_deliveries(t) else due


def in_sending(t: Any) -> ColumnElement[bool]:
    """In ``sending`` (with the open-rows condition on deliveries, see :func:`_is_due_state`)."""
    return and_(t.c.state == _SENDING, open_state(t)) if _on_deliveries(t) else t.c.state == _SENDING


def _due(t: Any) -> ColumnElement[bool]:
    now = _p("now", DT)
    return and_(_is_due_state(t), t.c.due_at <= now,
                or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now))


def _first_due(pick: Any, channel: Any) -> Any:
    """The id of ``channel``'s next due row in claim order — the highest priority, then the earliest
    due, then the oldest, the order of ``ix_delivery_channel_next`` — locked, skipping a row that
    another claimer holds (``pick``: an alias of the table)."""
    return (
        select(pick.c.id)
        .where(pick.c.channel_id == channel, _due(pick))
        .order_by(pick.c.priority.desc(), pick.c.due_at, pick.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=pick)
    )


def _actions_due(channel: Any, name: str = "a_due") -> Any:
    """``channel``'s due edits and removals (they go before its next delivery)."""
    a = A.alias(name)
    return select(a.c.id).where(a.c.channel_id == channel, _due(a))


def _channel_free(cs: Any) -> ColumnElement[bool]:
    """A channel the owner ``p_me`` may lease now: active, not paused, its lease free, expired or its
    own, and nothing of it in ``sending`` (a call may still be in flight, or settling)."""
    now = _p("now", DT)
    d2, a2 = D.alias("d_busy"), A.alias("a_busy")
    return and_(
        cs.c.status == _ACTIVE,
        or_(cs.c.paused_until.is_(None), cs.c.paused_until <= now),
        or_(cs.c.lease_owner.is_(None), cs.c.lease_until.is_(None), cs.c.lease_until < now,
            cs.c.lease_owner == _p("me", TEXT)),
        ~exists(select(d2.c.id).where(d2.c.channel_id == cs.c.channel_id, in_sending(d2))),
        ~exists().where(a2.c.channel_id == cs.c.channel_id, in_sending(a2)),
    )


def _held_and_idle(chained: bool = False) -> ColumnElement[bool]:
    """The owner holds channel ``p_cid``, which is active and not paused, its platform (``p_app``) is not
    paused, and nothing of the channel is in ``sending`` — ``chained``: nothing but delivery ``p_id``,
    which the same statement finishes (its sub-statements all see the rows as they were before it)."""
    now, cid = _p("now", DT), _p("cid", TEXT)
    cs, app = CS.alias("cs_own"), CS.alias("cs_app")
    d2, a2 = D.alias("d_busy"), A.alias("a_busy")
    busy = [d2.c.channel_id == cid, in_sending(d2)] + ([d2.c.id != _p("id")] if chained else [])
    return and_(
        exists().where(cs.c.channel_id == cid, cs.c.lease_owner == _p("me", TEXT), cs.c.status == _ACTIVE,
                       or_(cs.c.paused_until.is_(None), cs.c.paused_until <= now)),
        ~exists(select(d2.c.id).where(*busy)),
        ~exists().where(a2.c.channel_id == cid, in_sending(a2)),
        ~exists().where(app.c.channel_id == _p("app", TEXT), app.c.paused_until > now),
    )


def _sending_values(t: Any) -> dict[str, Any]:
    return {
        "state": _SENDING,
        "attempts": t.c.attempts + 1,
        "lease_owner": _p("me", TEXT),
        "lease_until": _p("until", DT),
        "sending_since": _p("now", DT),
        # real time, not the (maybe simulated) clock: the platform compares it with its own
        "first_sent_attempt_at": func.coalesce(t.c.first_sent_attempt_at, _p("wall", DT)),
        "updated_at": _p("now", DT),
    }


# --- statements, built once ---------------------------------------------------------------------


@cache
def claim_batch_stmt(actions_only: bool, outbox: bool) -> Any:
    """Lease up to ``p_limit`` channels with due work, edits and removals first, then the highest
    priority, then the channel that waited longest (a released lease keeps its release time).

    Only channels whose lease ended before ``p_since`` (or never had one), and none this worker holds:
    a pass serves each channel once, and a channel released since the pass began was served in it.
    Why a time and not a list of channels to leave out: the statement's text stays the same at every
    call, so PostgreSQL plans it once (a list of 1,000 channels also cost a comparison per channel
    and per item)."""
    cs = CS.alias("cs")
    now = _p("now", DT)
    has_action = exists().where(A.c.channel_id == cs.c.channel_id, _due(A))
    has_due = has_action if actions_only else or_(exists().where(D.c.channel_id == cs.c.channel_id, _due(D)),
                                                  has_action)
    top_priority = select(func.max(D.c.priority)).where(D.c.channel_id == cs.c.channel_id, _due(D)).scalar_subquery()
    lease_until = cs.c.lease_until
    conditions = [
        _channel_free(cs), has_due,
        # not served in this pass: released before it began (or, the clock set back, "after" now)
        or_(lease_until.is_(None), lease_until < _p("since", DT), lease_until > now),
        # nor held by this worker now (it is serving it, or has it waiting for a free thread)
        or_(cs.c.lease_owner.is_(None), cs.c.lease_owner != _p("me", TEXT), lease_until.is_(None), lease_until <= now),
    ]
    if not outbox:
        app = CS.alias("cs_app")
        conditions.append(~exists().where(app.c.channel_id == literal("app:", TEXT) + CH.c.platform,
                                          app.c.paused_until > now))
    pick = (
        select(cs.c.channel_id)
        .join(CH, CH.c.id == cs.c.channel_id)
        .where(*conditions)
        .order_by(case((has_action, 1), else_=0).desc(), top_priority.desc(),
                  cs.c.lease_until.asc().nulls_first(), cs.c.channel_id)
        .limit(bindparam("p_limit"))
        .with_for_update(skip_locked=True, of=cs)
    )
    return (
        update(CS)
        .where(CS.c.channel_id.in_(pick))
        .values(lease_owner=_p("me", TEXT), lease_until=_p("until", DT))
        .returning(CS.c.channel_id)
    )


@cache
def claim_batch_with_rows_stmt(outbox: bool) -> Any:
    """PostgreSQL: lease channels as :func:`claim_batch_stmt` and, in the same statement, move each
    one's first due delivery to ``sending`` (as :func:`claim_next_stmt`) with its content item.

    One row per leased channel: its id, then the claimed delivery's columns and its item's (None
    when no delivery was claimed: an edit or removal is due on it first, or its row is locked by
    another claimer; the caller then asks :func:`claim_next_stmt`). Why: when many Pages have one
    post each (a schedule slot), the lease, each channel's claim and their commits were a statement
    per channel more (issue 15). The claim needs no check of its own that the channel is held and
    idle: the lease in the same statement chose channels that are free, active, not paused and with
    nothing in ``sending``, under a row lock that other claimers skip."""
    leased = claim_batch_stmt(False, outbox).cte("l")
    t, item = D.alias("d"), CI.alias("i")
    first = _first_due(D.alias("pick"), leased.c.channel_id).correlate(leased).scalar_subquery()
    action_due = exists(_actions_due(leased.c.channel_id).correlate(leased))
    ids = select(first).select_from(leased).where(~action_due)
    claimed = (
        update(t).where(t.c.id.in_(ids), _is_due_state(t)).values(**_sending_values(t))
        .returning(*[t.c[k] for k in CLAIMED_DELIVERY]).cte("k")
    )
    return select(
        leased.c.channel_id, *[claimed.c[k] for k in CLAIMED_DELIVERY], *[item.c[k] for k in CLAIMED_CONTENT],
    ).select_from(leased.outerjoin(claimed, claimed.c.channel_id == leased.c.channel_id)
                  .outerjoin(item, item.c.id == claimed.c.content_id))


@cache
def claim_next_stmt(action: bool, by_id: bool, after: Any = None, action_due: Any = None) -> Any:
    """Move the channel's first due row (or, ``by_id``, row ``p_id`` if it is due) to ``sending``.

    A channel's due edits and removals go before its deliveries: the delivery claim finds nothing
    while an action is due, and the caller then claims the action. ``after``: the CTE of a finish in
    the same statement (:func:`finish_then_claim_stmt`); the claim happens only if that finish did.
    ``action_due``: a CTE of the channel's due edits and removals, read once for the whole statement."""
    t = A if action else D
    pick_t = t.alias("pick")
    if after is not None:  # PostgreSQL only: a short alias keeps the chained statement under 4 KiB
        t = D.alias("d")
    if by_id:
        where: list[Any] = [t.c.id == _p("id"), _is_due_state(t)]
    else:
        pick = _first_due(pick_t, _p("cid", TEXT)).scalar_subquery()
        where = [t.c.id == pick, _is_due_state(t), _held_and_idle(chained=after is not None)]
        if after is not None:
            where.append(exists(select(after.c.id)))
        if action_due is not None:
            where.append(~exists(select(action_due.c.id)))
        elif not action:
            where.append(~exists(_actions_due(_p("cid", TEXT))))
    # Chained (PostgreSQL), only the columns the worker reads come back (CLAIMED_DELIVERY).
    returned = [t.c[k] for k in CLAIMED_DELIVERY] if after is not None else list(t.c)
    return update(t).where(*where).values(**_sending_values(t)).returning(*returned)


@cache
def claim_with_content_stmt() -> Any:
    """PostgreSQL: the delivery claim and its content item in one statement (a data-modifying CTE)."""
    # Short names keep the statement under psycopg's 4 KiB limit for caching its parsed form, and only
    # the columns a delivery needs come back (each column costs a description object on every call).
    claimed, item = claim_next_stmt(False, False).cte("k"), CI.alias("i")
    return select(
        *[claimed.c[k].label(f"d_{k}") for k in CLAIMED_DELIVERY],
        *[item.c[k].label(f"c_{k}") for k in CLAIMED_CONTENT],
    ).select_from(claimed.outerjoin(item, item.c.id == claimed.c.content_id))


# What the worker, the platforms' post and the banner read of a claimed delivery and its item (the
# other fields of the rows stay None); bot/worker, bot/posts.py and the banner context use no other.
CLAIMED_DELIVERY = ("id", "content_id", "channel_id", "unit_id", "platform", "state", "attempts", "needs_check",
                    "lease_owner", "lease_until", "first_sent_attempt_at", "extra", "created_at", "reason",
                    "platform_post_id", "priority", "due_at", "next_attempt_at")
CLAIMED_CONTENT = ("id", "title", "kind", "unit_id", "body", "link", "image", "images", "banner", "banner_data",
                   "approved", "approved_at", "expires", "withdrawn", "version")


CONTENT_BY_ID = select(CI).where(CI.c.id == _p("id", TEXT))


@cache
def finish_stmt(action: bool, keys: tuple[str, ...], fenced: bool) -> Any:
    """The fenced UPDATE of a row's new state (``v_<column>`` parameters), returning what the audit row says."""
    t = A if action else D
    where = [t.c.id == _p("id")]
    if fenced:
        where += [t.c.state == _SENDING, t.c.lease_owner == _p("me", TEXT)]
    post = t.c.target_post_id if action else t.c.platform_post_id
    return (
        update(t)
        .where(*where)
        .values({k: bindparam(f"v_{k}", type_=t.c[k].type) for k in keys})
        .returning(t.c.id, t.c.state, t.c.channel_id, t.c.content_id, t.c.reason, post.label("post"))
    )


def _audit_of(done: Any, action: bool) -> Any:
    """PostgreSQL: the INSERT of the audit row of a finish given as a CTE (nothing when it found no row)."""
    noun = "action." if action else "delivery."
    key = {k: literal_column(f"'{k}'", TEXT) for k in ("channel", "content", "reason", "post", "bot", noun)}
    detail = func.json_build_object(key["channel"], done.c.channel_id, key["content"], done.c.content_id,
                                    key["reason"], done.c.reason, key["post"], done.c.post)
    rows = select(
        _p("at", DT), key["bot"], func.coalesce(_p("action", TEXT), key[noun] + done.c.state),
        cast(done.c.id, String), detail,
    ).select_from(done)
    return insert(AL).from_select(["at", "actor", "action", "subject", "detail"], rows).returning(AL.c.id)


@cache
def finish_and_audit_stmt(action: bool, keys: tuple[str, ...], fenced: bool) -> Any:
    """PostgreSQL: the finish and its audit row in one statement; one row back when the fence held."""
    return _audit_of(finish_stmt(action, keys, fenced).cte("done"), action)


@cache
def finish_then_claim_stmt(keys: tuple[str, ...]) -> Any:
    """PostgreSQL: a delivery's fenced finish, its audit row and the claim of the channel's next due
    delivery (with its content item), in one statement and one transaction.

    One row back when the fence held (the audit row's id, whether the channel was released, the next
    delivery's columns, all None when there is none to claim now); no row when the fence refused the
    finish, and then nothing was claimed or released either. The channel's lease is given back in the
    same statement when nothing was claimed and no edit or removal is due on it (the drain is over).
    The claim's check that nothing of the channel is in ``sending`` leaves out the finished row only:
    every sub-statement sees the rows as they were when the statement began, and this row is
    leaving ``sending`` in it."""
    done = finish_stmt(False, keys, True).cte("f")
    audit = _audit_of(done, False).cte("au")
    action_due = _actions_due(_p("cid", TEXT), name="a").limit(1).cte("ad")  # short alias: under 4 KiB
    claimed, item = claim_next_stmt(False, False, done, action_due).cte("k"), CI.alias("i")
    c = CS.alias("c")
    release = (
        update(c)
        .where(c.c.channel_id == _p("cid", TEXT), c.c.lease_owner == _p("me", TEXT), exists(select(done.c.id)),
               ~exists(select(claimed.c.id)), ~exists(select(action_due.c.id)))
        .values(lease_owner=None, lease_until=_p("now", DT))
        .returning(c.c.channel_id)
        .cte("r")
    )
    released = select(func.count()).select_from(release).scalar_subquery()
    # Read by position, without labels (shorter text for psycopg to parse at each call).
    return select(
        audit.c.id, released, *[claimed.c[k] for k in CLAIMED_DELIVERY], *[item.c[k] for k in CLAIMED_CONTENT],
    ).select_from(audit.outerjoin(claimed, literal_column("true")).outerjoin(item, item.c.id == claimed.c.content_id))


AUDIT_INSERT = insert(AL)


@cache
def renew_stmts() -> tuple[Any, Any, Any]:
    until, me = _p("until", DT), _p("me", TEXT)
    return (
        update(CS).where(CS.c.channel_id.in_(bindparam("p_ids", expanding=True)), CS.c.lease_owner == me)
        .values(lease_until=until),
        update(D).where(D.c.id.in_(bindparam("p_ids", expanding=True)), D.c.state == SENDING, D.c.lease_owner == me)
        .values(lease_until=until),
        update(A).where(A.c.id.in_(bindparam("p_ids", expanding=True)), A.c.state == SENDING, A.c.lease_owner == me)
        .values(lease_until=until),
    )


@cache
def lease_stmts() -> tuple[Any, Any]:
    acquire = (
        update(CS)
        .where(CS.c.channel_id == _p("cid", TEXT), _channel_free(CS))
        .values(lease_owner=_p("me", TEXT), lease_until=_p("until", DT))
    )
    # lease_until keeps the release time: the channel that waited longest is served first.
    release = (
        update(CS)
        .where(CS.c.channel_id == _p("cid", TEXT), CS.c.lease_owner == _p("me", TEXT))
        .values(lease_owner=None, lease_until=_p("now", DT))
    )
    return acquire, release
