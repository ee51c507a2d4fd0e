"""The :class:`Worker`: its channels, leases and heartbeat, claiming, and one pass over what is due.

What a claimed delivery becomes is in bot.worker.publish (posts) and bot.worker.actions (edits,
reposts, removals); the queue's SQL is in bot.store.deliveries. See bot.worker for the rules.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.channels import Channel, ChannelContext, HoldChannel, open_channel
from bot.channels.outbox import OutboxChannel
from bot.clock import Clock
from bot.load import Campaign
from bot.plan import in_quiet_hours
from bot.store import channels as channel_state
from bot.store import deliveries as queue
from bot.store.db import Store
from bot.store.models import Channel as ChannelRow
from bot.store.models import PostAction, utcnow
from bot.worker import actions, publish, upkeep
from bot.worker.policy import (
    BASE_BACKOFF,
    BATCH,
    LEASE,
    PER_CHANNEL_PER_RUN,
    SETTLE,
    WorkerReport,
    default_owner,
    log,
    seconds_setting,
    secrets_of,
)


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
        self.lease = lease or timedelta(seconds=seconds_setting(env, "CAMPAIGN_LEASE_SECONDS", LEASE.total_seconds()))
        self.backoff_base = seconds_setting(env, "CAMPAIGN_BACKOFF_SECONDS", BASE_BACKOFF)
        self.settle = seconds_setting(env, "CAMPAIGN_SETTLE_SECONDS", SETTLE)
        self.heartbeat = heartbeat
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
        self._chained = threading.local()  # .chain: the finish a drain keeps back for the next claim (_drain)
        rows = channel_state.channel_rows(store)
        self.rows = {r.id: r for r in rows}
        self.secrets = secrets_of(env, list(rows))

    # --- channels -----------------------------------------------------------------------------

    def _row(self, channel_id: str) -> ChannelRow | None:
        """The channel's configuration; channels added after this worker started are read on demand."""
        row = self.rows.get(channel_id)
        if row is None:
            row = channel_state.channel_row(self.store, channel_id)
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

    def _app(self, channel_id: str) -> str:
        """The id of the app-wide pause that applies to the channel (none for the outbox)."""
        row = self._row(channel_id)
        return queue.NO_APP if self.force_outbox else f"app:{row.platform if row else ''}"

    # --- leases -------------------------------------------------------------------------------

    def _acquire(self, channel_id: str) -> bool:
        now = self.clock.now()
        ok = queue.acquire(self.store, self.owner, channel_id, now, now + self.lease)
        if ok:
            with self._lock:
                self._held.add(channel_id)
        return ok

    def _release(self, channel_id: str) -> None:
        with self._lock:
            self._held.discard(channel_id)  # not renewed any more, even if the write below fails
        queue.release(self.store, self.owner, channel_id, self.clock.now())

    def renew_leases(self) -> None:
        """Push the end of every lease this worker holds to ``now + lease`` (the heartbeat)."""
        with self._lock:
            channels, ids, acting = sorted(self._held), sorted(self._sending), sorted(self._acting)
        if not channels and not ids and not acting:
            return
        queue.renew(self.store, self.owner, self.clock.now() + self.lease, channels=channels, deliveries=ids,
                    actions=acting)

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
        return upkeep.release_renewed_holds(self)

    def release_settled(self) -> int:
        """Deliveries whose unclear call has had its settle window: back to ``retry``, to be reconciled.

        After a timeout or a dropped connection the delivery stays in ``sending`` under a settle
        lease (see :func:`bot.worker.publish.settle`), which keeps its channel closed to every worker
        for that long; only then may a reconcile read (and, if the post is not there, a resend) follow."""
        return queue.release_settled(self.store, self.clock.now())

    def reclaim_expired(self) -> int:
        """Deliveries left in ``sending`` by a dead process: reconcile before any resend."""
        return queue.reclaim_expired(self.store, self.clock.now())

    def keep_tokens_alive(self) -> int:
        """Renew rotating tokens (Zalo) once a day, under the channel's lease (bot.worker.upkeep)."""
        return upkeep.keep_tokens_alive(self)

    def read_engagement(self) -> int:
        """Read reactions/comments/shares of recent posts back, under each channel's lease (bot.worker.upkeep)."""
        return upkeep.read_engagement(self)

    # --- claiming -----------------------------------------------------------------------------

    def claim_batch(self, limit: int | None = None, since: datetime | None = None) -> list[Any]:
        """Claim up to ``limit`` due deliveries, at most one per channel, each with its channel's lease.

        Each returned delivery (or post action) is in ``sending`` with this worker's lease, and this
        worker holds its channel. ``since``: the start of the pass — a channel released after it was
        served in this pass and is left for the next (as is every channel this worker holds now).
        """
        now = self.clock.now()
        leased = queue.claim_channels(self.store, self.owner, now, now + self.lease, limit=max(1, limit or self.batch),
                                      since=since, actions_only=self._actions_only, outbox=self.force_outbox,
                                      wall=utcnow())
        with self._lock:
            self._held.update(cid for cid, _ in leased)
            self._sending.update(d.id for _, d in leased if d is not None)
        claimed: list[Any] = []
        for cid, d in leased:
            if d is None:  # not claimed with the lease (an edit may be due first): ask the channel
                d = self.claim_next(cid)
            if d is None:
                self._release(cid)
                continue
            claimed.append(d)
        return claimed

    def claim_next(self, channel_id: str) -> Any:
        """The channel's next due edit or removal, else its next due delivery, moved to ``sending`` — only
        while this worker holds the channel, which is active, not paused (nor its platform), and has
        nothing in ``sending`` (a call in flight, or one settling after an unclear answer)."""
        now = self.clock.now()
        item = queue.claim_next(self.store, self.owner, channel_id, now, now + self.lease, utcnow(),
                                app=self._app(channel_id), actions_only=self._actions_only)
        if item is not None:
            with self._lock:
                (self._acting if queue.is_action(item) else self._sending).add(item.id)
        return item

    def _claim(self, d: Any) -> Any:
        """Claim one given due delivery or action (not through a channel lease): the row in ``sending``, or None."""
        now = self.clock.now()
        row = queue.claim(self.store, self.owner, d, now, now + self.lease, utcnow())
        if row is not None:
            with self._lock:
                (self._acting if queue.is_action(row) else self._sending).add(row.id)
        return row

    def _finish(self, delivery_id: int, *, claimed: bool = True, current: Any = None, audit_action: str | None = None,
                model: type = queue.DeliveryRow, **values: Any) -> bool:
        """Record a delivery's (or a post action's) new state. ``claimed``: only while this worker still
        holds it in 'sending' (fenced) — a worker whose lease expired never overwrites what another recorded.
        ``current``: the row as this worker holds it (saves reading it again; its type is the table).

        Inside :meth:`_drain`, the finish of the delivery being drained is kept back (True is returned
        at once) and recorded by the drain right after, together with the claim of the channel's next
        delivery when there is one to take (:func:`bot.store.deliveries.finish_then_claim`); if that
        fenced write is refused, the drain counts the delivery as ``lease-lost``, as here."""
        action = queue.is_action(current) if current is not None else model in (queue.ActionRow, PostAction)
        chain = getattr(self._chained, "chain", None)
        if (chain is not None and chain.kwargs is None and claimed and not action and current is not None
                and delivery_id == chain.item.id):
            chain.item, chain.kwargs = current, {"audit_action": audit_action, **values}
            return True
        ok = queue.finish(self.store, self.owner, delivery_id, self.clock.now(), action=action, fenced=claimed,
                          current=current, audit_action=audit_action, extra_update=values.pop("extra_update", None),
                          **values)
        self._finished(delivery_id, action, ok, values.get("state"))
        return ok

    def _finished(self, item_id: int, action: bool, ok: bool, state: Any) -> None:
        with self._lock:
            (self._acting if action else self._sending).discard(item_id)
        if not ok:
            log.warning("delivery %s: quyền giữ đã hết hạn và lượt gửi đã chuyển cho tiến trình khác; "
                        "không ghi đè (%s)", item_id, state)

    def _flush(self, chain: _Chain, *, claim: bool) -> tuple[bool, Any, bool]:
        """Record the finish a drain kept back; ``claim``: with the claim of the channel's next delivery,
        or the channel's release when it has nothing due (one statement on PostgreSQL). (Whether the
        fence held, the next delivery or None, whether the channel was released.)"""
        kw, d = chain.kwargs or {}, chain.item
        chain.kwargs = None
        now = self.clock.now()
        released = False
        if claim:
            ok, nxt, released = queue.finish_then_claim(self.store, self.owner, d, now, now + self.lease, utcnow(),
                                                        app=self._app(d.channel_id), **kw)
        else:
            ok, nxt = queue.finish(self.store, self.owner, d.id, now, action=False, current=d, **kw), None
        self._finished(d.id, False, ok, kw.get("state"))
        with self._lock:
            if nxt is not None:
                (self._acting if queue.is_action(nxt) else self._sending).add(nxt.id)
            if released:
                self._held.discard(d.channel_id)
        return ok, nxt, released

    def _keep_decided(self, chain: _Chain | None) -> None:
        """After an error in a drain: record the finish decided before it, if it was not written yet (a
        failure here too leaves the row in ``sending``: it is reclaimed and reconciled)."""
        if chain is None or chain.kwargs is None:
            return
        try:
            self._flush(chain, claim=False)
        except Exception:  # noqa: BLE001 - the drain's own error is already logged; the lease runs out
            log.exception("delivery %s: không ghi được kết quả; sẽ kiểm tra trên nền tảng khi thu hồi", chain.item.id)

    def _pause(self, channel_id: str, platform: str, scope: str, seconds: float, reason: str) -> None:
        target = f"app:{platform}" if scope == "app" else channel_id
        now = self.clock.now()  # the pause starts when it is decided, not when the call started
        channel_state.pause(self.store, target, now, now + timedelta(seconds=seconds), reason)

    def _hold(self, channel_id: str, exc: HoldChannel) -> None:
        from bot.channels import fingerprint

        row = self._row(channel_id)
        token = self.env.get(row.token_env or "") if row else None
        channel_state.hold(self.store, channel_id, self.clock.now(), reason=publish.scrub(exc.message, self.secrets),
                           fix=exc.fix, token_fingerprint=fingerprint(token) if token else None)

    def deliver(self, d: Any) -> str:
        """Take one delivery (or post action) as far as it can go now; returns the outcome's name."""
        if queue.is_action(d):
            return actions.act(self, d)
        return publish.deliver(self, d)

    def act(self, a: Any) -> str:
        return actions.act(self, a)

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
        return report

    def _publish_due(self, report: WorkerReport) -> None:
        """Serve each channel with due work once (at most PER_CHANNEL_PER_RUN deliveries), ``max_workers``
        at a time. While claims come back full (more channels are due than this worker can serve at once),
        ``batch`` channels (at most twice ``max_workers``) are claimed at a time and wait their turn in
        ``ready`` (leased, their first row in ``sending``, renewed by the heartbeat): leasing reads every
        channel's state, so doing it for each free slot cost as much as the posts themselves when 400
        Pages each had one post due (issue 15). A short claim means few channels are due: then only free
        slots are claimed, so that other workers get their share."""
        slots = max(1, self.max_workers)
        busy: dict[Future[WorkerReport], str] = {}
        ready: deque[Any] = deque()
        since = self.clock.now()  # channels released after this were served in this pass
        ahead, plenty = min(self.batch, 2 * slots), False
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="deliver") as pool:
            while True:
                if len(busy) < slots and not ready and not self.stopping.is_set():
                    want = max(slots - len(busy), ahead) if plenty else slots - len(busy)
                    ready.extend(self.claim_batch(want, since))
                    plenty = len(ready) == want
                while len(busy) < slots and ready:  # claimed rows are in hand: served even when stopping
                    d = ready.popleft()
                    busy[pool.submit(self._drain, d)] = d.channel_id
                if not busy:
                    return
                done, _ = wait(list(busy), return_when=FIRST_COMPLETED)
                for future in done:
                    busy.pop(future)
                    report.merge(future.result())

    def _drain(self, first: Any) -> WorkerReport:
        """Deliver ``first``, then the channel's next due deliveries, then release the channel.

        A delivery's finish and the claim of the next one go to the store together (see :meth:`_finish`):
        on PostgreSQL one statement per delivery instead of two (issue 15)."""
        report = WorkerReport()
        channel_id = first.channel_id
        d: Any = first
        released = False  # the store gave the lease back with the last finish (finish_then_claim)
        try:
            for n in range(PER_CHANNEL_PER_RUN):
                if d is None:
                    break
                chain = None if queue.is_action(d) else _Chain(d)
                self._chained.chain = chain
                try:
                    outcome = self.deliver(d)
                    more = n + 1 < PER_CHANNEL_PER_RUN and outcome not in STOPS and not self.stopping.is_set()
                    nxt = None
                    if chain is not None and chain.kwargs is not None:
                        ok, nxt, released = self._flush(chain, claim=more)
                        if not ok:
                            outcome, more = "lease-lost", False
                except Exception:
                    log.exception("delivery %s: lỗi không mong đợi; lượt gửi sẽ được thu hồi khi hết hạn", d.id)
                    self._keep_decided(chain)
                    with self._lock:  # let its lease run out: it is reclaimed and reconciled
                        (self._acting if queue.is_action(d) else self._sending).discard(d.id or 0)
                    report.outcomes["error"] += 1
                    break
                finally:
                    self._chained.chain = None
                report.outcomes[outcome] += 1
                if self.on_delivery:
                    self.on_delivery(outcome)
                if outcome in ("held", "paused", "unclear"):
                    reason = channel_state.held_reason(self.store, channel_id)
                    if reason is not None:
                        report.held[channel_id] = reason
                if not more or released:
                    break
                d = nxt if nxt is not None else self.claim_next(channel_id)
        finally:
            if not released:
                self._release(channel_id)
        return report


# Outcomes after which a drain stops serving the channel for this pass.
STOPS = frozenset({"held", "paused", "unclear", "lease-lost"})


@dataclass(slots=True)
class _Chain:
    """The delivery a drain is on (the row as its finish was given it: its ``extra`` is what the finish
    merges into), and that finish once decided (kept back for :meth:`Worker._flush`)."""

    item: Any
    kwargs: dict[str, Any] | None = None
