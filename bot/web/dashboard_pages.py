"""The dashboard's preview calendar (/dashboard/preview) and report (/dashboard/report), for a reviewer's
own branch: the unit and the units below it.

Why the project's own builders and not a copy: `campaign-bot preview` and `campaign-bot report` already
decide what will be posted and what was; the web only keeps the rows of the reviewer's subtree and shows
them in the web app's own pages (its strict CSP, no inline script, no other branch's names). Why a cache:
a preview plans every tick of the window in a rolled-back transaction, seconds on a large tree; one build a
minute is shared by every reviewer (the filter is applied after, per request), and at most one build runs at
a time so a dozen reviewers opening the page do not plan a dozen times.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.load import Campaign
from bot.reports import kind_label, level_label, platform_label
from bot.reports.preview import Card, Preview, build_preview
from bot.reports.report import ReportData, build_report
from bot.store import Store
from bot.vn import ngay, phan_tram, thu

PREVIEW_DAYS_DEFAULT = 7
PREVIEW_DAYS_MAX = 14  # bounded on the web: the CLI may plan longer, a page request may not
CACHE_SECONDS = 60.0
CARDS_SHOWN = 500  # a page never lists more cards than this; the count says how many there are
STATUS_LABELS = {
    "planned": "sẽ đăng",
    "existing": "đã xếp lịch",
    "held": "kênh đang tạm giữ",
    "skip": "không đăng",
}


def preview_days(raw: str | None) -> int:
    """?ngay=… read and clamped to 1…14; anything else is the default week (never an error page)."""
    try:
        days = int(str(raw or "").strip()[:3])
    except ValueError:
        return PREVIEW_DAYS_DEFAULT
    return max(1, min(PREVIEW_DAYS_MAX, days))


@dataclass
class MinuteCache:
    """One built value per key for CACHE_SECONDS; the build runs under a lock (one at a time)."""

    seconds: float = CACHE_SECONDS
    _items: dict[Any, tuple[float, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        with self._lock:
            now = time.monotonic()
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self.seconds:
                return hit[1]
            value = build()
            self._items = {k: v for k, v in self._items.items() if now - v[0] < self.seconds}  # bounded: old go
            self._items[key] = (time.monotonic(), value)
            return value


# --- the preview ---------------------------------------------------------------------------------


@dataclass
class DayRows:
    day: date
    cards: list[Card]


@dataclass
class BranchPreview:
    start: datetime
    end: datetime
    days: int
    generated_at: datetime
    calendar: list[DayRows]
    count: int
    to_post: int
    held: int
    empties: list[tuple[str, int]]  # (reason, slots) in the branch
    shown: int


def branch_preview(p: Preview, scope: set[str]) -> BranchPreview:
    """The cards and empty slots of ``scope``'s channels only, grouped by campaign day."""
    tz = p.campaign.tz
    cards = [c for c in p.cards if c.unit_id in scope]
    by_day: dict[date, list[Card]] = {}
    for c in cards[:CARDS_SHOWN]:
        by_day.setdefault(c.expected_at.astimezone(tz).date(), []).append(c)
    reasons = Counter(e.reason for e in p.empties if e.unit_id in scope)
    return BranchPreview(
        start=p.start, end=p.end, days=p.days, generated_at=p.generated_at,
        calendar=[DayRows(d, by_day[d]) for d in sorted(by_day)], count=len(cards),
        to_post=sum(1 for c in cards if c.will_post), held=sum(1 for c in cards if c.status == "held"),
        empties=reasons.most_common(), shown=min(len(cards), CARDS_SHOWN),
    )


# --- the report ----------------------------------------------------------------------------------


@dataclass
class BranchReport:
    first: date
    last: date
    generated_at: datetime
    metric_label: str
    totals: Counter[str]
    units: list[Any]  # bot.reports.report.UnitStat
    channels: list[dict[str, Any]]
    issues: list[Any]  # bot.reports.report.Issue
    held: list[Any]  # bot.reports.report.HeldChannel
    lagging: list[Any]
    quiet: list[Any]
    firings: list[Any]


def branch_report(r: ReportData, scope: set[str]) -> BranchReport:
    """The report's rows whose unit is in ``scope``; the totals counted again from those rows only."""
    units = [st for st in r.units if st.unit.id in scope]
    totals: Counter[str] = Counter()
    for st in units:
        totals.update(st.counts)
    return BranchReport(
        first=r.first, last=r.last, generated_at=r.generated_at, metric_label=r.metric_label, totals=totals,
        units=units,
        channels=[ch for ch in r.channels if ch["unit_id"] in scope],
        issues=[i for i in r.issues if i.unit_id in scope],
        held=[h for h in r.held if h.channel_id.split("/", 1)[0] in scope],
        lagging=[st for st in r.lagging if st.unit.id in scope],
        quiet=[st for st in r.quiet if st.unit.id in scope],
        firings=[f for f in r.firings if f.unit_id in scope],
    )


# --- the cached builds ---------------------------------------------------------------------------

_CACHE = MinuteCache()


def preview_for(store: Store, campaign: Campaign, env: dict[str, str], scope: set[str], days: int,
                now: datetime | None = None) -> BranchPreview:
    """The branch's preview; the whole campaign is planned once a minute (rolled back, the store unchanged)."""
    now = now or datetime.now(UTC)
    key = ("preview", id(campaign), store.display_url(), days)
    full = _CACHE.get(key, lambda: build_preview(campaign, store, env, now, days))
    return branch_preview(full, scope)


def report_for(store: Store, campaign: Campaign, scope: set[str], now: datetime | None = None) -> BranchReport:
    """The branch's report over the campaign's default period (read only), built once a minute."""
    now = now or datetime.now(UTC)
    key = ("report", id(campaign), store.display_url())
    full = _CACHE.get(key, lambda: build_report(campaign, store, None, None, now))
    return branch_report(full, scope)


def template_filters() -> dict[str, Callable[..., str]]:
    """The labels the two pages use, from bot.reports (one wording for the CLI pages and the web)."""
    return {
        "kind_label": kind_label,
        "level_label": level_label,
        "platform_label": platform_label,
        "status_label": lambda s: STATUS_LABELS.get(s, s),
        "ngay": ngay,
        "thu": thu,
        "phan_tram": phan_tram,
    }


def routes(cfg: Any, staff: Callable[[Request], Any], page: Callable[..., Response],
           subtree: Callable[[Campaign, str], set[str]]) -> list[Route]:
    """/dashboard/preview and /dashboard/report: staff only (``staff`` redirects others to /login), each
    rendered by the web app's ``page`` (its headers: the strict CSP, no-store)."""

    async def preview_page(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user
        campaign = cfg.campaign()
        days = preview_days(request.query_params.get("ngay"))
        data = await run_in_threadpool(preview_for, cfg.store, campaign, cfg.env, subtree(campaign, user.unit_id), days)
        return page(request, "dashboard_preview.html", p=data, unit=campaign.unit_by_id.get(user.unit_id),
                    choices=(1, 3, 7, 14))

    async def report_page(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user
        campaign = cfg.campaign()
        data = await run_in_threadpool(report_for, cfg.store, campaign, subtree(campaign, user.unit_id))
        return page(request, "dashboard_report.html", r=data, unit=campaign.unit_by_id.get(user.unit_id))

    return [Route("/dashboard/preview", preview_page), Route("/dashboard/report", report_page)]
