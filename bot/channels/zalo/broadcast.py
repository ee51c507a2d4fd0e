"""Zalo: the broadcast of a published article to the OA's followers, and its record in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.channels import HoldChannel, Post, Published, Rejected, RetryLater
from bot.channels.zalo.errors import (
    BROADCASTS_PER_DAY,
    NIGHT_END,
    NIGHT_START,
    RETRY_ERRORS,
    VN,
    ZaloApiError,
)
from bot.store import tokens as store_tokens

BROADCAST_NOT_VERIFIED = "OA chưa được xác thực; Zalo chỉ cho OA đã xác thực gửi broadcast"


def _seconds_until_morning(local: datetime, *, next_day: bool = False) -> float:
    """Seconds until 06:05 Vietnam time (today's if before 06:00, else tomorrow's)."""
    target = local.replace(hour=NIGHT_END, minute=5, second=0, microsecond=0)
    if next_day or local >= target:
        target = target + timedelta(days=1)
    return max(60.0, (target - local).total_seconds())



class ZaloBroadcast:
    """The broadcast half of :class:`~bot.channels.zalo.ZaloChannel` (a mixin)."""

    def _broadcast_log(self, article_id: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """This channel's broadcast notes, oldest first; ``at`` is the channel's clock when the note was made."""
        out = []
        for d, stored_at in store_tokens.notes(self.ctx.store, "zalo.broadcast", self.row.id):
            try:
                at = datetime.fromisoformat(d["at"]) if d.get("at") else stored_at
            except (TypeError, ValueError):
                at = stored_at
            d["at"] = at
            if article_id is not None and d.get("article_id") != article_id:
                continue
            if since is not None and (at is None or at < since):
                continue
            out.append(d)
        return out

    def _broadcast_state(self, article_id: str) -> dict[str, Any] | None:
        entries = self._broadcast_log(article_id)
        return entries[-1] if entries else None

    def _note(self, step: str, article_id: str, **detail: Any) -> None:
        self.ctx.store.audit(
            "zalo.broadcast", subject=self.row.id, step=step, article_id=article_id, at=self.now().isoformat(), **detail
        )

    def _broadcast(self, post: Post, article_id: str, extra: dict[str, Any], progress: dict[str, Any]) -> Published:
        url = extra.get("article_url")
        last = self._broadcast_state(article_id)
        if last and last.get("step") == "sent":
            return Published(
                article_id, url, {**extra, "broadcast": "sent", "broadcast_message_id": last.get("message_id")}
            )
        if last and last.get("step") == "sending":
            return Published(
                article_id,
                url,
                {
                    **extra,
                    "broadcast": "unknown: lần gửi broadcast trước không rõ kết quả; không gửi lại để tránh trùng",
                },
            )
        oa = self._oa_info()
        if not oa.verified:
            return Published(article_id, url, {**extra, "broadcast": f"not allowed: {BROADCAST_NOT_VERIFIED}"})
        now = self.now()
        local = now.astimezone(VN)
        if local.hour >= NIGHT_START or local.hour < NIGHT_END:
            wait = _seconds_until_morning(local)
            raise RetryLater(
                f"{self.label}: bài đã đăng; broadcast chờ đến sau 06:00 (Zalo không cho gửi ban đêm)",
                retry_after=wait,
                code="night",
                progress=progress,
            )
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        sent_today = [e for e in self._broadcast_log(since=midnight.astimezone(UTC)) if e.get("step") == "sent"]
        if len(sent_today) >= BROADCASTS_PER_DAY:
            raise RetryLater(
                f"{self.label}: bài đã đăng; hôm nay OA đã gửi broadcast (mỗi người theo dõi chỉ nhận 1 tin/ngày), "
                "broadcast chờ đến ngày mai",
                retry_after=_seconds_until_morning(local, next_day=True),
                code="broadcast-daily",
                progress=progress,
            )
        body = {
            "recipient": {"target": {}},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "article", "attachment_id": article_id}],
                    },
                }
            },
        }
        self._note("sending", article_id, delivery_id=post.delivery_id)
        try:
            data = self._call("POST", "/v2.0/oa/message", body=body, idempotent=False, progress=progress)
        except RetryLater as exc:
            if exc.maybe_sent:
                return Published(
                    article_id,
                    url,
                    {**extra, "broadcast": "unknown: mất kết nối khi gửi broadcast; không gửi lại để tránh trùng"},
                )
            self._note("refused", article_id, code=exc.code)
            raise
        except HoldChannel as exc:
            self._note("refused", article_id, code=exc.code)
            raise
        except ZaloApiError as err:
            self._note("refused", article_id, code=err.code)
            if err.code == -211:
                raise RetryLater(
                    f"{self.label}: bài đã đăng; OA hết lượt broadcast của gói, broadcast chờ lượt mới (Zalo {err.code})",
                    retry_after=RETRY_ERRORS[-211][1],
                    code=str(err.code),
                    progress=progress,
                ) from None
            if err.code == -218:
                raise RetryLater(
                    f"{self.label}: bài đã đăng; người theo dõi đã nhận đủ tin trong ngày/tháng, broadcast chờ (Zalo {err.code})",
                    retry_after=_seconds_until_morning(local, next_day=True),
                    code=str(err.code),
                    progress=progress,
                ) from None
            if err.code == -234:
                raise RetryLater(
                    f"{self.label}: bài đã đăng; broadcast chờ đến sau 06:00 (Zalo {err.code})",
                    retry_after=_seconds_until_morning(local),
                    code=str(err.code),
                    progress=progress,
                ) from None
            if err.code in (-221, -224):
                self._oa = None
                return Published(
                    article_id, url, {**extra, "broadcast": f"not allowed: {err.message} (Zalo {err.code})"}
                )
            exc2 = self._classified(err, progress)
            if isinstance(exc2, Rejected):
                return Published(article_id, url, {**extra, "broadcast": f"rejected: {err.message} (Zalo {err.code})"})
            raise exc2 from None
        message_id = str(data.get("message_id") or "")
        self._note("sent", article_id, message_id=message_id, delivery_id=post.delivery_id)
        return Published(
            article_id,
            url,
            {**extra, "broadcast": "sent", "broadcast_message_id": message_id, "broadcast_at": now.isoformat()},
        )

