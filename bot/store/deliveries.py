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

Why Core statements built once (bot.store.queue_sql), executed on autocommit connections (issue
15): a delivery costs one claim statement and one finish statement. The claim is one ``UPDATE …
WHERE id = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING …`` — concurrent claimers on PostgreSQL skip each
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
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.engine import Connection, Row

from bot.store.db import Store
from bot.store.models import DeliveryState, PostAction
from bot.store.queue_sql import (
    AUDIT_INSERT,
    CI,
    CLAIMED_CONTENT,
    CLAIMED_DELIVERY,
    CONTENT_BY_ID,
    SENDING,
    A,
    D,
    claim_batch_stmt,
    claim_batch_with_rows_stmt,
    claim_next_stmt,
    claim_with_content_stmt,
    finish_and_audit_stmt,
    finish_stmt,
    finish_then_claim_stmt,
    in_sending,
    lease_stmts,
    renew_stmts,
)

# The lease owner of a row that waits out its settle window after an unclear answer (Worker._settle).
SETTLING = "|settle"
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



# --- helpers --------------------------------------------------------------------------------------


def _delivery(row: Row[Any], content: Any = None) -> Any:
    return DeliveryRow(**row._mapping, content=content)


def _params(owner: str, now: datetime, until: datetime | None = None, **more: Any) -> dict[str, Any]:
    return {"p_me": owner, "p_now": now, "p_until": until, **{f"p_{k}": v for k, v in more.items()}}


# --- claiming -------------------------------------------------------------------------------------


def claim_channels(store: Store, owner: str, now: datetime, until: datetime, *, limit: int,
                   since: datetime | None, actions_only: bool, outbox: bool,
                   wall: datetime | None = None) -> list[tuple[str, Any]]:
    """Lease up to ``limit`` channels that have due work (see :func:`claim_batch_stmt`): for each, its
    id and its first due delivery moved to ``sending`` with its content (as :func:`claim_next`), or None
    when none was claimed with the lease — the caller then asks :func:`claim_next`, which also claims
    due edits and removals. ``since``: the start of the pass (channels released after it were served
    in it); None: any. ``wall``: the real time, for the claim's first attempt.

    On PostgreSQL the lease and the claims go in one statement (:func:`claim_batch_with_rows_stmt`),
    and locked rows are skipped, so concurrent claimers get disjoint channels without waiting for
    each other. On SQLite (no round trips to save) only the lease is taken here."""
    params = _params(owner, now, until, limit=limit, since=since or _NEVER, wall=wall)
    with_rows = store.dialect == "postgresql" and not actions_only and wall is not None
    with store.autocommit.connect() as conn:
        rows = conn.execute(claim_batch_with_rows_stmt(outbox) if with_rows else claim_batch_stmt(actions_only, outbox),
                            params).all()
    if not with_rows:
        return [(r[0], None) for r in rows]
    n = len(CLAIMED_DELIVERY)
    return [(r[0], _claimed(r[1:1 + n], r[1 + n:])) for r in rows]


def _claimed(delivery: Any, story: Any) -> Any:
    """A delivery (and its item) read by position from a statement that claimed it, or None."""
    if delivery[0] is None:
        return None
    content = ContentRow(**dict(zip(CLAIMED_CONTENT, story, strict=True))) if story[0] is not None else None
    return DeliveryRow(**dict(zip(CLAIMED_DELIVERY, delivery, strict=True)), content=content)


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
                row = conn.execute(claim_with_content_stmt(), params).first()
            if row is not None:
                m = row._mapping
                content = ContentRow(**{k: m[f"c_{k}"] for k in CLAIMED_CONTENT}) if m["c_id"] is not None else None
                return DeliveryRow(**{k: m[f"d_{k}"] for k in CLAIMED_DELIVERY}, content=content)
        else:
            with store.engine.begin() as conn:
                row = conn.execute(claim_next_stmt(False, False), params).first()
                if row is not None:
                    item = conn.execute(CONTENT_BY_ID, {"p_id": row.content_id}).first()
                    return _delivery(row, ContentRow(**item._mapping) if item is not None else None)
    with store.autocommit.connect() as conn:
        row = conn.execute(claim_next_stmt(True, False), params).first()
    return ActionRow(**row._mapping) if row is not None else None


def claim(store: Store, owner: str, item: Any, now: datetime, until: datetime, wall: datetime) -> Any:
    """Claim one given row if it is still due (not leased to anybody): the row in ``sending``, or None."""
    with store.autocommit.connect() as conn:
        row = conn.execute(claim_next_stmt(is_action(item), True),
                           _params(owner, now, until, id=item.id, wall=wall)).first()
    if row is None:
        return None
    return ActionRow(**row._mapping) if is_action(item) else _delivery(row)


def content(store: Store, content_id: str) -> Any:
    """A content item (or None), read fresh."""
    with store.autocommit.connect() as conn:
        row = conn.execute(CONTENT_BY_ID, {"p_id": content_id}).first()
    return ContentRow(**row._mapping) if row is not None else None


def delivery_and_content(store: Store, delivery_id: int, content_id: str) -> tuple[Any, Any]:
    """The delivery an action works on, and its content item (either None when gone)."""
    with store.engine.connect() as conn:
        d = conn.execute(select(D).where(D.c.id == delivery_id)).first()
        c = conn.execute(CONTENT_BY_ID, {"p_id": content_id}).first()
    return (_delivery(d) if d is not None else None), (ContentRow(**c._mapping) if c is not None else None)


# --- finishing --------------------------------------------------------------------------------------


def _finish_values(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The columns a finish writes: the lease fields cleared unless ``values`` sets them, and the time."""
    return {"lease_owner": None, "lease_until": None, **values, "updated_at": now}


def finish(store: Store, owner: str, item_id: int, now: datetime, *, action: bool, fenced: bool = True,
           current: Any = None, audit_action: str | None = None, extra_update: dict[str, Any] | None = None,
           **values: Any) -> bool:
    """Record a row's new state and its audit row; False when the fence refused it (``fenced``: only
    while ``owner`` still holds the row in ``sending`` — a worker whose lease expired never overwrites
    what another recorded). ``current``: the row as the owner holds it, whose ``extra`` the
    ``extra_update`` is merged into (read from the store when not given). The lease fields are
    cleared unless ``values`` sets them."""
    values = _finish_values(values, now)
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
            return conn.execute(finish_and_audit_stmt(action, keys, fenced), params).first() is not None
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
    values = _finish_values(values, now)
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
        row = conn.execute(finish_then_claim_stmt(keys), params).first()
    if row is None:
        return False, None, False
    nxt = _claimed(row[2:2 + len(CLAIMED_DELIVERY)], row[2 + len(CLAIMED_DELIVERY):])
    return True, nxt, nxt is None and bool(row[1])


def _finish_in(conn: Connection, store: Store, action: bool, fenced: bool, values: dict[str, Any],
               base: dict[str, Any]) -> bool:
    """The finish inside a transaction the caller holds (two statements)."""
    keys = tuple(sorted(values))
    row = conn.execute(finish_stmt(action, keys, fenced), {**base, **{f"v_{k}": v for k, v in values.items()}}).first()
    if row is None:
        return False
    noun = "action" if action else "delivery"
    conn.execute(AUDIT_INSERT, {"at": base["p_at"], "actor": "bot", "action": base["p_action"] or f"{noun}.{row.state}",
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
        conn.execute(AUDIT_INSERT, {"at": now, "actor": "bot", "action": "action.removed-old", "subject": str(action.id),
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
        conn.execute(AUDIT_INSERT, {"at": now, "actor": "bot", "action": f"action.{action.action}",
                              "subject": str(action.id), "detail": audit})
    return True


# --- leases -------------------------------------------------------------------------------------------


def acquire(store: Store, owner: str, channel_id: str, now: datetime, until: datetime) -> bool:
    """Lease one channel to ``owner`` if it is free (see :func:`_channel_free`)."""
    with store.autocommit.connect() as conn:
        return conn.execute(lease_stmts()[0], _params(owner, now, until, cid=channel_id)).rowcount == 1


def release(store: Store, owner: str, channel_id: str, now: datetime) -> bool:
    """Give the channel's lease back (only if ``owner`` still holds it); whether it did."""
    with store.autocommit.connect() as conn:
        return conn.execute(lease_stmts()[1], _params(owner, now, cid=channel_id)).rowcount == 1


def renew(store: Store, owner: str, until: datetime, *, channels: list[str], deliveries: list[int],
          actions: list[int]) -> None:
    """Push the end of every lease ``owner`` holds to ``until`` (the heartbeat)."""
    stmts = renew_stmts()
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
                .where(in_sending(t), t.c.lease_until < now, t.c.lease_owner.like(f"%{SETTLING}"))
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
                .where(in_sending(t), t.c.lease_until < now)
                .values(state=DeliveryState.RETRY, needs_check=True, next_attempt_at=now, lease_owner=None,
                        lease_until=None, updated_at=now,
                        reason="tiến trình dừng giữa lúc gửi: sẽ kiểm tra trên nền tảng trước khi gửi lại")
            ).rowcount or 0
    return n
