"""One delivery: the platform call, and what its answer means for the delivery and its channel.

Every outcome is written through the worker's fenced finish (bot.store.deliveries.finish): a
worker that lost its lease never overwrites what another recorded. Nothing here keeps a time
across a platform call: what follows a call reads the clock again (bot.clock).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.channels import HoldChannel, Published, Rejected, RetryLater, spec
from bot.posts import build_post, images_for
from bot.store import deliveries as queue
from bot.store.models import DeliveryState
from bot.worker.policy import (
    MAX_ATTEMPTS,
    SETTLING,
    WorkerState,
    backoff,
    log,
    post_progress,
    scrub,
)


def _rest_after(platform: str, exc: Rejected) -> float | None:
    """How long the platform's error table says a channel rests after this refusal (None: not at all)."""
    try:
        return spec.get(platform).rest_after(exc)
    except spec.UnknownPlatform:
        return None

__all__ = ["deliver", "retry", "scrub", "sent", "settle"]


def deliver(w: WorkerState, d: Any) -> str:
    """Take one delivery as far as it can go now; returns the outcome's name.

    ``d`` is either due (``pending``/``retry``: it is claimed here) or already claimed by this
    worker (``sending`` under its lease, as :meth:`claim_batch` and :meth:`claim_next` return it).
    Nothing here keeps a time across the platform call: what follows a call reads the clock again.
    """
    assert d.id is not None
    claimed = d.state == DeliveryState.SENDING and d.lease_owner == w.owner
    # A claim hands the content item over with the row (read in the same statement); else read it now.
    content = getattr(d, "content", None) if claimed else None
    if content is None:
        content = queue.content(w.store, d.content_id)
    if content is None or not content.approved:
        ok = w._finish(d.id, claimed=claimed, current=d if claimed else None, state=DeliveryState.SKIPPED,
                          reason="bài không còn được duyệt: không đăng")
        return "skipped" if ok else "lease-lost"
    if content.expires is not None and content.expires <= w.clock.now():
        ok = w._finish(d.id, claimed=claimed, current=d if claimed else None, state=DeliveryState.SKIPPED,
                          reason="bài đã hết hạn (expires) trước khi kịp đăng")
        return "skipped" if ok else "lease-lost"
    if content.withdrawn and not d.needs_check:
        ok = w._finish(d.id, claimed=claimed, current=d if claimed else None, state=DeliveryState.SKIPPED,
                          reason=f"đã huỷ vì rút bài: {content.withdrawn}")
        return "skipped" if ok else "lease-lost"
    if not claimed:
        d = w._claim(d)
        if d is None:
            return "taken"
    attempts = d.attempts
    try:
        channel = w.channel(d.channel_id)
        images = images_for(content, w.campaign, w.metrics)
        post = build_post(d, content, w.campaign, images)
    except Exception as exc:  # noqa: BLE001 - nothing reached the platform: a plain retry
        log.warning("delivery %s: cannot prepare: %s", d.id, exc)
        failure = RetryLater(f"không chuẩn bị được bài (banner/ảnh): {type(exc).__name__}: {exc}")
        return retry(w, d, attempts, failure, unsure=d.needs_check)
    # Whether the platform may hold this post without our knowing: true until a check says no.
    unsure = d.needs_check
    try:
        if d.needs_check:
            found = channel.find_existing(post)
            if found is not None:
                return "reconciled" if sent(w, d, found, reconciled=True, version=content.version) \
                    else "lease-lost"
            unsure = False  # checked: not on the platform
        if content.withdrawn:
            # Withdrawn while an unclear call was pending: the check found nothing, so nothing is posted.
            ok = w._finish(d.id, current=d, state=DeliveryState.SKIPPED, needs_check=False,
                              reason=f"đã huỷ vì rút bài (đã kiểm tra: không có trên nền tảng): {content.withdrawn}")
            return "skipped" if ok else "lease-lost"
        published = channel.publish(post)
    except HoldChannel as exc:
        w._hold(d.channel_id, exc)
        ok = w._finish(
            d.id,
            current=d,
            state=DeliveryState.PENDING,
            attempts=attempts - 1,
            needs_check=unsure,
            reason=f"chờ kênh được mở lại: {scrub(exc.message, w.secrets)}",
            extra_update={"progress": {**post_progress(d), **exc.progress}} if exc.progress else None,
        )
        return "held" if ok else "lease-lost"
    except Rejected as exc:
        ok = w._finish(d.id, current=d, state=DeliveryState.FAILED, needs_check=False,
                          reason=f"nền tảng từ chối: {scrub(exc.message, w.secrets)}")
        rest = _rest_after(d.platform, exc)
        if rest:
            # Posting again at once would deepen a spam block: the channel rests while a person looks
            # (for which refusals, and how long, is the platform's error table: bot.channels.spec).
            w._pause(d.channel_id, d.platform, "channel", rest,
                     f"nền tảng tạm chặn đăng bài ({exc.code}): cần người kiểm tra kênh")
        return "failed" if ok else "lease-lost"
    except RetryLater as exc:
        return retry(w, d, attempts, exc, unsure=unsure)
    except Exception as exc:  # noqa: BLE001 - unknown outcome: reconcile before resending
        log.warning("delivery %s: %s", d.id, scrub(f"{type(exc).__name__}: {exc}", w.secrets))
        failure = RetryLater(f"lỗi không rõ: {type(exc).__name__}: {exc}", maybe_sent=True, in_flight=True)
        return retry(w, d, attempts, failure, unsure=True)
    return "sent" if sent(w, d, published, version=content.version) else "lease-lost"



def sent(w: WorkerState, d: Any, published: Published, reconciled: bool = False, version: int | None = None) -> bool:
    assert d.id is not None
    extra = dict(published.extra)
    pause_channel = extra.pop("pause_channel_seconds", None)
    pause_app = extra.pop("pause_app_seconds", None)
    if reconciled:
        extra["reconciled"] = True
    ok = w._finish(
        d.id,
        current=d,
        state=DeliveryState.SENT,
        platform_post_id=published.post_id,
        sent_at=w.clock.now(),
        needs_check=False,
        next_attempt_at=None,
        reason="đã có trên nền tảng (đối soát sau sự cố)" if reconciled else None,
        extra_update={**extra, **({"url": published.url} if published.url else {})},
        post_version=version,
    )
    if pause_channel:
        w._pause(d.channel_id, d.platform, "channel", float(pause_channel), "gần chạm giới hạn gọi API")
    if pause_app:
        w._pause(d.channel_id, d.platform, "app", float(pause_app), "ứng dụng gần chạm giới hạn gọi API")
    return ok

def retry(w: WorkerState, d: Any, attempts: int, exc: RetryLater, *, unsure: bool = False) -> str:
    """Back off (or pause the channel/app). ``unsure``: an earlier call may have made the post and
    no check has ruled it out since, so the next attempt reconciles first whatever this error says."""
    assert d.id is not None
    reason = scrub(exc.message, w.secrets)
    progress = {**post_progress(d), **exc.progress} if exc.progress else None
    needs_check = bool(exc.maybe_sent or unsure)
    extra_update = {"progress": progress} if progress else None
    if exc.scope in ("channel", "app"):
        wait = exc.retry_after or backoff(1, base=w.backoff_base)
        w._pause(d.channel_id, d.platform, exc.scope, wait, reason)
        if exc.maybe_sent or exc.in_flight:
            return settle(w, d, exc, attempts - 1, wait, reason, extra_update)
        # A pause is the platform's doing, not this delivery's: it does not use up its budget.
        ok = w._finish(d.id, current=d, state=DeliveryState.RETRY, attempts=attempts - 1,
                          needs_check=needs_check, next_attempt_at=after(w, wait),
                          reason=f"tạm dừng: {reason}", extra_update=extra_update)
        return "paused" if ok else "lease-lost"
    if exc.wait:
        # A planned wait (night window, spent quota, still processing) is not a failed attempt.
        wait = exc.retry_after or backoff(1, base=w.backoff_base)
        if exc.maybe_sent or exc.in_flight:
            return settle(w, d, exc, attempts - 1, wait, reason, extra_update)
        ok = w._finish(d.id, current=d, state=DeliveryState.RETRY, attempts=attempts - 1,
                          needs_check=needs_check, next_attempt_at=after(w, wait),
                          reason=f"đang chờ: {reason}", extra_update=extra_update)
        return "waiting" if ok else "lease-lost"
    if attempts >= MAX_ATTEMPTS and not needs_check:
        ok = w._finish(d.id, current=d, state=DeliveryState.FAILED, needs_check=False,
                          reason=f"hết {MAX_ATTEMPTS} lần thử: {reason}")
        return "failed" if ok else "lease-lost"
    if attempts >= MAX_ATTEMPTS + 2:
        # Even an unclear answer ends: the person reading the report checks the platform.
        ok = w._finish(d.id, current=d, state=DeliveryState.FAILED, needs_check=False,
                          reason=f"hết số lần thử, kết quả lần cuối không rõ — hãy kiểm tra trên trang: {reason}")
        return "failed" if ok else "lease-lost"
    wait = backoff(attempts, exc.retry_after, base=w.backoff_base)
    if exc.maybe_sent or exc.in_flight:
        return settle(w, d, exc, attempts, wait, reason, extra_update)
    ok = w._finish(d.id, current=d, state=DeliveryState.RETRY, needs_check=needs_check,
                      next_attempt_at=after(w, wait), reason=reason, extra_update=extra_update)
    return "retry" if ok else "lease-lost"

def after(w: WorkerState, seconds: float) -> datetime:
    return w.clock.now() + timedelta(seconds=seconds)

def settle(w: WorkerState, d: Any, exc: RetryLater, attempts: int, wait: float, reason: str,
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
    now = w.clock.now()
    until = now + timedelta(seconds=w.settle)
    retry_at = max(until, now + timedelta(seconds=wait))
    ok = w._finish(
        d.id, current=d, state=DeliveryState.SENDING, attempts=attempts, needs_check=True,
        lease_owner=w.owner + SETTLING, lease_until=until, next_attempt_at=retry_at,
        reason=f"chờ nền tảng xử lý xong lần gửi chưa rõ kết quả (đến {until:%H:%M:%S} UTC), rồi kiểm tra "
               f"trước khi gửi lại: {reason}",
        extra_update={**(extra_update or {}), "unclear": {"at": now.isoformat(), "code": exc.code}},
        audit_action="delivery.unclear",
    )
    return "unclear" if ok else "lease-lost"

