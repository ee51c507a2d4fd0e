"""Edits, reposts and removals of published posts (issue 16), with the same guarantees as posts.

A post action is claimed to ``sending`` under a lease like a delivery; an unclear answer settles
and is reconciled; after a crash (``needs_check``) the platform is asked first — does the post
still exist, does it already show the new text — so nothing is done twice. A repost records the
removal of the old post (fenced) before it publishes the new one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.channels import Channel, HoldChannel, Published, Rejected, RetryLater
from bot.channels.outbox import OutboxChannel
from bot.posts import build_post, images_for
from bot.store import deliveries as queue
from bot.store.models import DeliveryState
from bot.worker.policy import WorkerState, log, post_progress, scrub
from bot.worker.publish import retry


def channel_for(w: WorkerState, a: Any) -> Channel:
    """The channel that holds the post: the outbox for an outbox post, whatever the token says now."""
    if a.target_post_id.startswith("outbox:") and not w.force_outbox:
        row = w._row(a.channel_id)
        assert row is not None
        return OutboxChannel(row, w.ctx)
    return w.channel(a.channel_id)


def act(w: WorkerState, a: Any) -> str:
    """Take one claimed edit, repost or removal as far as it can go now; returns the outcome's name.

    The same rules as :meth:`deliver`: the action is in ``sending`` under this worker's lease; an
    unclear answer settles and is reconciled; after a crash (``needs_check``) the platform is asked
    first — does the post still exist, does it already show the new text — and nothing is done twice.
    A repost records the removal of the old post before it publishes the new one."""
    assert a.id is not None
    d, content = queue.delivery_and_content(w.store, a.delivery_id, a.content_id)
    if d is None or content is None:
        ok = w._finish(a.id, current=a, state=DeliveryState.FAILED, needs_check=False,
                          reason="không tìm thấy lượt đăng hoặc bài trong dữ liệu")
        return "failed" if ok else "lease-lost"
    attempts = a.attempts
    progress = post_progress(a)  # type: ignore[arg-type]
    unsure = a.needs_check
    link = (d.extra or {}).get("url") or (d.extra or {}).get("article_url") or a.target_post_id
    if content.withdrawn and a.action != "remove" and not (a.action == "repost" and progress.get("removed_at")
                                                           and unsure):
        # Withdrawn meanwhile: no edit and no new post; the removal takes over (bot.corrections).
        ok = w._finish(a.id, current=a, state=DeliveryState.SKIPPED, needs_check=False,
                          reason=f"không làm vì bài đã bị rút: {content.withdrawn}")
        return "skipped" if ok else "lease-lost"
    if not content.approved and (a.action == "edit" or (a.action == "repost" and not progress.get("removed_at"))):
        # The new version is not approved (yet): nothing unapproved reaches a published post; planned
        # again once it is (bot.corrections).
        ok = w._finish(a.id, current=a, state=DeliveryState.SKIPPED, needs_check=False,
                          reason="phiên bản mới chưa được duyệt: chưa sửa")
        return "skipped" if ok else "lease-lost"
    try:
        channel = channel_for(w, a)
        post = None
        if a.action in ("edit", "repost"):
            try:
                images = images_for(content, w.campaign, w.metrics)
                post = build_post(d, content, w.campaign, images)
            except Exception as exc:  # noqa: BLE001 - nothing reached the platform: a plain retry
                raise RetryLater(f"không chuẩn bị được bài (banner/ảnh): {type(exc).__name__}: {exc}") from None
        if a.action == "remove":
            if a.needs_check and not channel.current(a.target_post_id).exists:
                return acted(w, a, d, content, note="đã gỡ (kiểm tra lại sau sự cố: bài không còn trên nền tảng)")
            unsure = False
            removed = channel.remove(a.target_post_id)
            return acted(w, a, d, content, note=None if removed else
                               "bài đã bị xoá bằng tay trên nền tảng từ trước: tính là đã gỡ")
        assert post is not None
        if a.action == "edit":
            if a.needs_check:
                state = channel.current(a.target_post_id, post)
                if not state.exists:
                    raise Rejected(f"bài {link} không còn trên nền tảng (có thể đã bị xoá bằng tay)", code="gone")
                if state.matches:
                    return acted(w, a, d, content, note="đã sửa (kiểm tra lại sau sự cố: bài đã mang nội dung mới)")
                unsure = False
            channel.edit(a.target_post_id, post)
            return acted(w, a, d, content)
        # repost: remove the old post (recorded), then publish the new version
        if not progress.get("removed_at"):
            gone = a.needs_check and not channel.current(a.target_post_id).exists
            unsure = False
            if not gone:
                channel.remove(a.target_post_id)
            progress["removed_at"] = w.clock.now().isoformat()
            if not removed_step(w, a, d, progress):
                return "lease-lost"
        publish_progress = {k: v for k, v in progress.items() if k != "removed_at"}
        fresh = replace(post, progress=publish_progress, broadcast=False,
                        first_attempt_at=datetime.fromisoformat(progress["removed_at"]))
        if unsure:
            found = channel.find_existing(fresh)
            if found is not None:
                return acted(w, a, d, content, published=found, note="đã đăng lại (đối soát sau sự cố)")
            unsure = False
        if not content.approved:  # the old post is gone; the new one waits for its approval
            raise RetryLater("bài cũ đã gỡ; phiên bản mới chưa được duyệt nên chưa đăng lại", wait=True,
                             retry_after=900, progress=progress)
        if content.withdrawn:  # the check found no new post: none is made for a withdrawn item
            ok = w._finish(a.id, current=a, state=DeliveryState.SKIPPED, needs_check=False,
                              reason=f"đã gỡ bài cũ; không đăng lại vì bài đã bị rút: {content.withdrawn}")
            return "skipped" if ok else "lease-lost"
        published = channel.publish(fresh)
        return acted(w, a, d, content, published=published)
    except HoldChannel as exc:
        w._hold(a.channel_id, exc)
        ok = w._finish(a.id, current=a, state=DeliveryState.PENDING, attempts=attempts - 1, needs_check=unsure,
                          reason=f"chờ kênh được mở lại: {scrub(exc.message, w.secrets)}",
                          extra_update={"progress": {**progress, **exc.progress}} if exc.progress else None)
        return "held" if ok else "lease-lost"
    except Rejected as exc:
        said = scrub(exc.message, w.secrets)
        if exc.code == "gone":
            reason = f"không sửa được: bài {link} không còn trên nền tảng (có thể đã bị xoá bằng tay). {said}"
        else:
            reason = f"nền tảng từ chối — cần người xử lý bài {link}: {said}"
        ok = w._finish(a.id, current=a, state=DeliveryState.FAILED, needs_check=False, reason=reason)
        return "failed" if ok else "lease-lost"
    except RetryLater as exc:
        if exc.progress:
            exc.progress = {**progress, **exc.progress}
        return retry(w, a, attempts, exc, unsure=unsure)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - unknown outcome: reconcile before acting again
        log.warning("action %s: %s", a.id, scrub(f"{type(exc).__name__}: {exc}", w.secrets))
        failure = RetryLater(f"lỗi không rõ: {type(exc).__name__}: {exc}", maybe_sent=True, in_flight=True)
        return retry(w, a, attempts, failure, unsure=True)  # type: ignore[arg-type]


def removed_step(w: WorkerState, a: Any, d: Any, progress: dict[str, Any]) -> bool:
    """A repost's first step is done: record it (fenced) before the new post goes, in one transaction."""
    extra = {**(a.extra or {}), "progress": progress}
    if not queue.record_removed_step(w.store, w.owner, a, w.clock.now(), extra):
        return False
    a.extra = {**(a.extra or {}), "progress": progress}
    return True


def acted(w: WorkerState, a: Any, d: Any, content: Any, *, published: Published | None = None,
           note: str | None = None) -> str:
    """The action is done: record it and what the post now is, in one fenced transaction."""
    now = w.clock.now()
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
    ok = queue.record_acted(
        w.store, w.owner, a, now, new_post_id=published.post_id if published else None, note=note,
        delivery_values=values,
        audit={"channel": a.channel_id, "content": a.content_id, "post": a.target_post_id,
               "new_post": published.post_id if published else None, "version": content.version, "why": a.why,
               "note": note})
    with w._lock:
        w._acting.discard(a.id or 0)
    if not ok:
        log.warning("action %s: quyền giữ đã hết hạn; không ghi đè", a.id)
        return "lease-lost"
    return {"remove": "removed", "edit": "edited", "repost": "reposted"}.get(a.action, "done")

