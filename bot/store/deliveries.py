"""The work queue: claiming, finishing with a fence, channel leases, reclaiming and settling.

The ``delivery`` table (posts) and the ``postaction`` table (edits, reposts, removals: issue 16)
are one queue with the same rules (see bot.worker for the whole story):

* a row goes ``pending``/``retry`` → ``sending`` under a lease (``lease_owner`` = the worker's
  ``name#incarnation``, ``lease_until``) *before* the platform call;
* every write after the claim is *fenced*: it applies only while the row is still in ``sending``
  under this owner's lease, so a worker that lost its lease never overwrites what another recorded;
* a worker must hold the channel's lease (``channelstate.lease_owner``) to claim its rows, and a
  channel with anything in ``sending`` is leased to nobody: one call in flight per channel, on any
  number of machines.

Why Core statements built once, executed on autocommit connections (issue 15): a delivery costs
one claim statement and one finish statement. The claim is one ``UPDATE … WHERE id = (SELECT …
LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING …`` — concurrent claimers on PostgreSQL skip each
other's rows instead of waiting, and SQLite (one writer at a time) runs the same statement
atomically; on PostgreSQL the claimed row comes back joined with its content item in the same
statement. The finish is one fenced ``UPDATE`` whose ``RETURNING`` feeds the audit row's
``INSERT`` (a data-modifying CTE on PostgreSQL; two statements in one transaction on SQLite, which
has no round trips). A single statement needs no ``BEGIN``/``COMMIT`` and the engine pings a
connection only after it sat idle (bot.store.db). A worker draining a channel sends the finish of
one delivery and the claim of the next as one statement (:func:`finish_then_claim`), so on
PostgreSQL a delivery costs about one round trip and one commit.

Rows come back as plain dataclasses (:data:`DeliveryRow`, :data:`ActionRow`, :data:`ContentRow`,
one field per column) instead of ORM objects: nothing here is tracked by a session, and building
them costs a few microseconds.
"""

from __future__ import annotations

from dataclasses import field, make_dataclass
from datetime import UTC, datetime
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
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from bot.store.db import Store
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
# The lease owner of a row that waits out its settle window after an unclear answer (Worker._settle).
SETTLING = "|settle"
# Constants written into the statements rather than bound: fewer parameters, shorter text.
_SENDING, _ACTIVE = literal_column(f"'{SENDING}'"), literal_column("'active'")
# "No pass start": every released lease ended before it.
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)
# The app-pause id bound when no platform pause applies (the outbox): no channelstate row has it.
NO_APP = "-"


def _row_class(name: str, table: Any, doc: str, *extra: tuple[str, Any, Any]) -> type:
    cls = make_dataclass(name, [(c.key, Any, field(default=None)) for c in table.columns] + list(extra),
                         slots=True)
    cls.__doc__ = doc
    return cls


ContentRow: Any = _row_class("ContentRow", CI, "A content item as the worker reads it (one field per column).")
DeliveryRow: Any = _row_class(
    "DeliveryRow", D, "A delivery as a worker holds it; ``content``: its item, read with the claim.",
    ("content", Any, field(default=None)))
ActionRow: Any = _row_class("ActionRow", A, "A post action (edit, repost, removal) as a worker holds it.")


def is_action(item: Any) -> bool:
    """Whether a work item is a post action (edits, reposts, removals) rather than a delivery."""
    return isinstance(item, (ActionRow, PostAction))


def _table(item_or_model: Any) -> Any:
    if isinstance(item_or_model, type):
        return A if item_or_model in (ActionRow, PostAction) else D
    return A if is_action(item_or_model) else D


def _p(name: str, type_: Any = None) -> Any:
    """A bound parameter; every name starts with ``p_`` so none collides with a column of an UPDATE."""
    return bindparam(f"p_{name}", type_=type_)


# --- conditions --------------------------------------------------------------------------------


def _on_deliveries(t: Any) -> bool:
    """Whether ``t`` is the delivery table or an alias of it."""
    return t is D or getattr(t, "element", None) is D


def _is_due_state(t: Any) -> ColumnElement[bool]:
    """``pending`` or ``retry``, written into the SQL (a list parameter would be expanded at every call);
    on deliveries with the open-rows condition that lets SQLite use ix_delivery_channel_open."""
    due = or_(*(t.c.state == literal_column(f"'{state}'") for state in DUE_STATES))
    return and_(due, open_state(t)) if _on_deliveries(t) else due


def _sending(t: Any) -> ColumnElement[bool]:
    """In ``sending`` (with the open-rows condition on deliveries, see :func:`_is_due_state`)."""
    return and_(t.c.state == _SENDING, open_state(t)) if _on_deliveries(t) else t.c.state == _SENDING


def _due(t: Any) -> ColumnElement[bool]:
    now = _p("now", DT)
    return and_(_is_due_state(t), t.c.due_at <= now,
                or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now))


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
        ~exists().where(d2.c.channel_id == cs.c.channel_id, _sending(d2)),
        ~exists().where(a2.c.channel_id == cs.c.channel_id, _sending(a2)),
    )


def _held_and_idle(chained: bool = False) -> ColumnElement[bool]:
    """The owner holds channel ``p_cid``, which is active and not paused, its platform (``p_app``) is not
    paused, and nothing of the channel is in ``sending`` — ``chained``: nothing but delivery ``p_id``,
    which the same statement finishes (its sub-statements all see the rows as they were before it)."""
    now, cid = _p("now", DT), _p("cid", TEXT)
    cs, app = CS.alias("cs_own"), CS.alias("cs_app")
    d2, a2 = D.alias("d_busy"), A.alias("a_busy")
    busy = [d2.c.channel_id == cid, _sending(d2)] + ([d2.c.id != _p("id")] if chained else [])
    return and_(
        exists().where(cs.c.channel_id == cid, cs.c.lease_owner == _p("me", TEXT), cs.c.status == _ACTIVE,
                       or_(cs.c.paused_until.is_(None), cs.c.paused_until <= now)),
        ~exists().where(*busy),
        ~exists().where(a2.c.channel_id == cid, _sending(a2)),
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
def _claim_batch_stmt(actions_only: bool, outbox: bool) -> Any:
    """Lease up to ``p_limit`` channels with due work, edits and removals first, then the highest
    priority, then the channel that waited longest (a released lease keeps its release time).

    Only channels whose lease ended before ``p_since`` (or never had one), and none this worker holds:
    a pass serves each channel once, and a channel released since the pass began was served in it. Why a time and not a list of
    channels to leave out: the statement's text stays the same at every call, so PostgreSQL plans it
    once (a list of 1,000 channels also cost a comparison per channel and per item)."""
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
def _claim_next_stmt(action: bool, by_id: bool, after: Any = None) -> Any:
    """Move the channel's first due row (or, ``by_id``, row ``p_id`` if it is due) to ``sending``.

    A channel's due edits and removals go before its deliveries: the delivery claim finds nothing
    while an action is due, and the caller then claims the action. ``after``: the CTE of a finish in
    the same statement (:func:`_finish_then_claim_stmt`); the claim happens only if that finish did."""
    t = A if action else D
    pick_t = t.alias("pick")
    if after is not None:  # PostgreSQL only: a short alias keeps the chained statement under 4 KiB
        t = D.alias("d")
    if by_id:
        where: list[Any] = [t.c.id == _p("id"), _is_due_state(t)]
    else:
        order = (pick_t.c.priority.desc(), pick_t.c.due_at, pick_t.c.id)
        pick = (
            select(pick_t.c.id)
            .where(pick_t.c.channel_id == _p("cid", TEXT), _due(pick_t))
            .order_by(*order)
            .limit(1)
            .with_for_update(skip_locked=True, of=pick_t)
            .scalar_subquery()
        )
        where = [t.c.id == pick, _is_due_state(t), _held_and_idle(chained=after is not None)]
        if after is not None:
            where.append(exists(select(after.c.id)))
        if not action:
            a3 = A.alias("a_due")
            where.append(~exists().where(a3.c.channel_id == _p("cid", TEXT), _due(a3)))
    # Chained (PostgreSQL), only the columns the worker reads come back (CLAIMED_DELIVERY).
    returned = [t.c[k] for k in CLAIMED_DELIVERY] if after is not None else list(t.c)
    return update(t).where(*where).values(**_sending_values(t)).returning(*returned)


@cache
def _claim_with_content_stmt() -> Any:
    """PostgreSQL: the delivery claim and its content item in one statement (a data-modifying CTE)."""
    # Short names keep the statement under psycopg's 4 KiB limit for caching its parsed form, and only
    # the columns a delivery needs come back (each column costs a description object on every call).
    claimed, item = _claim_next_stmt(False, False).cte("k"), CI.alias("i")
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


_CONTENT_BY_ID = select(CI).where(CI.c.id == _p("id", TEXT))


@cache
def _finish_stmt(action: bool, keys: tuple[str, ...], fenced: bool) -> Any:
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
def _finish_and_audit_stmt(action: bool, keys: tuple[str, ...], fenced: bool) -> Any:
    """PostgreSQL: the finish and its audit row in one statement; one row back when the fence held."""
    return _audit_of(_finish_stmt(action, keys, fenced).cte("done"), action)


@cache
def _finish_then_claim_stmt(keys: tuple[str, ...]) -> Any:
    """PostgreSQL: a delivery's fenced finish, its audit row and the claim of the channel's next due
    delivery (with its content item), in one statement and one transaction.

    One row back when the fence held (the audit row's id, whether the channel was released, the next
    delivery's columns, all None when there is none to claim now); no row when the fence refused the
    finish, and then nothing was claimed or released either. The channel's lease is given back in the
    same statement when nothing was claimed and no edit or removal is due on it (the drain is over). The claim's check that nothing of the channel is in ``sending`` leaves
    out the finished row only: every sub-statement sees the rows as they were when the statement
    began, and this row is leaving ``sending`` in it."""
    done = _finish_stmt(False, keys, True).cte("f")
    audit = _audit_of(done, False).cte("au")
    claimed, item = _claim_next_stmt(False, False, done).cte("k"), CI.alias("i")
    c, a4 = CS.alias("c"), A.alias("a4")
    release = (
        update(c)
        .where(c.c.channel_id == _p("cid", TEXT), c.c.lease_owner == _p("me", TEXT), exists(select(done.c.id)),
               ~exists(select(claimed.c.id)), ~exists().where(a4.c.channel_id == _p("cid", TEXT), _due(a4)))
        .values(lease_owner=None, lease_until=_p("now", DT))
        .returning(c.c.channel_id)
        .cte("r")
    )
    released = select(func.count()).select_from(release).scalar_subquery()
    # Read by position, without labels (shorter text for psycopg to parse at each call).
    return select(
        audit.c.id, released, *[claimed.c[k] for k in CLAIMED_DELIVERY], *[item.c[k] for k in CLAIMED_CONTENT],
    ).select_from(audit.outerjoin(claimed, literal_column("true")).outerjoin(item, item.c.id == claimed.c.content_id))


_AUDIT = insert(AL)


@cache
def _renew_stmts() -> tuple[Any, Any, Any]:
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
def _lease_stmts() -> tuple[Any, Any]:
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


# --- helpers --------------------------------------------------------------------------------------


def _delivery(row: Row[Any], content: Any = None) -> Any:
    return DeliveryRow(**row._mapping, content=content)


def _params(owner: str, now: datetime, until: datetime | None = None, **more: Any) -> dict[str, Any]:
    return {"p_me": owner, "p_now": now, "p_until": until, **{f"p_{k}": v for k, v in more.items()}}


# --- claiming -------------------------------------------------------------------------------------


def claim_channels(store: Store, owner: str, now: datetime, until: datetime, *, limit: int,
                   since: datetime | None, actions_only: bool, outbox: bool) -> list[str]:
    """Lease up to ``limit`` channels that have due work (see :func:`_claim_batch_stmt`); their ids.
    ``since``: the start of the pass (channels released after it were served in it); None: any.

    Locked rows are skipped on PostgreSQL, so concurrent claimers get disjoint channels without
    waiting for each other."""
    with store.autocommit.connect() as conn:
        rows = conn.execute(_claim_batch_stmt(actions_only, outbox),
                            _params(owner, now, until, limit=limit, since=since or _NEVER)).all()
    return [r[0] for r in rows]


def claim_next(store: Store, owner: str, channel_id: str, now: datetime, until: datetime, wall: datetime, *,
               app: str, actions_only: bool) -> Any:
    """The channel's next due edit or removal, else its next due delivery (with its content), moved to
    ``sending`` under ``owner``'s lease; None when there is none or the owner may not post to it now
    (it must hold the channel, which must be idle: see :func:`_held_and_idle`). ``app``: the
    channelstate id of the platform's app-wide pause (:data:`NO_APP` for the outbox)."""
    params = _params(owner, now, until, cid=channel_id, wall=wall, app=app)
    postgres = store.dialect == "postgresql"
    if not actions_only:
        if postgres:
            with store.autocommit.connect() as conn:
                row = conn.execute(_claim_with_content_stmt(), params).first()
            if row is not None:
                m = row._mapping
                content = ContentRow(**{k: m[f"c_{k}"] for k in CLAIMED_CONTENT}) if m["c_id"] is not None else None
                return DeliveryRow(**{k: m[f"d_{k}"] for k in CLAIMED_DELIVERY}, content=content)
        else:
            with store.engine.begin() as conn:
                row = conn.execute(_claim_next_stmt(False, False), params).first()
                if row is not None:
                    item = conn.execute(_CONTENT_BY_ID, {"p_id": row.content_id}).first()
                    return _delivery(row, ContentRow(**item._mapping) if item is not None else None)
    with store.autocommit.connect() as conn:
        row = conn.execute(_claim_next_stmt(True, False), params).first()
    return ActionRow(**row._mapping) if row is not None else None


def claim(store: Store, owner: str, item: Any, now: datetime, until: datetime, wall: datetime) -> Any:
    """Claim one given row if it is still due (not leased to anybody): the row in ``sending``, or None."""
    with store.autocommit.connect() as conn:
        row = conn.execute(_claim_next_stmt(is_action(item), True),
                           _params(owner, now, until, id=item.id, wall=wall)).first()
    if row is None:
        return None
    return ActionRow(**row._mapping) if is_action(item) else _delivery(row)


def content(store: Store, content_id: str) -> Any:
    """A content item (or None), read fresh."""
    with store.autocommit.connect() as conn:
        row = conn.execute(_CONTENT_BY_ID, {"p_id": content_id}).first()
    return ContentRow(**row._mapping) if row is not None else None


def delivery_and_content(store: Store, delivery_id: int, content_id: str) -> tuple[Any, Any]:
    """The delivery an action works on, and its content item (either None when gone)."""
    with store.engine.connect() as conn:
        d = conn.execute(select(D).where(D.c.id == delivery_id)).first()
        c = conn.execute(_CONTENT_BY_ID, {"p_id": content_id}).first()
    return (_delivery(d) if d is not None else None), (ContentRow(**c._mapping) if c is not None else None)


# --- finishing --------------------------------------------------------------------------------------


def finish(store: Store, owner: str, item_id: int, now: datetime, *, action: bool, fenced: bool = True,
           current: Any = None, audit_action: str | None = None, extra_update: dict[str, Any] | None = None,
           **values: Any) -> bool:
    """Record a row's new state and its audit row; False when the fence refused it (``fenced``: only
    while ``owner`` still holds the row in ``sending`` — a worker whose lease expired never overwrites
    what another recorded). ``current``: the row as the owner holds it, whose ``extra`` the
    ``extra_update`` is merged into (read from the store when not given). The lease fields are
    cleared unless ``values`` sets them."""
    values = {"lease_owner": None, "lease_until": None, **values, "updated_at": now}
    base = {"p_id": item_id, "p_me": owner, "p_at": now, "p_action": audit_action}
    if extra_update and current is None:
        t = A if action else D
        with store.engine.begin() as conn:
            extra = conn.execute(select(t.c.extra).where(t.c.id == item_id)).scalar()
            values["extra"] = {**(extra or {}), **extra_update}
            return _finish_in(conn, store, action, fenced, values, base)
    if extra_update:
        values["extra"] = {**(current.extra or {}), **extra_update}
    if store.dialect == "postgresql":
        keys = tuple(sorted(values))
        params = {**base, **{f"v_{k}": v for k, v in values.items()}}
        with store.autocommit.connect() as conn:
            return conn.execute(_finish_and_audit_stmt(action, keys, fenced), params).first() is not None
    with store.engine.begin() as conn:
        return _finish_in(conn, store, action, fenced, values, base)


def finish_then_claim(store: Store, owner: str, item: Any, now: datetime, until: datetime, wall: datetime, *,
                      app: str, audit_action: str | None = None, extra_update: dict[str, Any] | None = None,
                      **values: Any) -> tuple[bool, Any, bool]:
    """Finish delivery ``item`` (as :func:`finish`, fenced) and, if the fence held, claim the channel's
    next due delivery (as :func:`claim_next`), or give the channel's lease back when it has nothing due
    (as :func:`release`): (whether the finish was recorded, the next delivery in ``sending`` or None,
    whether the channel was released).

    Why together: a worker draining a channel finishes one post and claims the next right after. On
    PostgreSQL both go in one statement — one round trip and one commit instead of two, which is
    most of the server's work per delivery (issue 15); when each Page has one post due, the release
    goes with it too. No next row and no release means only that no delivery was claimed here: the
    caller asks :func:`claim_next` (which also claims due edits and removals), then releases."""
    values = {"lease_owner": None, "lease_until": None, **values, "updated_at": now}
    if extra_update:
        values["extra"] = {**(item.extra or {}), **extra_update}
    if store.dialect != "postgresql":  # no round trips to save: the two steps as they are
        if not finish(store, owner, item.id, now, action=False, current=item, audit_action=audit_action,
                      **values):
            return False, None, False
        nxt = claim_next(store, owner, item.channel_id, now, until, wall, app=app, actions_only=False)
        return True, nxt, nxt is None and release(store, owner, item.channel_id, now)
    keys = tuple(sorted(values))
    params = {**_params(owner, now, until, id=item.id, cid=item.channel_id, wall=wall, app=app, at=now,
                        action=audit_action), **{f"v_{k}": v for k, v in values.items()}}
    with store.autocommit.connect() as conn:
        row = conn.execute(_finish_then_claim_stmt(keys), params).first()
    if row is None:
        return False, None, False
    delivery, item = row[2:2 + len(CLAIMED_DELIVERY)], row[2 + len(CLAIMED_DELIVERY):]
    if delivery[0] is None:
        return True, None, bool(row[1])
    content = ContentRow(**dict(zip(CLAIMED_CONTENT, item, strict=True))) if item[0] is not None else None
    return True, DeliveryRow(**dict(zip(CLAIMED_DELIVERY, delivery, strict=True)), content=content), False


def _finish_in(conn: Connection, store: Store, action: bool, fenced: bool, values: dict[str, Any],
               base: dict[str, Any]) -> bool:
    """The finish inside a transaction the caller holds (two statements)."""
    keys = tuple(sorted(values))
    row = conn.execute(_finish_stmt(action, keys, fenced), {**base, **{f"v_{k}": v for k, v in values.items()}}).first()
    if row is None:
        return False
    noun = "action" if action else "delivery"
    conn.execute(_AUDIT, {"at": base["p_at"], "actor": "bot", "action": base["p_action"] or f"{noun}.{row.state}",
                          "subject": str(row.id), "detail": {"channel": row.channel_id, "content": row.content_id,
                                                             "reason": row.reason, "post": row.post}})
    return True


def record_removed_step(store: Store, owner: str, action: Any, now: datetime, extra: dict[str, Any]) -> bool:
    """A repost's first step (the old post removed) recorded, fenced, before the new post goes."""
    with store.engine.begin() as conn:
        result = conn.execute(
            update(A).where(A.c.id == action.id, A.c.state == SENDING, A.c.lease_owner == owner)
            .values(extra=extra, updated_at=now))
        if result.rowcount != 1:
            return False
        conn.execute(update(D).where(D.c.id == action.delivery_id).values(removed_at=now, updated_at=now))
        conn.execute(_AUDIT, {"at": now, "actor": "bot", "action": "action.removed-old", "subject": str(action.id),
                              "detail": {"channel": action.channel_id, "content": action.content_id,
                                         "post": action.target_post_id}})
    return True


def record_acted(store: Store, owner: str, action: Any, now: datetime, *, new_post_id: str | None,
                 note: str | None, delivery_values: dict[str, Any], audit: dict[str, Any]) -> bool:
    """An edit, repost or removal done: the action, what the post now is, and the audit row, in one
    fenced transaction."""
    with store.engine.begin() as conn:
        result = conn.execute(
            update(A).where(A.c.id == action.id, A.c.state == SENDING, A.c.lease_owner == owner)
            .values(state="done", done_at=now, needs_check=False, lease_owner=None, lease_until=None,
                    next_attempt_at=None, new_post_id=new_post_id, reason=note, updated_at=now))
        if result.rowcount != 1:
            return False
        conn.execute(update(D).where(D.c.id == action.delivery_id).values(**delivery_values))
        conn.execute(_AUDIT, {"at": now, "actor": "bot", "action": f"action.{action.action}",
                              "subject": str(action.id), "detail": audit})
    return True


# --- leases -------------------------------------------------------------------------------------------


def acquire(store: Store, owner: str, channel_id: str, now: datetime, until: datetime) -> bool:
    """Lease one channel to ``owner`` if it is free (see :func:`_channel_free`)."""
    with store.autocommit.connect() as conn:
        return conn.execute(_lease_stmts()[0], _params(owner, now, until, cid=channel_id)).rowcount == 1


def release(store: Store, owner: str, channel_id: str, now: datetime) -> bool:
    """Give the channel's lease back (only if ``owner`` still holds it); whether it did."""
    with store.autocommit.connect() as conn:
        return conn.execute(_lease_stmts()[1], _params(owner, now, cid=channel_id)).rowcount == 1


def renew(store: Store, owner: str, until: datetime, *, channels: list[str], deliveries: list[int],
          actions: list[int]) -> None:
    """Push the end of every lease ``owner`` holds to ``until`` (the heartbeat)."""
    stmts = _renew_stmts()
    with store.engine.begin() as conn:
        for stmt, ids in zip(stmts, (channels, deliveries, actions), strict=True):
            if ids:
                conn.execute(stmt, {"p_ids": ids, "p_until": until, "p_me": owner})


def release_settled(store: Store, now: datetime) -> int:
    """Rows whose unclear call has had its settle window: back to ``retry`` with ``needs_check``, so
    the next attempt reads the platform first (see Worker._settle)."""
    n = 0
    with store.engine.begin() as conn:
        for t in (D, A):
            n += conn.execute(
                update(t)
                .where(_sending(t), t.c.lease_until < now, t.c.lease_owner.like(f"%{SETTLING}"))
                .values(state=DeliveryState.RETRY, needs_check=True,
                        next_attempt_at=case((t.c.next_attempt_at > now, t.c.next_attempt_at), else_=now),
                        lease_owner=None, lease_until=None, updated_at=now)
            ).rowcount or 0
    return n


def reclaim_expired(store: Store, now: datetime) -> int:
    """Rows left in ``sending`` by a dead process (lease run out): reconcile before any resend."""
    n = 0
    with store.engine.begin() as conn:
        for t in (D, A):
            n += conn.execute(
                update(t)
                .where(_sending(t), t.c.lease_until < now)
                .values(state=DeliveryState.RETRY, needs_check=True, next_attempt_at=now, lease_owner=None,
                        lease_until=None, updated_at=now,
                        reason="tiến trình dừng giữa lúc gửi: sẽ kiểm tra trên nền tảng trước khi gửi lại")
            ).rowcount or 0
    return n
