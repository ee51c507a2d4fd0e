"""Facebook: engagement read back from published posts, 50 posts per batch call."""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.channels import EngagementReading, RetryLater
from bot.channels.facebook.http import BATCH_MAX, _int

log = logging.getLogger("bot.channels.facebook")


class GraphEngagement:
    """The engagement half of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        """Reactions, comments and shares, 50 posts per batch call; a failed item is skipped."""
        fields = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
        readings: dict[str, EngagementReading] = {}
        ids = list(dict.fromkeys(str(p) for p in post_ids if p))
        for start in range(0, len(ids), BATCH_MAX):
            chunk = ids[start:start + BATCH_MAX]
            batch = [{"method": "GET", "relative_url": f"{pid}?fields={fields}"} for pid in chunk]
            try:
                answer = self._call("POST", "", data={"batch": json.dumps(batch), "include_headers": "false"},
                                    need="pages_read_engagement")
            except RetryLater as exc:
                if exc.scope != "delivery":
                    raise
                log.warning("%s: đọc tương tác lỗi, bỏ qua %d bài: %s", self, len(chunk), exc.message)
                continue
            items = answer.body if isinstance(answer.body, list) else []
            for pid, item in zip(chunk, items, strict=False):
                reading = _reading(pid, item)
                if reading is None:
                    log.debug("%s: không đọc được tương tác của %s", self, pid)
                    continue
                readings[pid] = reading
        return readings


def _reading(post_id: str, item: Any) -> EngagementReading | None:
    if not isinstance(item, dict) or item.get("code") != 200:
        return None
    try:
        body = json.loads(item.get("body") or "null")
    except ValueError:
        return None
    if not isinstance(body, dict) or "error" in body:
        return None

    def total(key: str) -> int | None:
        part = body.get(key)
        if not isinstance(part, dict):
            return None
        summary = part.get("summary")
        return _int(summary.get("total_count")) if isinstance(summary, dict) else None

    shares = body.get("shares")
    return EngagementReading(
        post_id=post_id,
        reactions=total("reactions"),
        comments=total("comments"),
        shares=_int(shares.get("count")) if isinstance(shares, dict) else 0,
    )


