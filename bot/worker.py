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
UPDATE on ``channelstate``) to post to it, whatever the number of workers or machines.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
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
)
from bot.store.models import Channel as ChannelRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = 60.0  # seconds; doubles each attempt, capped below
MAX_BACKOFF = 3600.0
LEASE = timedelta(minutes=5)
PER_CHANNEL_PER_RUN = 25
ENGAGEMENT_EVERY = timedelta(hours=6)
ENGAGEMENT_WINDOW = timedelta(days=14)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Exponential back-off with jitter; a platform's own wait wins when longer."""
    delay = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


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
    ) -> None:
        self.campaign = campaign
        self.store = store
        self.env = env
        self.owner = owner or default_owner()
        self.max_workers = max_workers
        self.force_outbox = force_outbox
        self.on_delivery = on_delivery
        self.metrics = metrics
        self.ctx = ChannelContext(campaign.workspace, store, env, campaign, transport)
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        with store.session() as s:
            rows = s.exec(select(ChannelRow)).all()
        self.rows = {r.id: r for r in rows}
        self.secrets = secrets_of(env, list(rows))

    # --- channels -----------------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel:
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None:
                row = self.rows[channel_id]
                ch = OutboxChannel(row, self.ctx) if self.force_outbox else open_channel(row, self.ctx)
                self._channels[channel_id] = ch
            return ch

    def close(self) -> None:
        for ch in self._channels.values():
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                log.debug("closing %s failed", ch)

    def _acquire(self, channel_id: str, now: datetime) -> bool:
        with self.store.session() as s:
            result = s.execute(
                update(ChannelState)
                .where(
                    ChannelState.channel_id == channel_id,
                    ChannelState.status == "active",
                    or_(col(ChannelState.paused_until).is_(None), col(ChannelState.paused_until) <= now),
                    or_(
                        col(ChannelState.lease_until).is_(None),
                        col(ChannelState.lease_until) < now,
                        ChannelState.lease_owner == self.owner,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=now + LEASE)
            )
            return result.rowcount == 1

    def _release(self, channel_id: str) -> None:
        with self.store.session() as s:
            s.execute(
                update(ChannelState)
                .where(ChannelState.channel_id == channel_id, ChannelState.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    # --- housekeeping ---------------------------------------------------------------------------

    def release_renewed_holds(self, now: datetime) -> list[str]:
        """A held channel whose token variable now holds a different token is released."""
        released = []
        with self.store.session() as s:
            for st in s.exec(select(ChannelState).where(ChannelState.status == "held")).all():
                row = self.rows.get(st.channel_id)
                token = self.env.get(row.token_env or "") if row else None
                if not token or not st.token_fingerprint or fingerprint(token) == st.token_fingerprint:
                    continue
                st.status, st.reason, st.fix, st.held_at, st.token_fingerprint = "active", None, None, None, None
                st.updated_at = now
                s.add(st)
                s.add(AuditLog(action="channel.released", subject=st.channel_id, detail={"why": "token mới trong môi trường"}))
                released.append(st.channel_id)
        return released

    def reclaim_expired(self, now: datetime) -> int:
        """Deliveries left in ``sending`` by a dead process: reconcile before any resend."""
        with self.store.session() as s:
            result = s.execute(
                update(Delivery)
                .where(Delivery.state == DeliveryState.SENDING, col(Delivery.lease_until) < now)
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
            return result.rowcount or 0

    def due_channels(self, now: datetime) -> list[str]:
        with self.store.session() as s:
            paused_apps = {
                st.channel_id.split(":", 1)[1]
                for st in s.exec(select(ChannelState).where(col(ChannelState.channel_id).startswith("app:"))).all()
                if st.paused_until and st.paused_until > now
            }
            rows = s.exec(
                select(Delivery.channel_id, Delivery.platform)
                .join(ChannelState, ChannelState.channel_id == Delivery.channel_id)
                .where(
                    col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
                    col(Delivery.due_at) <= now,
                    or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
                    ChannelState.status == "active",
                    or_(col(ChannelState.paused_until).is_(None), col(ChannelState.paused_until) <= now),
                )
                .distinct()
            ).all()
        return sorted(cid for cid, platform in rows if self.force_outbox or platform not in paused_apps)

    # --- one run ------------------------------------------------------------------------------

    def run_once(self, now: datetime) -> WorkerReport:
        report = WorkerReport()
        self.release_renewed_holds(now)
        reclaimed = self.reclaim_expired(now)
        if reclaimed:
            report.outcomes["reclaimed"] += reclaimed
        if in_quiet_hours(self.campaign, now):
            return report
        channels = [c for c in self.due_channels(now) if c in self.rows]
        if not channels:
            return report
        if self.max_workers <= 1 or len(channels) == 1:
            for cid in channels:
                report.merge(self._run_channel(cid, now))
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(channels))) as pool:
                for part in pool.map(lambda cid: self._run_channel(cid, now), channels):
                    report.merge(part)
        return report

    def _next_due(self, channel_id: str, now: datetime) -> Delivery | None:
        with self.store.session() as s:
            return s.exec(
                select(Delivery)
                .where(
                    Delivery.channel_id == channel_id,
                    col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
                    col(Delivery.due_at) <= now,
                    or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
                )
                .order_by(col(Delivery.priority).desc(), col(Delivery.due_at), col(Delivery.id))
                .limit(1)
            ).first()

    def _run_channel(self, channel_id: str, now: datetime) -> WorkerReport:
        report = WorkerReport()
        if not self._acquire(channel_id, now):
            return report
        try:
            for _ in range(PER_CHANNEL_PER_RUN):
                d = self._next_due(channel_id, now)
                if d is None:
                    break
                outcome = self.deliver(d, now)
                report.outcomes[outcome] += 1
                if self.on_delivery:
                    self.on_delivery(outcome)
                if outcome in ("held", "paused"):
                    with self.store.session() as s:
                        st = s.get(ChannelState, channel_id)
                        if st is not None and st.status == "held":
                            report.held[channel_id] = st.reason or ""
                    break
        finally:
            self._release(channel_id)
        return report

    def _claim(self, d: Delivery, now: datetime) -> bool:
        with self.store.session() as s:
            result = s.execute(
                update(Delivery)
                .where(
                    Delivery.id == d.id,
                    col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
                )
                .values(
                    state=DeliveryState.SENDING,
                    attempts=Delivery.attempts + 1,
                    lease_owner=self.owner,
                    lease_until=now + LEASE,
                    sending_since=now,
                    first_sent_attempt_at=d.first_sent_attempt_at or now,
                    updated_at=now,
                )
            )
            return result.rowcount == 1

    def _finish(self, delivery_id: int, now: datetime, **values: Any) -> None:
        extra_update = values.pop("extra_update", None)
        with self.store.session() as s:
            d = s.get(Delivery, delivery_id)
            assert d is not None
            for k, v in values.items():
                setattr(d, k, v)
            if extra_update:
                d.extra = {**(d.extra or {}), **extra_update}
            d.lease_owner, d.lease_until, d.updated_at = None, None, now
            s.add(d)
            s.add(
                AuditLog(
                    action=f"delivery.{d.state}",
                    subject=str(d.id),
                    detail={"channel": d.channel_id, "content": d.content_id, "reason": d.reason, "post": d.platform_post_id},
                )
            )

    def _pause(self, channel_id: str, platform: str, scope: str, seconds: float, reason: str, now: datetime) -> None:
        target = f"app:{platform}" if scope == "app" else channel_id
        until = now + timedelta(seconds=seconds)
        with self.store.session() as s:
            st = s.get(ChannelState, target) or ChannelState(channel_id=target)
            if st.paused_until is None or st.paused_until < until:
                st.paused_until, st.pause_reason, st.updated_at = until, reason, now
            s.add(st)
            s.add(AuditLog(action="channel.paused", subject=target, detail={"until": until.isoformat(), "reason": reason}))

    def _hold(self, channel_id: str, exc: HoldChannel, now: datetime) -> None:
        row = self.rows[channel_id]
        token = self.env.get(row.token_env or "")
        with self.store.session() as s:
            st = s.get(ChannelState, channel_id) or ChannelState(channel_id=channel_id)
            st.status, st.reason, st.fix, st.held_at = "held", scrub(exc.message, self.secrets), exc.fix, now
            st.token_fingerprint = fingerprint(token) if token else None
            st.updated_at = now
            s.add(st)
            s.add(AuditLog(action="channel.held", subject=channel_id, detail={"reason": st.reason, "fix": exc.fix}))

    def deliver(self, d: Delivery, now: datetime) -> str:
        """Take one delivery as far as it can go now; returns the outcome's name."""
        assert d.id is not None
        with self.store.session() as s:
            content = s.get(ContentItem, d.content_id)
        if content is None or not content.approved:
            self._finish(d.id, now, state=DeliveryState.SKIPPED, reason="bài không còn được duyệt: không đăng")
            return "skipped"
        if content.expires is not None and content.expires <= now:
            self._finish(d.id, now, state=DeliveryState.SKIPPED, reason="bài đã hết hạn (expires) trước khi kịp đăng")
            return "skipped"
        if not self._claim(d, now):
            return "taken"
        d.first_sent_attempt_at = d.first_sent_attempt_at or now
        attempts = d.attempts + 1
        channel = self.channel(d.channel_id)
        try:
            images = images_for(content, self.campaign, self.metrics)
            post = build_post(d, content, self.campaign, images)
        except Exception as exc:  # noqa: BLE001 - nothing reached the platform: a plain retry
            log.warning("delivery %s: cannot prepare: %s", d.id, exc)
            failure = RetryLater(f"không chuẩn bị được bài (banner/ảnh): {type(exc).__name__}: {exc}")
            return self._retry(d, attempts, failure, now)
        try:
            if d.needs_check:
                found = channel.find_existing(post)
                if found is not None:
                    self._sent(d, found, now, reconciled=True)
                    return "reconciled"
            published = channel.publish(post)
        except HoldChannel as exc:
            self._hold(d.channel_id, exc, now)
            self._finish(
                d.id,
                now,
                state=DeliveryState.PENDING,
                attempts=attempts - 1,
                needs_check=d.needs_check,
                reason=f"chờ kênh được mở lại: {scrub(exc.message, self.secrets)}",
                extra_update={"progress": {**post_progress(d), **exc.progress}} if exc.progress else None,
            )
            return "held"
        except Rejected as exc:
            self._finish(d.id, now, state=DeliveryState.FAILED, needs_check=False,
                         reason=f"nền tảng từ chối: {scrub(exc.message, self.secrets)}")
            return "failed"
        except RetryLater as exc:
            return self._retry(d, attempts, exc, now)
        except Exception as exc:  # noqa: BLE001 - unknown outcome: reconcile before resending
            log.warning("delivery %s: %s", d.id, scrub(f"{type(exc).__name__}: {exc}", self.secrets))
            return self._retry(d, attempts, RetryLater(f"lỗi không rõ: {type(exc).__name__}: {exc}", maybe_sent=True), now)
        self._sent(d, published, now)
        return "sent"

    def _sent(self, d: Delivery, published: Published, now: datetime, reconciled: bool = False) -> None:
        assert d.id is not None
        extra = dict(published.extra)
        pause_channel = extra.pop("pause_channel_seconds", None)
        pause_app = extra.pop("pause_app_seconds", None)
        if reconciled:
            extra["reconciled"] = True
        self._finish(
            d.id,
            now,
            state=DeliveryState.SENT,
            platform_post_id=published.post_id,
            sent_at=now,
            needs_check=False,
            next_attempt_at=None,
            reason="đã có trên nền tảng (đối soát sau sự cố)" if reconciled else None,
            extra_update={**extra, **({"url": published.url} if published.url else {})},
        )
        if pause_channel:
            self._pause(d.channel_id, d.platform, "channel", float(pause_channel), "gần chạm giới hạn gọi API", now)
        if pause_app:
            self._pause(d.channel_id, d.platform, "app", float(pause_app), "ứng dụng gần chạm giới hạn gọi API", now)

    def _retry(self, d: Delivery, attempts: int, exc: RetryLater, now: datetime) -> str:
        assert d.id is not None
        reason = scrub(exc.message, self.secrets)
        progress = {**post_progress(d), **exc.progress} if exc.progress else None
        if exc.scope in ("channel", "app"):
            wait = exc.retry_after or backoff(1)
            self._pause(d.channel_id, d.platform, exc.scope, wait, reason, now)
            # A pause is the platform's doing, not this delivery's: it does not use up its budget.
            self._finish(d.id, now, state=DeliveryState.RETRY, attempts=attempts - 1, needs_check=exc.maybe_sent,
                         next_attempt_at=now + timedelta(seconds=wait), reason=f"tạm dừng: {reason}",
                         extra_update={"progress": progress} if progress else None)
            return "paused"
        if attempts >= MAX_ATTEMPTS and not exc.maybe_sent:
            self._finish(d.id, now, state=DeliveryState.FAILED, needs_check=False,
                         reason=f"hết {MAX_ATTEMPTS} lần thử: {reason}")
            return "failed"
        if attempts >= MAX_ATTEMPTS + 2:
            # Even an unclear answer ends: the person reading the report checks the platform.
            self._finish(d.id, now, state=DeliveryState.FAILED, needs_check=False,
                         reason=f"hết số lần thử, kết quả lần cuối không rõ — hãy kiểm tra trên trang: {reason}")
            return "failed"
        wait = backoff(attempts, exc.retry_after)
        self._finish(d.id, now, state=DeliveryState.RETRY, needs_check=exc.maybe_sent or False,
                     next_attempt_at=now + timedelta(seconds=wait), reason=reason,
                     extra_update={"progress": progress} if progress else None)
        return "retry"

    # --- engagement ---------------------------------------------------------------------------

    def read_engagement(self, now: datetime) -> int:
        """Read reactions/comments/shares of recently sent posts back, at most every few hours."""
        if self.force_outbox:
            return 0
        with self.store.session() as s:
            sent = s.exec(
                select(Delivery).where(
                    Delivery.state == DeliveryState.SENT,
                    col(Delivery.sent_at) >= now - ENGAGEMENT_WINDOW,
                    col(Delivery.platform_post_id).is_not(None),
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
            read_at = last.get(d.id)
            if read_at is not None and read_at > now - ENGAGEMENT_EVERY:
                continue
            by_channel.setdefault(d.channel_id, []).append(d)
        total = 0
        for cid, ds in by_channel.items():
            if cid not in self.rows:
                continue
            try:
                readings = self.channel(cid).engagement([d.platform_post_id for d in ds if d.platform_post_id])
            except Exception as exc:  # noqa: BLE001 - engagement is best effort; posting is not affected
                log.warning("engagement %s: %s", cid, scrub(str(exc), self.secrets))
                continue
            with self.store.session() as s:
                for d in ds:
                    r = readings.get(d.platform_post_id or "")
                    if r is None:
                        continue
                    s.add(Engagement(delivery_id=d.id or 0, read_at=now, reactions=r.reactions, comments=r.comments,
                                     shares=r.shares, views=r.views, extra=r.extra))
                    total += 1
        return total


def post_progress(d: Delivery) -> dict[str, Any]:
    return dict((d.extra or {}).get("progress", {}))
