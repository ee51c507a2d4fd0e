"""Facebook: engagement read back from published posts, 50 posts per batch call."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from bot.channels import EngagementReading, RetryLater
from bot.channels.facebook.http import BATCH_MAX, _int

log = logging.getLogger("bot.channels.facebook")


# Insights still served for Page posts after the 2025 deprecations (module header of channel.py):
# post_media_view = views (replaces post_impressions, retired 15/11/2025) and post_total_media_view_unique =
# viewers, i.e. reach (replaces post_impressions_unique, retired 15/06/2025). One retired name fails the
# whole request with #100, so a refused metric is found, dropped for this process, and the read goes on.
INSIGHT_METRICS = ("post_media_view", "post_total_media_view_unique")
BASE_FIELDS = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
_RETIRED: set[str] = set()
_RETIRED_LOCK = threading.Lock()


def live_metrics() -> tuple[str, ...]:
    with _RETIRED_LOCK:
        return tuple(m for m in INSIGHT_METRICS if m not in _RETIRED)


def _fields(metrics: tuple[str, ...]) -> str:
    return BASE_FIELDS + (f",insights.metric({','.join(metrics)})" if metrics else "")


def _metric_refused(item: Any) -> bool:
    """A batch item that failed because an insights metric is not (or no longer) valid."""
    if not isinstance(item, dict) or item.get("code") == 200:
        return False
    try:
        body = json.loads(item.get("body") or "null")
    except ValueError:
        return False
    err = body.get("error") if isinstance(body, dict) else None
    return isinstance(err, dict) and _int(err.get("code")) == 100 and "metric" in str(err.get("message")).lower()


class GraphEngagement:
    """The engagement half of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        """Reactions, comments, shares, views and reach, 50 posts per batch call; a failed item is skipped."""
        readings: dict[str, EngagementReading] = {}
        ids = list(dict.fromkeys(str(p) for p in post_ids if p))
        for start in range(0, len(ids), BATCH_MAX):
            chunk = ids[start:start + BATCH_MAX]
            metrics = live_metrics()
            try:
                items = self._engagement_batch(chunk, metrics)
                refused = next((pid for pid, item in zip(chunk, items, strict=False) if _metric_refused(item)), None)
                if metrics and refused is not None:
                    self._retire_refused_metrics(refused, metrics)
                    items = self._engagement_batch(chunk, live_metrics())
            except RetryLater as exc:
                if exc.scope != "delivery":
                    raise
                log.warning("%s: đọc tương tác lỗi, bỏ qua %d bài: %s", self, len(chunk), exc.message)
                continue
            for pid, item in zip(chunk, items, strict=False):
                reading = _reading(pid, item)
                if reading is None:
                    log.debug("%s: không đọc được tương tác của %s", self, pid)
                    continue
                readings[pid] = reading
        return readings

    def _engagement_batch(self, chunk: list[str], metrics: tuple[str, ...]) -> list[Any]:
        fields = _fields(metrics)
        batch = [{"method": "GET", "relative_url": f"{pid}?fields={fields}"} for pid in chunk]
        answer = self._call("POST", "", data={"batch": json.dumps(batch), "include_headers": "false"},
                            need="pages_read_engagement")
        return answer.body if isinstance(answer.body, list) else []

    def _retire_refused_metrics(self, post_id: str, metrics: tuple[str, ...]) -> None:
        """Ask for each metric alone (one batch call) and drop those the platform refuses."""
        batch = [{"method": "GET", "relative_url": f"{post_id}/insights?metric={m}"} for m in metrics]
        answer = self._call("POST", "", data={"batch": json.dumps(batch), "include_headers": "false"},
                            need="pages_read_engagement")
        items = answer.body if isinstance(answer.body, list) else []
        gone = [m for m, item in zip(metrics, items, strict=False) if _metric_refused(item)]
        with _RETIRED_LOCK:
            _RETIRED.update(gone or metrics)  # nothing singled out: stop asking for insights at all
        log.warning("%s: Facebook không còn chỉ số %s; đọc tương tác tiếp mà không có chỉ số này",
                    self, ", ".join(gone or metrics))


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

    insights: dict[str, int | None] = {}
    block = body.get("insights")
    for entry in (block.get("data") if isinstance(block, dict) else None) or []:
        values = entry.get("values") if isinstance(entry, dict) else None
        if isinstance(values, list) and values and isinstance(values[-1], dict):
            insights[str(entry.get("name"))] = _int(values[-1].get("value"))
    shares = body.get("shares")
    reach = insights.get("post_total_media_view_unique")
    return EngagementReading(
        post_id=post_id,
        reactions=total("reactions"),
        comments=total("comments"),
        shares=_int(shares.get("count")) if isinstance(shares, dict) else 0,
        views=insights.get("post_media_view"),
        extra={"reach": reach} if reach is not None else {},
    )


