"""The worker: claim due deliveries, render, publish, and record what happened.

The deliveries table is the work queue. Every delivery is accounted for at every moment:

* ``pending``/``retry`` → ``sending`` is written (with a lease) *before* the platform call;
* ``sending`` → ``sent`` with the platform's id right after it, or ``retry`` (with back-off and
  the platform's pause honoured), or ``failed`` with the platform's reason;
* a hold (expired token, missing permission) puts the delivery back to ``pending`` and holds
  its channel until a person acts;
* a ``sending`` row whose lease expired (the process died mid-call), or any answer that may
  hide a post the platform made, is reconciled with the platform before it is sent again.

At most one post is in flight per channel: a worker must hold the channel's lease (an atomic
UPDATE on ``channelstate``) to post to it, whatever the number of workers or machines, and a
channel with a delivery in ``sending`` (a live call, or one a dead process left behind) is not
leased to anybody else until that delivery is settled or reclaimed.

Claiming. A pass claims work in small batches: up to ``batch`` channels that have due
deliveries, each with its channel lease and its first due delivery moved to ``sending``, in
one transaction. On PostgreSQL the channel rows and the delivery rows are taken with
``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent claimers on any number of machines get
disjoint work without waiting for each other; on SQLite (one process) the same conditions go
through atomic conditional UPDATEs. A thread then drains its channel (at most
``PER_CHANNEL_PER_RUN`` deliveries a pass), claiming each next delivery the same way, and
releases the channel. ``lease_until`` of a released channel keeps the time it was released, so
channels are served in turn.

Leases. While a pass runs, a heartbeat renews the leases this worker holds (channels and
deliveries in ``sending``). A process that dies stops renewing: after ``lease`` seconds
(``CAMPAIGN_LEASE_SECONDS``, default 300, which must exceed the longest platform call) another
worker reclaims its deliveries (``reclaim_expired``) and reconciles them before any resend.
Every write after a claim is fenced: it applies only while this worker still holds the row, so
a worker that lost its lease can never overwrite what another worker recorded.

Edits, reposts and removals of published posts (issue 16, ``postaction`` rows planned by
bot.corrections) go through the same queue rules: claimed to ``sending`` under a lease, a channel with
an action or a delivery in ``sending`` is leased to nobody, unclear answers settle, dead workers'
claims are reclaimed with ``needs_check`` and the platform is asked (``Channel.current``) before any
second call. A channel's due actions go before its deliveries; during quiet hours only actions go.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, true, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from bot.channels import (
    Channel,
    ChannelContext,
    HoldChannel,
    Published,
    Rejected,
    RetryLater,
    fingerprint,
    open_channel,
)
from bot.channels.outbox import OutboxChannel
from bot.clock import Clock
from bot.load import Campaign
from bot.plan import in_quiet_hours
from bot.posts import build_post, images_for
from bot.store.db import Store
from bot.store.models import (
    AuditLog,
    ChannelState,
    ContentItem,
    Delivery,
    DeliveryState,
    Engagement,
    Meta,
    PostAction,
    utcnow,
)
from bot.store.models import Channel as ChannelRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
PAGE_BLOCKED_CODES = {"368"}  # Facebook: temporarily blocked for policy violations
PAGE_BLOCKED_PAUSE = timedelta(hours=6)
BASE_BACKOFF = 60.0  # seconds; doubles each attempt, capped below (CAMPAIGN_BACKOFF_SECONDS)
MAX_BACKOFF = 3600.0
LEASE = timedelta(minutes=5)  # CAMPAIGN_LEASE_SECONDS
# After an answer that leaves unclear whether the post was made (timeout, dropped connection, 5xx on
# a creating call), the platform may still be working on it: the channel waits this long before any
# other post or the reconcile check (CAMPAIGN_SETTLE_SECONDS).
SETTLE = 60.0
# The lease owner of a delivery that waits out its settle window after an unclear answer (see Worker._settle).
SETTLING = "|settle"
PER_CHANNEL_PER_RUN = 25
BATCH = 8  # channels (each with its first delivery) claimed per transaction
ENGAGEMENT_EVERY = timedelta(hours=6)
ENGAGEMENT_WINDOW = timedelta(days=14)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, retry_after: float | None = None, base: float = BASE_BACKOFF) -> float:
    """Exponential back-off with jitter; a platform's own wait wins when longer."""
    delay = min(MAX_BACKOFF, base * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name) or default)
    except ValueError:
        log.warning("%s không phải số giây; dùng %s", name, default)
        return default
    return value if value > 0 else default


def secrets_of(env: dict[str, str], rows: list[ChannelRow]) -> list[str]:
    """Every secret value the process knows, to scrub from texts we store or print."""
    names = {r.token_env for r in rows if r.token_env}
    names |= {"FB_APP_SECRET", "FB_APP_TOKEN", "ZALO_SECRET_KEY", "CAMPAIGN_SECRET_KEY"}
    return sorted((env[n] for n in names if env.get(n) and len(env[n]) >= 6), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "****")
    return text[:2000]


@dataclass
class WorkerReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    held: dict[str, str] = field(default_factory=dict)  # channel -> reason
    engagement_read: int = 0

    def merge(self, other: WorkerReport) -> None:
        self.outcomes.update(other.outcomes)
        self.held.update(other.held)
        self.engagement_read += other.engagement_read


class Worker:
    """Publishes due deliveries. Safe to run in several processes against one store."""

    def __init__(
        self,
        campaign: Campaign,
        store: Store,
        env: dict[str, str],
        *,
        owner: str | None = None,
        max_workers: int = 8,
        force_outbox: bool = False,
        transport: Any = None,
        on_delivery: Callable[[str], None] | None = None,
        metrics: dict[str, dict[str, float]] | None = None,
        batch: int = BATCH,
        lease: timedelta | None = None,
        heartbeat: bool = True,
    ) -> None:
        self.campaign = campaign
        self.store = store
        self.env = env
        # The name on this process's claims: the given name (host:pid by default) and an incarnation
        # mark, so a worker restarted under the same --owner never mistakes a dead one's claims for its own.
        self.name = owner or default_owner()
        self.owner = f"{self.name}#{uuid.uuid4().hex[:6]}"
        # Every decision about time reads this clock where it is made (see bot.clock).
        self.clock = Clock()
        self.max_workers = max_workers
        self.force_outbox = force_outbox
        self.on_delivery = on_delivery
        self.metrics = metrics
        self.batch = max(1, batch)
        self.lease = lease or timedelta(seconds=_seconds(env, "CAMPAIGN_LEASE_SECONDS", LEASE.total_seconds()))
        self.backoff_base = _seconds(env, "CAMPAIGN_BACKOFF_SECONDS", BASE_BACKOFF)
        self.settle = _seconds(env, "CAMPAIGN_SETTLE_SECONDS", SETTLE)
        self.heartbeat = heartbeat
        self.postgres = store.dialect == "postgresql"
        self.stopping = threading.Event()  # set: finish the deliveries in hand, claim nothing more
        self._own_transport = transport is None and not force_outbox
        if transport is None and not force_outbox:
            # One pooled HTTP session for every Page, instead of a pool per channel.
            from bot.channels.facebook import new_session

            transport = new_session(pool_maxsize=max(4, max_workers))
        self.ctx = ChannelContext(campaign.workspace, store, env, campaign, transport, clock=self.clock.now)
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self._held: set[str] = set()  # channel leases this worker holds
        self._sending: set[int] = set()  # deliveries this worker moved to 'sending' and has not settled
        self._acting: set[int] = set()  # the same for post actions (edits, reposts, removals; issue 16)
        self._actions_only = False  # quiet hours: only edits and removals go (unless the campaign says they wait)
        self._content: dict[int, ContentItem | None] = {}  # read in the claiming transaction, for deliver()
        with store.session() as s:
            rows = s.exec(select(ChannelRow)).all()
        self.rows = {r.id: r for r in rows}
        self.secrets = secrets_of(env, list(rows))

    # --- channels -----------------------------------------------------------------------------

    def _row(self, channel_id: str) -> ChannelRow | None:
        """The channel's configuration; channels added after this worker started are read on demand."""
        row = self.rows.get(channel_id)
        if row is None:
            with self.store.session() as s:
                row = s.get(ChannelRow, channel_id)
            if row is not None:
                with self._lock:
                    self.rows[channel_id] = row
                    self.secrets = secrets_of(self.env, list(self.rows.values()))
        return row

    def channel(self, channel_id: str) -> Channel:
        row = self._row(channel_id)
        if row is None:
            raise KeyError(channel_id)
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None:
                ch = OutboxChannel(row, self.ctx) if self.force_outbox else open_channel(row, self.ctx)
                self._channels[channel_id] = ch
            return ch

    def close(self) -> None:
        for ch in self._channels.values():
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                log.debug("closing %s failed", ch)
        if self.ctx.transport is not None and self._own_transport:
            self.ctx.transport.close()

    # --- time and leases ----------------------------------------------------------------------

    def _channel_free(self, now: datetime) -> ColumnElement[bool]:
        """A channel this worker may lease now: active, not paused, its lease free, expired or ours,
        and no delivery of it in 'sending' (a call may still be in flight)."""
        return and_(
            ChannelState.status == "active",
            or_(col(ChannelState.paused_until).is_(None), col(ChannelState.paused_until) <= now),
            or_(
                col(ChannelState.lease_owner).is_(None),
                col(ChannelState.lease_until).is_(None),
                col(ChannelState.lease_until) < now,
                ChannelState.lease_owner == self.owner,
            ),
            ~exists().where(Delivery.channel_id == ChannelState.channel_id, Delivery.state == DeliveryState.SENDING),
            ~exists().where(PostAction.channel_id == ChannelState.channel_id, PostAction.state == DeliveryState.SENDING),
        )

    @staticmethod
    def _due_action(now: datetime) -> ColumnElement[bool]:
        return and_(
            col(PostAction.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
            col(PostAction.due_at) <= now,
            or_(col(PostAction.next_attempt_at).is_(None), col(PostAction.next_attempt_at) <= now),
        )

    def _due(self, now: datetime) -> ColumnElement[bool]:
        return and_(
            col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
            col(Delivery.due_at) <= now,
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
        )

    def _platform_free(self, platform: Any, now: datetime) -> ColumnElement[bool]:
        """The platform is not paused app-wide (a row ``app:<platform>`` in channelstate)."""
        if self.force_outbox:
            return true()
        app = aliased(ChannelState)
        return ~exists().where(app.channel_id == literal("app:") + platform, col(app.paused_until) > now)

    def _acquire(self, channel_id: str) -> bool:
        now = self.clock.now()
        with self.store.session() as s:
            result = s.execute(
                update(ChannelState)
                .where(ChannelState.channel_id == channel_id, self._channel_free(now))
                .values(lease_owner=self.owner, lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            ok = result.rowcount == 1
        if ok:
            with self._lock:
                self._held.add(channel_id)
        return ok

    def _release(self, channel_id: str) -> None:
        with self._lock:
            self._held.discard(channel_id)  # not renewed any more, even if the write below fails
        now = self.clock.now()
        with self.store.session() as s:
            # lease_until keeps the release time: the channel that waited longest is served first.
            s.execute(
                update(ChannelState)
                .where(ChannelState.channel_id == channel_id, ChannelState.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=now)
            )

    def renew_leases(self) -> None:
        """Push the end of every lease this worker holds to ``now + lease`` (the heartbeat)."""
        with self._lock:
            channels, ids, acting = sorted(self._held), sorted(self._sending), sorted(self._acting)
        if not channels and not ids and not acting:
            return
        until = self.clock.now() + self.lease
        with self.store.session() as s:
            if channels:
                s.execute(
                    update(ChannelState)
                    .where(col(ChannelState.channel_id).in_(channels), ChannelState.lease_owner == self.owner)
                    .values(lease_until=until)
                )
            if ids:
                s.execute(
                    update(Delivery)
                    .where(col(Delivery.id).in_(ids), Delivery.state == DeliveryState.SENDING,
                           Delivery.lease_owner == self.owner)
                    .values(lease_until=until)
                )
            if acting:
                s.execute(
                    update(PostAction)
                    .where(col(PostAction.id).in_(acting), PostAction.state == DeliveryState.SENDING,
                           PostAction.lease_owner == self.owner)
                    .values(lease_until=until)
                )

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        if not self.heartbeat:
            yield
            return
        stop = threading.Event()
        interval = max(0.2, min(30.0, self.lease.total_seconds() / 4))

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    self.renew_leases()
                except Exception as exc:  # noqa: BLE001 - the next beat tries again; leases are generous
                    log.warning("không gia hạn được quyền giữ (lease): %s", type(exc).__name__)

        thread = threading.Thread(target=beat, name=f"lease-heartbeat-{self.owner}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    # --- housekeeping ---------------------------------------------------------------------------

    def release_renewed_holds(self) -> list[str]:
        """A held channel whose token variable now holds a different token is released."""
        released = []
        now = self.clock.now()
        with self.store.session() as s:
            for st in s.exec(select(ChannelState).where(ChannelState.status == "held")).all():
                row = self.rows.get(st.channel_id)
                token = self.env.get(row.token_env or "") if row else None
                if not token or not st.token_fingerprint or fingerprint(token) == st.token_fingerprint:
                    continue
                st.status, st.reason, st.fix, st.held_at, st.token_fingerprint = "active", None, None, None, None
                st.updated_at = now
                s.add(st)
                s.add(AuditLog(action="channel.released", subject=st.channel_id,
                               detail={"why": "token mới trong môi trường"}))
                released.append(st.channel_id)
        return released

    def release_settled(self) -> int:
        """Deliveries whose unclear call has had its settle window: back to ``retry``, to be reconciled.

        After a timeout or a dropped connection the delivery stays in ``sending`` under a settle
        lease (see :meth:`_settle`), which keeps its channel closed to every worker for that long;
        only then may a reconcile read (and, if the post is not there, a resend) follow."""
        now = self.clock.now()
        n = 0
        with self.store.session() as s:
            for model in (Delivery, PostAction):
                result = s.execute(
                    update(model)
                    .where(model.state == DeliveryState.SENDING, col(model.lease_until) < now,
                           col(model.lease_owner).like(f"%{SETTLING}"))
                    .values(
                        state=DeliveryState.RETRY,
                        needs_check=True,
                        next_attempt_at=case((col(model.next_attempt_at) > now, model.next_attempt_at), else_=now),
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                n += result.rowcount or 0
        return n

    def reclaim_expired(self) -> int:
        """Deliveries left in ``sending`` by a dead process: reconcile before any resend."""
        now = self.clock.now()
        n = 0
        with self.store.session() as s:
            for model in (Delivery, PostAction):
                result = s.execute(
                    update(model)
                    .where(model.state == DeliveryState.SENDING, col(model.lease_until) < now)
                    .values(
                        state=DeliveryState.RETRY,
                        needs_check=True,
                        next_attempt_at=now,
                        lease_owner=None,
                        lease_until=None,
                        reason="tiến trình dừng giữa lúc gửi: sẽ kiểm tra trên nền tảng trước khi gửi lại",
                        updated_at=now,
                    )
                )
                n += result.rowcount or 0
        return n

    # --- claiming -----------------------------------------------------------------------------

    def claim_batch(self, limit: int | None = None, exclude: set[str] | None = None) -> list[Any]:
        """Claim up to ``limit`` due deliveries, at most one per channel, each with its channel's lease.

        Each returned delivery is in ``sending`` with this worker's lease, and this worker holds
        its channel. ``exclude``: channels not to take (those this process is already serving).
        """
        now = self.clock.now()
        limit = max(1, limit or self.batch)
        exclude = exclude or set()
        cs = ChannelState
        has_action = exists().where(PostAction.channel_id == cs.channel_id, self._due_action(now))
        has_due = has_action if self._actions_only else or_(
            exists().where(Delivery.channel_id == cs.channel_id, self._due(now)), has_action)
        top_priority = (
            select(func.max(Delivery.priority))
            .where(Delivery.channel_id == cs.channel_id, self._due(now))
            .scalar_subquery()
        )
        query = (
            select(cs.channel_id)
            .join(ChannelRow, col(ChannelRow.id) == cs.channel_id)
            .where(self._channel_free(now), self._platform_free(ChannelRow.platform, now), has_due)
            # edits and removals first (a wrong name must come down fast), then the publishing order
            .order_by(case((has_action, 1), else_=0).desc(), top_priority.desc(),
                      col(cs.lease_until).asc().nulls_first(), cs.channel_id)
            .limit(limit)
        )
        if exclude:
            query = query.where(col(cs.channel_id).not_in(sorted(exclude)))
        if self.postgres:
            return self._claim_batch_locked(query.with_for_update(skip_locked=True, of=cs))
        claimed: list[Delivery] = []
        with self.store.session() as s:
            candidates = list(s.exec(query).all())
        for cid in candidates:
            if not self._acquire(cid):
                continue
            d = self.claim_next(cid)
            if d is None:
                self._release(cid)
                continue
            claimed.append(d)
        return claimed

    def _claim_batch_locked(self, query: Any) -> list[Any]:
        """PostgreSQL: channels and their first deliveries in one transaction, locked rows skipped."""
        claimed: list[Any] = []
        now = self.clock.now()
        with self.store.session() as s:
            channels = list(s.exec(query).all())
            if not channels:
                return []
            s.execute(
                update(ChannelState)
                .where(col(ChannelState.channel_id).in_(channels))
                .values(lease_owner=self.owner, lease_until=now + self.lease)
            )
            for cid in channels:
                d = s.exec(self._next_action_query(cid, now).with_for_update(skip_locked=True, of=PostAction)).first()
                if d is None and not self._actions_only:
                    d = s.exec(self._next_query(cid, now).with_for_update(skip_locked=True, of=Delivery)).first()
                if d is None:
                    s.execute(
                        update(ChannelState).where(ChannelState.channel_id == cid).values(lease_owner=None)
                    )
                    continue
                self._mark_sending(d)
                s.add(d)
                claimed.append(d)
            for d in claimed:
                if isinstance(d, Delivery):
                    self._content[d.id or 0] = s.get(ContentItem, d.content_id)
        with self._lock:
            self._held.update(d.channel_id for d in claimed)
            self._sending.update(d.id for d in claimed if d.id is not None and isinstance(d, Delivery))
            self._acting.update(d.id for d in claimed if d.id is not None and isinstance(d, PostAction))
        return claimed

    def _next_action_query(self, channel_id: str, now: datetime) -> Any:
        return (
            select(PostAction)
            .where(PostAction.channel_id == channel_id, self._due_action(now))
            .order_by(col(PostAction.priority).desc(), col(PostAction.due_at), col(PostAction.id))
            .limit(1)
        )

    def _next_query(self, channel_id: str, now: datetime) -> Any:
        return (
            select(Delivery)
            .where(Delivery.channel_id == channel_id, self._due(now))
            .order_by(col(Delivery.priority).desc(), col(Delivery.due_at), col(Delivery.id))
            .limit(1)
        )

    def _mark_sending(self, d: Delivery | PostAction) -> None:
        now = self.clock.now()
        d.state = DeliveryState.SENDING
        d.attempts = (d.attempts or 0) + 1
        d.lease_owner, d.lease_until = self.owner, now + self.lease
        d.sending_since = now
        # real time: the platform compares it with its own clock
        d.first_sent_attempt_at = d.first_sent_attempt_at or utcnow()
        d.updated_at = now

    def claim_next(self, channel_id: str) -> Delivery | PostAction | None:
        """The channel's next due edit or removal, else its next due delivery, moved to ``sending`` (see
        :meth:`_held_and_idle` for when)."""
        a = self._claim_next_action(channel_id)
        if a is not None or self._actions_only:
            return a
        now = self.clock.now()
        return self._claim_first(self._next_query(channel_id, now).where(self._held_and_idle(channel_id, now)), Delivery)

    def _claim_next_action(self, channel_id: str) -> PostAction | None:
        """Like :meth:`claim_next`, for the channel's edits, reposts and removals (issue 16)."""
        now = self.clock.now()
        query = self._next_action_query(channel_id, now).where(self._held_and_idle(channel_id, now))
        return self._claim_first(query, PostAction)  # type: ignore[return-value]

    def _held_and_idle(self, channel_id: str, now: datetime) -> ColumnElement[bool]:
        """This worker holds the channel, which is active and not paused, its platform is not paused, and
        nothing of the channel is in ``sending`` (a call in flight, or one settling after an unclear answer)."""
        row = self._row(channel_id)
        d, a = aliased(Delivery), aliased(PostAction)  # never correlated with the row being chosen
        return and_(
            exists().where(
                ChannelState.channel_id == channel_id,
                ChannelState.lease_owner == self.owner,
                ChannelState.status == "active",
                or_(col(ChannelState.paused_until).is_(None), col(ChannelState.paused_until) <= now),
            ),
            ~exists().where(d.channel_id == channel_id, d.state == DeliveryState.SENDING),
            ~exists().where(a.channel_id == channel_id, a.state == DeliveryState.SENDING),
            self._platform_free(literal(row.platform if row else ""), now),
        )

    def _claim_first(self, query: Any, model: type[Delivery] | type[PostAction]) -> Delivery | PostAction | None:
        """Move the first row of ``query`` to ``sending`` under this worker's lease: locked rows skipped on
        PostgreSQL, a conditional UPDATE (a few tries) on SQLite."""
        row: Delivery | PostAction | None
        if self.postgres:
            with self.store.session() as s:
                row = s.exec(query.with_for_update(skip_locked=True, of=model)).first()
                if row is None:
                    return None
                self._mark_sending(row)
                s.add(row)
                if model is Delivery:
                    self._content[row.id or 0] = s.get(ContentItem, row.content_id)
        else:
            for _ in range(3):
                with self.store.session() as s:
                    row = s.exec(query).first()
                if row is None:
                    return None
                if self._claim(row):
                    self._mark_sending(row)
                    break
            else:
                return None
        with self._lock:
            (self._sending if model is Delivery else self._acting).add(row.id or 0)
        return row

    # --- one run ------------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> WorkerReport:
        """Everything due now: reclaim what dead workers left, then publish in batches.

        ``now``: the moment the pass starts at (simulated in `tick --now` and the demo); the clock
        runs on from it in real time, and every decision of the pass reads the clock when it is made."""
        if now is not None:
            self.clock.set(now)
        report = WorkerReport()
        self.release_renewed_holds()
        settled = self.release_settled()
        if settled:
            report.outcomes["settled"] += settled
        reclaimed = self.reclaim_expired()
        if reclaimed:
            report.outcomes["reclaimed"] += reclaimed
        from bot.corrections import apply_corrections

        # Edits and removals the files ask for (issue 16): planned here, so that every pass sees them.
        planned = apply_corrections(self.store, self.campaign, self.clock.now())
        if planned:
            report.outcomes["corrections-planned"] += len(planned)
        # Quiet hours hold new posts; a withdrawal or a correction goes at once unless the campaign says
        # otherwise (then its due time is the end of quiet hours: bot.corrections).
        self._actions_only = in_quiet_hours(self.campaign, self.clock.now())
        try:
            with self._heartbeat():
                self._publish_due(report)
        finally:
            self._actions_only = False
            with self._lock:  # nothing is in flight between passes
                self._held.clear()
                self._sending.clear()
                self._acting.clear()
                self._content.clear()
        return report

    def _publish_due(self, report: WorkerReport) -> None:
        slots = max(1, self.max_workers)
        busy: dict[Future[WorkerReport], str] = {}
        served: set[str] = set()  # each channel once a pass (at most PER_CHANNEL_PER_RUN deliveries)
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="deliver") as pool:
            while True:
                free = slots - len(busy)
                if free > 0 and not self.stopping.is_set():
                    claimed = self.claim_batch(min(free, self.batch), served | set(busy.values()))
                    for d in claimed:
                        served.add(d.channel_id)
                        busy[pool.submit(self._drain, d)] = d.channel_id
                if not busy:
                    return
                done, _ = wait(list(busy), return_when=FIRST_COMPLETED)
                for future in done:
                    busy.pop(future)
                    report.merge(future.result())

    def _drain(self, first: Delivery) -> WorkerReport:
        """Deliver ``first``, then the channel's next due deliveries, then release the channel."""
        report = WorkerReport()
        channel_id = first.channel_id
        d: Delivery | None = first
        try:
            for n in range(PER_CHANNEL_PER_RUN):
                if n:
                    if self.stopping.is_set():
                        break
                    d = self.claim_next(channel_id)
                if d is None:
                    break
                try:
                    outcome = self.deliver(d)
                except Exception:
                    log.exception("delivery %s: lỗi không mong đợi; lượt gửi sẽ được thu hồi khi hết hạn", d.id)
                    with self._lock:  # let its lease run out: it is reclaimed and reconciled
                        (self._acting if isinstance(d, PostAction) else self._sending).discard(d.id or 0)
                    report.outcomes["error"] += 1
                    break
                report.outcomes[outcome] += 1
                if self.on_delivery:
                    self.on_delivery(outcome)
                if outcome in ("held", "paused", "unclear"):
                    with self.store.session() as s:
                        st = s.get(ChannelState, channel_id)
                        if st is not None and st.status == "held":
                            report.held[channel_id] = st.reason or ""
                    break
                if outcome == "lease-lost":
                    break
        finally:
            self._release(channel_id)
        return report

    def _claim(self, d: Delivery | PostAction) -> bool:
        now = self.clock.now()
        model = type(d)
        with self.store.session() as s:
            result = s.execute(
                update(model)
                .where(
                    model.id == d.id,
                    col(model.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
                )
                .values(
                    state=DeliveryState.SENDING,
                    attempts=model.attempts + 1,
                    lease_owner=self.owner,
                    lease_until=now + self.lease,
                    sending_since=now,
                    first_sent_attempt_at=d.first_sent_attempt_at or utcnow(),
                    updated_at=now,
                )
            )
            return result.rowcount == 1

    def _finish(self, delivery_id: int, *, claimed: bool = True, current: Delivery | PostAction | None = None,
                audit_action: str | None = None, model: type[Delivery] | type[PostAction] = Delivery,
                **values: Any) -> bool:
        """Record a delivery's (or a post action's) new state. ``claimed``: only while this worker still
        holds it in 'sending' (fenced) — a worker whose lease expired never overwrites what another recorded.
        ``current``: the row as this worker holds it (saves reading it again; its type is the table)."""
        if current is not None:
            model = type(current)
        extra_update = values.pop("extra_update", None)
        values = {"lease_owner": None, "lease_until": None, **values, "updated_at": self.clock.now()}
        noun = "action" if model is PostAction else "delivery"
        with self.store.session() as s:
            if claimed and current is not None:
                if extra_update:
                    values["extra"] = {**(current.extra or {}), **extra_update}
                result = s.execute(
                    update(model)
                    .where(model.id == delivery_id, model.state == DeliveryState.SENDING,
                           model.lease_owner == self.owner)
                    .values(**values)
                )
                ok = result.rowcount == 1
                audit = {"state": values.get("state", current.state), "channel": current.channel_id,
                         "content": current.content_id, "reason": values.get("reason", current.reason),
                         "post": values.get("platform_post_id", getattr(current, "platform_post_id", None)
                                            or getattr(current, "target_post_id", None))}
            else:
                d = s.get(model, delivery_id, with_for_update=claimed and self.postgres)
                assert d is not None
                ok = not claimed or (d.state == DeliveryState.SENDING and d.lease_owner == self.owner)
                if ok:
                    for k, v in values.items():
                        setattr(d, k, v)
                    if extra_update:
                        d.extra = {**(d.extra or {}), **extra_update}
                    s.add(d)
                audit = {"state": d.state, "channel": d.channel_id, "content": d.content_id, "reason": d.reason,
                         "post": getattr(d, "platform_post_id", None) or getattr(d, "target_post_id", None)}
            if ok:
                state = audit.pop("state")
                s.add(AuditLog(action=audit_action or f"{noun}.{state}", subject=str(delivery_id), detail=audit))
        with self._lock:
            (self._acting if model is PostAction else self._sending).discard(delivery_id)
        if not ok:
            log.warning("delivery %s: quyền giữ đã hết hạn và lượt gửi đã chuyển cho tiến trình khác; "
                        "không ghi đè (%s)", delivery_id, values.get("state"))
        return ok

    def _pause(self, channel_id: str, platform: str, scope: str, seconds: float, reason: str) -> None:
        target = f"app:{platform}" if scope == "app" else channel_id
        now = self.clock.now()  # the pause starts when it is decided, not when the call started
        until = now + timedelta(seconds=seconds)
        with self.store.session() as s:
            st = s.get(ChannelState, target) or ChannelState(channel_id=target)
            if st.paused_until is None or st.paused_until < until:
                st.paused_until, st.pause_reason, st.updated_at = until, reason, now
            s.add(st)
            s.add(AuditLog(action="channel.paused", subject=target,
                           detail={"until": until.isoformat(), "reason": reason}))

    def _hold(self, channel_id: str, exc: HoldChannel) -> None:
        row = self._row(channel_id)
        token = self.env.get(row.token_env or "") if row else None
        now = self.clock.now()
        with self.store.session() as s:
            st = s.get(ChannelState, channel_id) or ChannelState(channel_id=channel_id)
            st.status, st.reason, st.fix, st.held_at = "held", scrub(exc.message, self.secrets), exc.fix, now
            st.token_fingerprint = fingerprint(token) if token else None
            st.updated_at = now
            s.add(st)
            s.add(AuditLog(action="channel.held", subject=channel_id, detail={"reason": st.reason, "fix": exc.fix}))

    def deliver(self, d: Delivery | PostAction) -> str:
        """Take one delivery as far as it can go now; returns the outcome's name.

        ``d`` is either due (``pending``/``retry``: it is claimed here) or already claimed by this
        worker (``sending`` under its lease, as :meth:`claim_batch` and :meth:`claim_next` return it).
        Nothing here keeps a time across the platform call: what follows a call reads the clock again.
        """
        if isinstance(d, PostAction):
            return self.act(d)
        assert d.id is not None
        claimed = d.state == DeliveryState.SENDING and d.lease_owner == self.owner
        if claimed and d.id in self._content:
            content = self._content.pop(d.id)
        else:
            with self.store.session() as s:
                content = s.get(ContentItem, d.content_id)
        if content is None or not content.approved:
            ok = self._finish(d.id, claimed=claimed, current=d if claimed else None, state=DeliveryState.SKIPPED,
                              reason="bài không còn được duyệt: không đăng")
            return "skipped" if ok else "lease-lost"
        if content.expires is not None and content.expires <= self.clock.now():
            ok = self._finish(d.id, claimed=claimed, current=d if claimed else None, state=DeliveryState.SKIPPED,
                              reason="bài đã hết hạn (expires) trước khi kịp đăng")
            return "skipped" if ok else "lease-lost"
        if content.withdrawn and not d.needs_check:
            ok = self._finish(d.id, claimed=claimed, current=d if claimed else None, state=DeliveryState.SKIPPED,
                              reason=f"đã huỷ vì rút bài: {content.withdrawn}")
            return "skipped" if ok else "lease-lost"
        if not claimed:
            if not self._claim(d):
                return "taken"
            self._mark_sending(d)
            with self._lock:
                self._sending.add(d.id)
        attempts = d.attempts
        try:
            channel = self.channel(d.channel_id)
            images = images_for(content, self.campaign, self.metrics)
            post = build_post(d, content, self.campaign, images)
        except Exception as exc:  # noqa: BLE001 - nothing reached the platform: a plain retry
            log.warning("delivery %s: cannot prepare: %s", d.id, exc)
            failure = RetryLater(f"không chuẩn bị được bài (banner/ảnh): {type(exc).__name__}: {exc}")
            return self._retry(d, attempts, failure, unsure=d.needs_check)
        # Whether the platform may hold this post without our knowing: true until a check says no.
        unsure = d.needs_check
        try:
            if d.needs_check:
                found = channel.find_existing(post)
                if found is not None:
                    return "reconciled" if self._sent(d, found, reconciled=True, version=content.version) \
                        else "lease-lost"
                unsure = False  # checked: not on the platform
            if content.withdrawn:
                # Withdrawn while an unclear call was pending: the check found nothing, so nothing is posted.
                ok = self._finish(d.id, current=d, state=DeliveryState.SKIPPED, needs_check=False,
                                  reason=f"đã huỷ vì rút bài (đã kiểm tra: không có trên nền tảng): {content.withdrawn}")
                return "skipped" if ok else "lease-lost"
            published = channel.publish(post)
        except HoldChannel as exc:
            self._hold(d.channel_id, exc)
            ok = self._finish(
                d.id,
                current=d,
                state=DeliveryState.PENDING,
                attempts=attempts - 1,
                needs_check=unsure,
                reason=f"chờ kênh được mở lại: {scrub(exc.message, self.secrets)}",
                extra_update={"progress": {**post_progress(d), **exc.progress}} if exc.progress else None,
            )
            return "held" if ok else "lease-lost"
        except Rejected as exc:
            ok = self._finish(d.id, current=d, state=DeliveryState.FAILED, needs_check=False,
                              reason=f"nền tảng từ chối: {scrub(exc.message, self.secrets)}")
            if exc.code in PAGE_BLOCKED_CODES:
                # Posting again at once would deepen a spam block: the Page rests while a person looks.
                self._pause(d.channel_id, d.platform, "channel", PAGE_BLOCKED_PAUSE.total_seconds(),
                            f"nền tảng tạm chặn đăng bài ({exc.code}): cần người kiểm tra Trang")
            return "failed" if ok else "lease-lost"
        except RetryLater as exc:
            return self._retry(d, attempts, exc, unsure=unsure)
        except Exception as exc:  # noqa: BLE001 - unknown outcome: reconcile before resending
            log.warning("delivery %s: %s", d.id, scrub(f"{type(exc).__name__}: {exc}", self.secrets))
            failure = RetryLater(f"lỗi không rõ: {type(exc).__name__}: {exc}", maybe_sent=True, in_flight=True)
            return self._retry(d, attempts, failure, unsure=True)
        return "sent" if self._sent(d, published, version=content.version) else "lease-lost"

    # --- edits, reposts and removals (issue 16) ----------------------------------------------

    def _channel_for(self, a: PostAction) -> Channel:
        """The channel that holds the post: the outbox for an outbox post, whatever the token says now."""
        if a.target_post_id.startswith("outbox:") and not self.force_outbox:
            row = self._row(a.channel_id)
            assert row is not None
            return OutboxChannel(row, self.ctx)
        return self.channel(a.channel_id)

    def act(self, a: PostAction) -> str:
        """Take one claimed edit, repost or removal as far as it can go now; returns the outcome's name.

        The same rules as :meth:`deliver`: the action is in ``sending`` under this worker's lease; an
        unclear answer settles and is reconciled; after a crash (``needs_check``) the platform is asked
        first — does the post still exist, does it already show the new text — and nothing is done twice.
        A repost records the removal of the old post before it publishes the new one."""
        assert a.id is not None
        with self.store.session() as s:
            d = s.get(Delivery, a.delivery_id)
            content = s.get(ContentItem, a.content_id)
        if d is None or content is None:
            ok = self._finish(a.id, current=a, state=DeliveryState.FAILED, needs_check=False,
                              reason="không tìm thấy lượt đăng hoặc bài trong dữ liệu")
            return "failed" if ok else "lease-lost"
        attempts = a.attempts
        progress = post_progress(a)  # type: ignore[arg-type]
        unsure = a.needs_check
        link = (d.extra or {}).get("url") or (d.extra or {}).get("article_url") or a.target_post_id
        if content.withdrawn and a.action != "remove" and not (a.action == "repost" and progress.get("removed_at")
                                                               and unsure):
            # Withdrawn meanwhile: no edit and no new post; the removal takes over (bot.corrections).
            ok = self._finish(a.id, current=a, state=DeliveryState.SKIPPED, needs_check=False,
                              reason=f"không làm vì bài đã bị rút: {content.withdrawn}")
            return "skipped" if ok else "lease-lost"
        if not content.approved and (a.action == "edit" or (a.action == "repost" and not progress.get("removed_at"))):
            # The new version is not approved (yet): nothing unapproved reaches a published post; planned
            # again once it is (bot.corrections).
            ok = self._finish(a.id, current=a, state=DeliveryState.SKIPPED, needs_check=False,
                              reason="phiên bản mới chưa được duyệt: chưa sửa")
            return "skipped" if ok else "lease-lost"
        try:
            channel = self._channel_for(a)
            post = None
            if a.action in ("edit", "repost"):
                try:
                    images = images_for(content, self.campaign, self.metrics)
                    post = build_post(d, content, self.campaign, images)
                except Exception as exc:  # noqa: BLE001 - nothing reached the platform: a plain retry
                    raise RetryLater(f"không chuẩn bị được bài (banner/ảnh): {type(exc).__name__}: {exc}") from None
            if a.action == "remove":
                if a.needs_check and not channel.current(a.target_post_id).exists:
                    return self._acted(a, d, content, note="đã gỡ (kiểm tra lại sau sự cố: bài không còn trên nền tảng)")
                unsure = False
                removed = channel.remove(a.target_post_id)
                return self._acted(a, d, content, note=None if removed else
                                   "bài đã bị xoá bằng tay trên nền tảng từ trước: tính là đã gỡ")
            assert post is not None
            if a.action == "edit":
                if a.needs_check:
                    state = channel.current(a.target_post_id, post)
                    if not state.exists:
                        raise Rejected(f"bài {link} không còn trên nền tảng (có thể đã bị xoá bằng tay)", code="gone")
                    if state.matches:
                        return self._acted(a, d, content, note="đã sửa (kiểm tra lại sau sự cố: bài đã mang nội dung mới)")
                    unsure = False
                channel.edit(a.target_post_id, post)
                return self._acted(a, d, content)
            # repost: remove the old post (recorded), then publish the new version
            if not progress.get("removed_at"):
                gone = a.needs_check and not channel.current(a.target_post_id).exists
                unsure = False
                if not gone:
                    channel.remove(a.target_post_id)
                progress["removed_at"] = self.clock.now().isoformat()
                if not self._removed_step(a, d, progress):
                    return "lease-lost"
            publish_progress = {k: v for k, v in progress.items() if k != "removed_at"}
            fresh = replace(post, progress=publish_progress, broadcast=False,
                            first_attempt_at=datetime.fromisoformat(progress["removed_at"]))
            if unsure:
                found = channel.find_existing(fresh)
                if found is not None:
                    return self._acted(a, d, content, published=found, note="đã đăng lại (đối soát sau sự cố)")
                unsure = False
            if not content.approved:  # the old post is gone; the new one waits for its approval
                raise RetryLater("bài cũ đã gỡ; phiên bản mới chưa được duyệt nên chưa đăng lại", wait=True,
                                 retry_after=900, progress=progress)
            if content.withdrawn:  # the check found no new post: none is made for a withdrawn item
                ok = self._finish(a.id, current=a, state=DeliveryState.SKIPPED, needs_check=False,
                                  reason=f"đã gỡ bài cũ; không đăng lại vì bài đã bị rút: {content.withdrawn}")
                return "skipped" if ok else "lease-lost"
            published = channel.publish(fresh)
            return self._acted(a, d, content, published=published)
        except HoldChannel as exc:
            self._hold(a.channel_id, exc)
            ok = self._finish(a.id, current=a, state=DeliveryState.PENDING, attempts=attempts - 1, needs_check=unsure,
                              reason=f"chờ kênh được mở lại: {scrub(exc.message, self.secrets)}",
                              extra_update={"progress": {**progress, **exc.progress}} if exc.progress else None)
            return "held" if ok else "lease-lost"
        except Rejected as exc:
            said = scrub(exc.message, self.secrets)
            if exc.code == "gone":
                reason = f"không sửa được: bài {link} không còn trên nền tảng (có thể đã bị xoá bằng tay). {said}"
            else:
                reason = f"nền tảng từ chối — cần người xử lý bài {link}: {said}"
            ok = self._finish(a.id, current=a, state=DeliveryState.FAILED, needs_check=False, reason=reason)
            return "failed" if ok else "lease-lost"
        except RetryLater as exc:
            if exc.progress:
                exc.progress = {**progress, **exc.progress}
            return self._retry(a, attempts, exc, unsure=unsure)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - unknown outcome: reconcile before acting again
            log.warning("action %s: %s", a.id, scrub(f"{type(exc).__name__}: {exc}", self.secrets))
            failure = RetryLater(f"lỗi không rõ: {type(exc).__name__}: {exc}", maybe_sent=True, in_flight=True)
            return self._retry(a, attempts, failure, unsure=True)  # type: ignore[arg-type]

    def _removed_step(self, a: PostAction, d: Delivery, progress: dict[str, Any]) -> bool:
        """A repost's first step is done: record it (fenced) before the new post goes, in one transaction."""
        now = self.clock.now()
        with self.store.session() as s:
            result = s.execute(
                update(PostAction)
                .where(PostAction.id == a.id, PostAction.state == DeliveryState.SENDING,
                       PostAction.lease_owner == self.owner)
                .values(extra={**(a.extra or {}), "progress": progress}, updated_at=now)
            )
            if result.rowcount != 1:
                return False
            s.execute(update(Delivery).where(Delivery.id == d.id).values(removed_at=now, updated_at=now))
            s.add(AuditLog(action="action.removed-old", subject=str(a.id),
                           detail={"channel": a.channel_id, "content": a.content_id, "post": a.target_post_id}))
        a.extra = {**(a.extra or {}), "progress": progress}
        return True

    def _acted(self, a: PostAction, d: Delivery, content: ContentItem, *, published: Published | None = None,
               note: str | None = None) -> str:
        """The action is done: record it and what the post now is, in one fenced transaction."""
        now = self.clock.now()
        values: dict[str, Any] = {"updated_at": now}
        extra = dict(d.extra or {})
        if a.action == "remove":
            values["removed_at"] = now
            extra["removed"] = {"at": now.isoformat(), "why": a.why, "by": a.actor, "note": note}
        elif a.action == "edit":
            values["post_version"] = content.version
            extra.setdefault("edits", []).append({"at": now.isoformat(), "version": content.version})
        else:
            assert published is not None
            values.update(platform_post_id=published.post_id, removed_at=None, post_version=content.version)
            extra.setdefault("previous_posts", []).append(
                {"post_id": a.target_post_id, "url": extra.get("url") or extra.get("article_url"),
                 "removed_at": (a.extra or {}).get("progress", {}).get("removed_at"), "why": a.why})
            new_extra = {k: v for k, v in published.extra.items() if not k.startswith("pause_")}
            extra.update(new_extra)
            extra["url"] = published.url
            if d.platform == "zalo":
                extra["article_url"] = published.url
        values["extra"] = extra
        with self.store.session() as s:
            result = s.execute(
                update(PostAction)
                .where(PostAction.id == a.id, PostAction.state == DeliveryState.SENDING,
                       PostAction.lease_owner == self.owner)
                .values(state="done", done_at=now, needs_check=False, lease_owner=None, lease_until=None,
                        next_attempt_at=None, new_post_id=published.post_id if published else None,
                        reason=note, updated_at=now)
            )
            ok = result.rowcount == 1
            if ok:
                s.execute(update(Delivery).where(Delivery.id == d.id).values(**values))
                s.add(AuditLog(action=f"action.{a.action}", subject=str(a.id),
                               detail={"channel": a.channel_id, "content": a.content_id, "post": a.target_post_id,
                                       "new_post": published.post_id if published else None,
                                       "version": content.version, "why": a.why, "note": note}))
        with self._lock:
            self._acting.discard(a.id or 0)
        if not ok:
            log.warning("action %s: quyền giữ đã hết hạn; không ghi đè", a.id)
            return "lease-lost"
        return {"remove": "removed", "edit": "edited", "repost": "reposted"}.get(a.action, "done")

    def _sent(self, d: Delivery, published: Published, reconciled: bool = False, version: int | None = None) -> bool:
        assert d.id is not None
        extra = dict(published.extra)
        pause_channel = extra.pop("pause_channel_seconds", None)
        pause_app = extra.pop("pause_app_seconds", None)
        if reconciled:
            extra["reconciled"] = True
        ok = self._finish(
            d.id,
            current=d,
            state=DeliveryState.SENT,
            platform_post_id=published.post_id,
            sent_at=self.clock.now(),
            needs_check=False,
            next_attempt_at=None,
            reason="đã có trên nền tảng (đối soát sau sự cố)" if reconciled else None,
            extra_update={**extra, **({"url": published.url} if published.url else {})},
            post_version=version,
        )
        if pause_channel:
            self._pause(d.channel_id, d.platform, "channel", float(pause_channel), "gần chạm giới hạn gọi API")
        if pause_app:
            self._pause(d.channel_id, d.platform, "app", float(pause_app), "ứng dụng gần chạm giới hạn gọi API")
        return ok

    def _retry(self, d: Delivery, attempts: int, exc: RetryLater, *, unsure: bool = False) -> str:
        """Back off (or pause the channel/app). ``unsure``: an earlier call may have made the post and
        no check has ruled it out since, so the next attempt reconciles first whatever this error says."""
        assert d.id is not None
        reason = scrub(exc.message, self.secrets)
        progress = {**post_progress(d), **exc.progress} if exc.progress else None
        needs_check = bool(exc.maybe_sent or unsure)
        extra_update = {"progress": progress} if progress else None
        if exc.scope in ("channel", "app"):
            wait = exc.retry_after or backoff(1, base=self.backoff_base)
            self._pause(d.channel_id, d.platform, exc.scope, wait, reason)
            if exc.maybe_sent or exc.in_flight:
                return self._settle(d, exc, attempts - 1, wait, reason, extra_update)
            # A pause is the platform's doing, not this delivery's: it does not use up its budget.
            ok = self._finish(d.id, current=d, state=DeliveryState.RETRY, attempts=attempts - 1,
                              needs_check=needs_check, next_attempt_at=self._after(wait),
                              reason=f"tạm dừng: {reason}", extra_update=extra_update)
            return "paused" if ok else "lease-lost"
        if exc.wait:
            # A planned wait (night window, spent quota, still processing) is not a failed attempt.
            wait = exc.retry_after or backoff(1, base=self.backoff_base)
            if exc.maybe_sent or exc.in_flight:
                return self._settle(d, exc, attempts - 1, wait, reason, extra_update)
            ok = self._finish(d.id, current=d, state=DeliveryState.RETRY, attempts=attempts - 1,
                              needs_check=needs_check, next_attempt_at=self._after(wait),
                              reason=f"đang chờ: {reason}", extra_update=extra_update)
            return "waiting" if ok else "lease-lost"
        if attempts >= MAX_ATTEMPTS and not needs_check:
            ok = self._finish(d.id, current=d, state=DeliveryState.FAILED, needs_check=False,
                              reason=f"hết {MAX_ATTEMPTS} lần thử: {reason}")
            return "failed" if ok else "lease-lost"
        if attempts >= MAX_ATTEMPTS + 2:
            # Even an unclear answer ends: the person reading the report checks the platform.
            ok = self._finish(d.id, current=d, state=DeliveryState.FAILED, needs_check=False,
                              reason=f"hết số lần thử, kết quả lần cuối không rõ — hãy kiểm tra trên trang: {reason}")
            return "failed" if ok else "lease-lost"
        wait = backoff(attempts, exc.retry_after, base=self.backoff_base)
        if exc.maybe_sent or exc.in_flight:
            return self._settle(d, exc, attempts, wait, reason, extra_update)
        ok = self._finish(d.id, current=d, state=DeliveryState.RETRY, needs_check=needs_check,
                          next_attempt_at=self._after(wait), reason=reason, extra_update=extra_update)
        return "retry" if ok else "lease-lost"

    def _after(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    def _settle(self, d: Delivery, exc: RetryLater, attempts: int, wait: float, reason: str,
                extra_update: dict[str, Any] | None) -> str:
        """After an unclear answer: keep the channel fenced while the platform may still be working.

        The call went unclear (a timeout, a dropped connection, a server error on a creating call):
        the platform may still be processing it, and may make the post only at the end. So the
        delivery stays in ``sending`` under a *settle lease* that ends ``CAMPAIGN_SETTLE_SECONDS``
        after this moment — read from the clock now, after the call, never from a time taken before
        it. A channel with a delivery in ``sending`` is leased to nobody (this worker included), so
        no other call of the channel, not even the reconcile read, can start in that window, on any
        machine. When the settle lease has run out, :meth:`release_settled` turns the delivery back
        into ``retry`` with ``needs_check``: the next attempt reads the platform first and resends
        only a post that is not there. The lease is no longer renewed: if this process dies now,
        nothing changes.
        """
        assert d.id is not None
        now = self.clock.now()
        until = now + timedelta(seconds=self.settle)
        retry_at = max(until, now + timedelta(seconds=wait))
        ok = self._finish(
            d.id, current=d, state=DeliveryState.SENDING, attempts=attempts, needs_check=True,
            lease_owner=self.owner + SETTLING, lease_until=until, next_attempt_at=retry_at,
            reason=f"chờ nền tảng xử lý xong lần gửi chưa rõ kết quả (đến {until:%H:%M:%S} UTC), rồi kiểm tra "
                   f"trước khi gửi lại: {reason}",
            extra_update={**(extra_update or {}), "unclear": {"at": now.isoformat(), "code": exc.code}},
            audit_action="delivery.unclear",
        )
        return "unclear" if ok else "lease-lost"

    # --- token upkeep -------------------------------------------------------------------------

    def keep_tokens_alive(self) -> int:
        """Renew rotating tokens (Zalo) once a day, so an OA that rarely posts never loses its chain.

        Each renewal is made under the channel's lease, like a post: one call in flight per OA."""
        if self.force_outbox:
            return 0
        renewed = 0
        for cid, row in list(self.rows.items()):
            if not row.active or not (row.token_env and self.env.get(row.token_env)):
                continue
            key = f"keepalive:{cid}"
            today = self.clock.now().date().isoformat()
            with self.store.session() as s:
                mark = s.get(Meta, key)
                if mark is not None and mark.value == today:
                    continue
            channel = self.channel(cid)
            keep_alive = getattr(channel, "keep_alive", None)
            if keep_alive is None:
                continue
            if not self._acquire(cid):
                continue  # busy (a post in flight, paused or held): tried again on the next pass
            try:
                keep_alive()
            except HoldChannel as exc:
                self._hold(cid, exc)
                continue
            except Exception as exc:  # noqa: BLE001 - a renewal that fails now is tried again on the next pass
                log.warning("keep-alive %s: %s", cid, scrub(str(exc), self.secrets))
                continue
            finally:
                self._release(cid)
            with self.store.session() as s:
                mark = s.get(Meta, key) or Meta(key=key, value=today)
                mark.value = today
                s.add(mark)
            renewed += 1
        return renewed

    # --- engagement ---------------------------------------------------------------------------

    def read_engagement(self) -> int:
        """Read reactions/comments/shares of recently sent posts back, at most every few hours.

        Each channel is read under its lease, like a post, so a read never overlaps a post (or
        another read) on the same Page or OA; a busy channel is read on a later pass."""
        if self.force_outbox:
            return 0
        now = self.clock.now()
        with self.store.session() as s:
            sent = s.exec(
                select(Delivery).where(
                    Delivery.state == DeliveryState.SENT,
                    col(Delivery.sent_at) >= now - ENGAGEMENT_WINDOW,
                    col(Delivery.platform_post_id).is_not(None),
                    col(Delivery.removed_at).is_(None),  # a removed post has nothing left to read
                )
            ).all()
            last = dict(
                s.exec(
                    select(Engagement.delivery_id, Engagement.read_at).order_by(col(Engagement.read_at))
                ).all()
            )
        by_channel: dict[str, list[Delivery]] = {}
        for d in sent:
            if (d.platform_post_id or "").startswith("outbox:"):
                continue
            # first read a few hours after posting (nothing to count before), then every few hours
            since = last.get(d.id) or d.sent_at
            if since is not None and since > now - ENGAGEMENT_EVERY:
                continue
            by_channel.setdefault(d.channel_id, []).append(d)
        total = 0
        for cid, ds in by_channel.items():
            if cid not in self.rows or not self._acquire(cid):
                continue
            try:
                readings = self.channel(cid).engagement([d.platform_post_id for d in ds if d.platform_post_id])
            except Exception as exc:  # noqa: BLE001 - engagement is best effort; posting is not affected
                log.warning("engagement %s: %s", cid, scrub(str(exc), self.secrets))
                continue
            finally:
                self._release(cid)
            read_at = self.clock.now()  # when the answer came, not when the pass began
            with self.store.session() as s:
                for d in ds:
                    r = readings.get(d.platform_post_id or "")
                    if r is None:
                        continue
                    s.add(Engagement(delivery_id=d.id or 0, read_at=read_at, reactions=r.reactions,
                                     comments=r.comments, shares=r.shares, views=r.views, extra=r.extra))
                    total += 1
        return total


def post_progress(d: Delivery) -> dict[str, Any]:
    return dict((d.extra or {}).get("progress", {}))
