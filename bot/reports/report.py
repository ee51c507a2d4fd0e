"""`campaign-bot report`: what the campaign did, for the provincial office (HTML and CSV).

Read-only. Per tier and per unit: posts sent, waiting, held and failed with the reasons;
engagement read back from the platforms (the latest reading of each post); the metric against
targets over time (per phase, for the province and each unit directly under it); the units
that lag and those that have gone quiet; the milestones fired.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, select

from bot.corrections import report_rows
from bot.load import Campaign, UnitConfig
from bot.metrics import main_metric, metric_label
from bot.reports import (
    level_label,
)
from bot.reports import report_queries as rq
from bot.reports.charts import BarChart, LineChart, chart_window, line_chart, percent_bars, progress_class
from bot.store.db import Store
from bot.store.models import (
    ChannelState,
    DeliveryState,
    MilestoneFiring,
)
from bot.vn import ngay, so

QUIET_DAYS = 14
LAGGING = 5
ENGAGEMENT_SHOWN = 50  # posts with most engagement on the page; every post in tuong-tac.csv
ISSUES_SHOWN = 200  # posts not sent on the page; every one in loi-va-tam-giu.csv
STATES = ("sent", "waiting", "held", "failed", "skipped")
STATE_LABELS = {
    DeliveryState.SENT: "đã đăng",
    DeliveryState.PENDING: "chờ đăng",
    DeliveryState.RETRY: "chờ thử lại",
    DeliveryState.SENDING: "đang gửi",
    DeliveryState.FAILED: "lỗi",
    DeliveryState.SKIPPED: "bỏ qua",
    "held": "tạm giữ",
}
ENGAGEMENT_FIELDS = ("reactions", "comments", "shares", "views")


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class UnitStat:
    unit: UnitConfig
    depth: int
    platforms: list[str]
    counts: Counter[str] = field(default_factory=Counter)
    engagement: Counter[str] = field(default_factory=Counter)
    last_sent: datetime | None = None
    value: float | None = None
    reading_at: datetime | None = None
    percent: float | None = None
    quiet: bool = False

    @property
    def name(self) -> str:
        return self.unit.short_name or self.unit.name

    @property
    def anchor(self) -> str:
        return f"dv-{self.unit.id}"

    @property
    def status(self) -> str:
        return progress_class(self.percent)

    @property
    def target(self) -> int | None:
        return self.unit.target


@dataclass
class TierStat:
    level: str
    units: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    engagement: Counter[str] = field(default_factory=Counter)
    value: float = 0.0
    target: float = 0.0
    quiet: int = 0

    @property
    def label(self) -> str:
        return level_label(self.level)

    @property
    def percent(self) -> float | None:
        return self.value * 100.0 / self.target if self.target else None

    @property
    def status(self) -> str:
        return progress_class(self.percent)


@dataclass
class Issue:
    """A post that did not go (or not yet), with the reason the staff can act on."""

    unit: str
    unit_id: str
    platform: str
    title: str
    content_id: str
    state: str
    reason: str
    when: datetime | None
    due_at: datetime | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


@dataclass
class EngagementRow:
    unit: str
    platform: str
    title: str
    content_id: str
    sent_at: datetime | None
    post_id: str | None
    read_at: datetime
    values: dict[str, int | None]

    @property
    def total(self) -> int:
        return sum(v or 0 for k, v in self.values.items() if k != "views")


@dataclass
class HeldChannel:
    channel_id: str
    unit: str
    platform: str
    reason: str
    fix: str | None
    since: datetime | None
    waiting: int


@dataclass
class FiringRow:
    fired_at: datetime
    unit: str
    unit_id: str
    rule_id: str
    threshold: str
    value: float
    percent: float | None
    phase: str | None
    announced: bool
    content_id: str | None
    title: str | None
    sent: int
    planned: int

    @property
    def threshold_label(self) -> str:
        """1.000 or 100%, as the staff wrote it."""
        text = self.threshold.strip()
        if text.endswith("%"):
            return text
        try:
            return so(float(text))
        except ValueError:
            return text


@dataclass
class PhaseCharts:
    name: str
    start: date
    end: date
    charts: list[LineChart]
    started: bool


@dataclass
class ReportData:
    campaign: Campaign
    first: date
    last: date
    ref: datetime
    generated_at: datetime
    metric: str
    metric_label: str
    totals: Counter[str]
    tiers: list[TierStat]
    units: list[UnitStat]
    channels: list[dict[str, Any]]
    issues: list[Issue]
    held: list[HeldChannel]
    engagement: list[EngagementRow]
    engagement_totals: Counter[str]
    phases: list[PhaseCharts]
    bars: BarChart | None
    lagging: list[UnitStat]
    quiet: list[UnitStat]
    firings: list[FiringRow]
    series: list[tuple[str, str, datetime, float, float | None]]  # unit, phase, time, value, target
    engagement_shown: int = 50  # the page lists the posts with most engagement; the CSV has them all
    engagement_count: int = 0  # posts with engagement read back, all of them (the files list every one)
    issue_count: int = 0  # posts not sent, all of them (the page lists the first ISSUES_SHOWN)
    store: Store | None = None  # the files stream their long lists from it
    period: Period | None = None
    readings: int = 0
    files: list[tuple[str, str]] = field(default_factory=list)  # (file name, description)
    store_url: str = ""
    corrections: list[dict[str, Any]] = field(default_factory=list)  # issue 16: posts edited, reposted, removed


def _depths(campaign: Campaign) -> dict[str, int]:
    out: dict[str, int] = {}

    def depth(uid: str) -> int:
        if uid not in out:
            parent = campaign.unit_by_id[uid].parent
            out[uid] = 0 if not parent or parent not in campaign.unit_by_id else depth(parent) + 1
        return out[uid]

    for u in campaign.units:
        depth(u.id)
    return out


def _tree_order(campaign: Campaign) -> list[UnitConfig]:
    """Units depth-first (each unit followed by those below it), siblings in file order."""
    children: dict[str | None, list[UnitConfig]] = defaultdict(list)
    ids = set(campaign.unit_by_id)
    for u in campaign.units:
        children[u.parent if u.parent in ids else None].append(u)
    out: list[UnitConfig] = []

    def walk(uid: str | None) -> None:
        for u in children.get(uid, []):
            out.append(u)
            walk(u.id)

    walk(None)
    return out


def _subtrees(campaign: Campaign) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for u in campaign.units:
        if u.parent:
            children[u.parent].append(u.id)
    out: dict[str, list[str]] = {}

    def sub(uid: str) -> list[str]:
        if uid not in out:
            acc = [uid]
            for c in children.get(uid, []):
                acc.extend(sub(c))
            out[uid] = acc
        return out[uid]

    for u in campaign.units:
        sub(u.id)
    return out


def subtree_series(own: dict[str, list[tuple[datetime, float]]], units: list[str]) -> list[tuple[datetime, float]]:
    """The subtree's value after every reading of any of its units: each unit's own latest
    reading, summed (readings are each unit's own count as of their time)."""
    events = sorted((t, uid, v) for uid in units for t, v in own.get(uid, []))
    latest: dict[str, float] = {}
    out: list[tuple[datetime, float]] = []
    for i, (t, uid, v) in enumerate(events):
        latest[uid] = v
        if i + 1 < len(events) and events[i + 1][0] == t:
            continue  # readings at the same moment count as one step
        out.append((t, sum(latest.values())))
    return out


@dataclass
class Period:
    """The report's days and the moment its figures are "as of"; the same bounds in UTC."""

    first: date
    last: date
    ref: datetime
    start: datetime  # first day 00:00, campaign time
    end: datetime  # the day after the last, 00:00, campaign time


def report_period(campaign: Campaign, first: date | None, last: date | None, now: datetime,
                  latest_activity: datetime | None) -> Period:
    """From the campaign's start (or ``first``) to today, or to the day of the last activity if later
    (the demo plays days ahead), as of now; with ``last``, as of the end of that day."""
    tz = campaign.tz
    today = now.astimezone(tz).date()
    first = first or campaign.config.start
    if last is None:
        last = max(today, latest_activity.astimezone(tz).date()) if latest_activity else today
        ref = max(now, latest_activity or now)
    else:
        ref = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC) - timedelta(microseconds=1)
    return Period(first, last, ref, datetime.combine(first, time.min, tz).astimezone(UTC),
                  datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC))


def _unit_name(campaign: Campaign, uid: str) -> str:
    u = campaign.unit_by_id.get(uid)
    return (u.short_name or u.name) if u else uid


def issue_from_row(campaign: Campaign, row: dict[str, Any]) -> Issue:
    return Issue(_unit_name(campaign, row["unit_id"]), row["unit_id"], row["platform"], row["title"],
                 row["content_id"], row["state"], row["reason"], row["when"], row["due_at"])


def engagement_from_row(campaign: Campaign, row: dict[str, Any]) -> EngagementRow:
    return EngagementRow(_unit_name(campaign, row["unit_id"]), row["platform"], row["title"], row["content_id"],
                         row["sent_at"], row["post_id"], row["read_at"], row["values"])


def count_posts(stats: dict[str, UnitStat], counts: list[tuple[str, str, str, int]]
                ) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Totals and per-channel counts of the period; each unit's counts on its UnitStat."""
    totals: Counter[str] = Counter()
    per_channel: dict[str, Counter[str]] = defaultdict(Counter)
    for channel_id, unit_id, state, n in counts:
        totals[state] += n
        per_channel[channel_id][state] += n
        if unit_id in stats:
            stats[unit_id].counts[state] += n
    return totals, per_channel


def metric_progress(campaign: Campaign, stats: dict[str, UnitStat], own: dict[str, list[tuple[datetime, float]]],
                    subtrees: dict[str, list[str]]) -> None:
    """Each unit's value (its subtree's latest readings), when it was read, and its % of target."""
    for uid, st in stats.items():
        series = subtree_series(own, subtrees[uid])
        if series:
            st.value = series[-1][1]
            st.reading_at = series[-1][0]
        if st.unit.target:
            st.percent = (st.value or 0.0) * 100.0 / st.unit.target


def phase_charts(campaign: Campaign, order: list[UnitConfig], depths: dict[str, int],
                 own: dict[str, list[tuple[datetime, float]]], subtrees: dict[str, list[str]], ref: datetime
                 ) -> tuple[list[PhaseCharts], list[tuple[str, str, datetime, float, float | None]]]:
    """Per phase, a line chart for the province and each unit directly under it; the series as rows."""
    tz = campaign.tz
    charted = [u for u in order if depths[u.id] == 0] + [u for u in order if depths[u.id] == 1]
    phases_cfg = [(p.name, p.start, p.end, p.target) for p in campaign.config.phases] or [
        ("Toàn chương trình", campaign.config.start, campaign.config.end, None)
    ]
    phases: list[PhaseCharts] = []
    series_rows: list[tuple[str, str, datetime, float, float | None]] = []
    for name, p_start, p_end, p_target in phases_cfg:
        started = p_start <= ref.astimezone(tz).date()
        charts: list[LineChart] = []
        if started:
            lo = datetime.combine(p_start, time.min, tz).astimezone(UTC)
            hi = datetime.combine(p_end + timedelta(days=1), time.min, tz).astimezone(UTC)
            for u in charted:
                target = p_target if (p_target and depths[u.id] == 0) else u.target
                series = subtree_series(own, subtrees[u.id])
                w_lo, w_hi = chart_window(series, lo, hi, ref)
                chart = line_chart(
                    u.short_name or u.name,
                    f"{level_label(u.level)} · {ngay(w_lo, tz)} – {ngay(min(w_hi, ref), tz)}",
                    series, w_lo, w_hi, float(target) if target else None, ref, tz,
                    width=1100 if depths[u.id] == 0 else 560, height=300 if depths[u.id] == 0 else 240,
                )
                chart.wide = depths[u.id] == 0
                charts.append(chart)
                series_rows += [(u.id, name, t, v, float(target) if target else None) for t, v in series if lo <= t < hi]
        phases.append(PhaseCharts(name, p_start, p_end, charts, started))
    return phases, series_rows


def tier_stats(stats: dict[str, UnitStat]) -> list[TierStat]:
    """The units' figures summed per level, in the levels' order."""
    from bot.reports import LEVEL_ORDER

    tiers: dict[str, TierStat] = {}
    for st in stats.values():
        t = tiers.setdefault(st.unit.level, TierStat(st.unit.level))
        t.units += 1
        t.counts.update(st.counts)
        t.engagement.update(st.engagement)
        t.quiet += st.quiet
        if st.unit.target:
            t.target += st.unit.target
            t.value += st.value or 0.0
    return sorted(tiers.values(), key=lambda t: LEVEL_ORDER.index(t.level) if t.level in LEVEL_ORDER else 99)


def channel_rows(campaign: Campaign, order: list[UnitConfig], per_channel: dict[str, Counter[str]],
                 states: dict[str, ChannelState]) -> list[dict[str, Any]]:
    rows = []
    for u in order:
        for ch in u.channels:
            cid = f"{u.id}/{ch.platform}"
            st = states.get(cid)
            rows.append({
                "channel": cid, "unit": _unit_name(campaign, u.id), "unit_id": u.id, "level": u.level,
                "platform": ch.platform, "counts": per_channel.get(cid, Counter()),
                "held": bool(st and st.status == "held"), "reason": st.reason if st and st.status == "held" else None,
            })
    return rows


def held_channels(campaign: Campaign, states: dict[str, ChannelState], waiting: Counter[str]) -> list[HeldChannel]:
    held = []
    for cid, st in sorted(states.items()):
        if st.status != "held" or cid.startswith("app:"):
            continue
        uid, _, platform = cid.partition("/")
        held.append(HeldChannel(cid, _unit_name(campaign, uid), platform, st.reason or "", st.fix, utc(st.held_at),
                                waiting[cid]))
    return held


def firing_rows(s: Session, campaign: Campaign, period: Period) -> list[FiringRow]:
    """The milestones reached in the period, with how many channels their news reached."""
    firings = [f for f in s.exec(select(MilestoneFiring)).all()
               if (fired := utc(f.fired_at)) is not None and period.start <= fired < period.end]
    ids = sorted({f.content_id for f in firings if f.content_id})
    counts, names = rq.delivered(s, ids), rq.titles(s, ids)
    rows = []
    for f in firings:
        c = counts.get(f.content_id or "", Counter())
        rows.append(FiringRow(
            utc(f.fired_at), _unit_name(campaign, f.unit_id), f.unit_id, f.rule_id, f.threshold,  # type: ignore[arg-type]
            f.value, f.percent, f.phase, f.announced, f.content_id, names.get(f.content_id or ""),
            c[DeliveryState.SENT], sum(c.values()),
        ))
    rows.sort(key=lambda f: (f.fired_at, f.unit))
    return rows


def build_report(
    campaign: Campaign, store: Store, first: date | None, last: date | None, now: datetime
) -> ReportData:
    """Every figure of the report, asked of the store in SQL (bot.reports.report_queries): memory stays
    flat as the history grows; the long lists keep their first rows here and are streamed into the files."""
    now = now.astimezone(UTC)
    metric = main_metric(campaign)
    depths = _depths(campaign)
    order = _tree_order(campaign)
    stats = {u.id: UnitStat(u, depths[u.id], [ch.platform for ch in u.channels]) for u in order}
    with rq.lean_session(store.engine, expire_on_commit=False) as s:  # read only: nothing is written
        own: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        readings = rq.readings(s, metric, now)
        activity = [a for a in (rq.latest_activity(s), rq.latest_firing(s),
                                max((at for _, at, _ in readings), default=None)) if a is not None]
        period = report_period(campaign, first, last, now, max(activity, default=None))
        for uid, at, value in readings:
            if at <= period.ref:
                own[uid].append((at, value))
        for series in own.values():
            series.sort()
        totals, per_channel = count_posts(stats, rq.state_counts(s, period.start, period.end))
        for uid, at in rq.last_sent(s, period.ref).items():
            if uid in stats:
                stats[uid].last_sent = at
        eng_totals: Counter[str] = Counter()
        for uid, sums in rq.engagement_by_unit(s, period.start, period.end).items():
            eng_totals.update(sums)
            if uid in stats:
                stats[uid].engagement.update({k: v for k, v in sums.items() if k != "posts"})
        engagement = [engagement_from_row(campaign, r) for r in rq.engagement_rows(s, period.start, period.end, ENGAGEMENT_SHOWN)]
        issues = [issue_from_row(campaign, r) for r in rq.issues(s, period.start, period.end, ISSUES_SHOWN)]
        issue_count = rq.issue_count(s, period.start, period.end)
        states = {st.channel_id: ChannelState(**st.model_dump()) for st in s.exec(select(ChannelState)).all()}
        held = held_channels(campaign, states, rq.open_per_channel(s))
        firings = firing_rows(s, campaign, period)

    subtrees = _subtrees(campaign)
    metric_progress(campaign, stats, own, subtrees)
    phases, series_rows = phase_charts(campaign, order, depths, own, subtrees, period.ref)
    targeted = [st for st in stats.values() if st.unit.target]
    bars = percent_bars([
        (st.name, f"{so(st.value or 0)}/{so(st.unit.target)}", st.percent, st.anchor, st.depth) for st in targeted
    ]) if targeted else None
    lagging = sorted((st for st in targeted if (st.percent or 0.0) < 100.0),
                     key=lambda st: (st.percent or 0.0, st.name))[:LAGGING]
    quiet_since = period.ref - timedelta(days=QUIET_DAYS)
    quiet = [st for st in stats.values() if st.platforms and (st.last_sent is None or st.last_sent < quiet_since)]
    for st in quiet:
        st.quiet = True
    return ReportData(
        campaign=campaign, first=period.first, last=period.last, ref=period.ref, generated_at=now, metric=metric,
        metric_label=metric_label(metric), totals=totals, tiers=tier_stats(stats), units=list(stats.values()),
        channels=channel_rows(campaign, order, per_channel, states), issues=issues, held=held, engagement=engagement,
        engagement_totals=eng_totals, phases=phases, bars=bars, lagging=lagging, quiet=quiet, firings=firings,
        series=series_rows, readings=sum(len(v) for v in own.values()), store_url=store.display_url(),
        corrections=report_rows(store, campaign, period.start, period.end), store=store, period=period,
        issue_count=issue_count, engagement_count=eng_totals["posts"],
    )
