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
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bot.corrections import report_rows
from bot.load import Campaign, UnitConfig
from bot.metrics import counting, main_metric, metric_label
from bot.reports import (
    atomic_write_text,
    copy_static,
    environment,
    kind_label,
    level_label,
    platform_label,
)
from bot.reports.charts import BarChart, LineChart, chart_window, line_chart, percent_bars, progress_class
from bot.reports.exports import XLSX_NAME, Pct, Table, write_xlsx
from bot.reports.exports import write_csv as write_table_csv
from bot.store.db import Store
from bot.store.models import (
    ChannelState,
    ContentItem,
    Delivery,
    DeliveryState,
    Engagement,
    MetricReading,
    MilestoneFiring,
)
from bot.vn import ngay, so

QUIET_DAYS = 14
LAGGING = 5
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


def build_report(
    campaign: Campaign, store: Store, first: date | None, last: date | None, now: datetime
) -> ReportData:
    tz = campaign.tz
    now = now.astimezone(UTC)
    today = now.astimezone(tz).date()
    with Session(store.engine, expire_on_commit=False) as s:  # read only: nothing is written
        deliveries = s.exec(select(Delivery)).all()
        # Only readings that count (bot.metrics.counting): not held or dropped, finite and within bounds.
        readings = s.exec(counting(select(MetricReading), main_metric(campaign), now)).all()
        firings = s.exec(select(MilestoneFiring)).all()
        states = {st.channel_id: st for st in s.exec(select(ChannelState)).all()}
        engagement_rows = s.exec(select(Engagement).order_by(col(Engagement.read_at), col(Engagement.id))).all()
        content_ids = {d.content_id for d in deliveries} | {f.content_id for f in firings if f.content_id}
        contents = {}
        ids = sorted(content_ids)
        for i in range(0, len(ids), 500):
            for c in s.exec(select(ContentItem).where(col(ContentItem.id).in_(ids[i : i + 500]))).all():
                contents[c.id] = (c.title, c.kind)

    activity = [utc(d.sent_at) or utc(d.due_at) for d in deliveries] + [utc(f.fired_at) for f in firings]
    activity += [utc(r.at) for r in readings]
    latest_activity = max((a for a in activity if a is not None), default=None)
    first = first or campaign.config.start
    if last is None:
        # Today, or the day of the last activity if later (the demo plays days ahead); "as of" now.
        last = max(today, latest_activity.astimezone(tz).date()) if latest_activity else today
        ref = max(now, latest_activity or now)
    else:  # as of the end of the last day asked for
        ref = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC) - timedelta(microseconds=1)
    start_dt = datetime.combine(first, time.min, tz).astimezone(UTC)
    end_dt = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC)

    units = {u.id: u for u in campaign.units}
    depths = _depths(campaign)
    order = _tree_order(campaign)
    stats = {u.id: UnitStat(u, depths[u.id], [ch.platform for ch in u.channels]) for u in order}
    held_ids = {cid for cid, st in states.items() if st.status == "held"}

    def state_of(d: Delivery) -> str:
        if d.state in DeliveryState.OPEN:
            return "held" if d.channel_id in held_ids else "waiting"
        return {DeliveryState.SENT: "sent", DeliveryState.FAILED: "failed"}.get(d.state, "skipped")

    def unit_name(uid: str) -> str:
        u = units.get(uid)
        return (u.short_name or u.name) if u else uid

    in_period = [d for d in deliveries if start_dt <= (utc(d.due_at) or start_dt) < end_dt]
    per_channel: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    issues: list[Issue] = []
    for d in in_period:
        st = state_of(d)
        totals[st] += 1
        per_channel[d.channel_id][st] += 1
        if d.unit_id in stats:
            stats[d.unit_id].counts[st] += 1
        if st in ("failed", "skipped", "held") or d.state == DeliveryState.RETRY:
            title = contents.get(d.content_id, (d.content_id, ""))[0]
            reason = d.reason or ""
            if st == "held":
                reason = states[d.channel_id].reason or reason
            issues.append(Issue(unit_name(d.unit_id), d.unit_id, d.platform, title, d.content_id,
                                "held" if st == "held" else d.state, reason,
                                utc(d.updated_at), utc(d.due_at)))
    rank = {"failed": 0, "held": 1, "retry": 2, "skipped": 3}
    issues.sort(key=lambda i: (rank.get(i.state, 9), i.unit, i.due_at or start_dt))

    for d in deliveries:
        sent = utc(d.sent_at)
        if d.state == DeliveryState.SENT and sent is not None and sent <= ref and d.unit_id in stats:
            st = stats[d.unit_id]
            st.last_sent = max(st.last_sent, sent) if st.last_sent else sent

    latest_eng: dict[int, Engagement] = {}
    for e in engagement_rows:
        latest_eng[e.delivery_id] = e  # ordered by read time: the last one wins
    by_id = {d.id: d for d in in_period if d.state == DeliveryState.SENT}
    eng_rows: list[EngagementRow] = []
    eng_totals: Counter[str] = Counter()
    for did, e in latest_eng.items():
        d = by_id.get(did)
        if d is None:
            continue
        values = {k: getattr(e, k) for k in ENGAGEMENT_FIELDS}
        eng_rows.append(EngagementRow(unit_name(d.unit_id), d.platform, contents.get(d.content_id, (d.content_id, ""))[0],
                                      d.content_id, utc(d.sent_at), d.platform_post_id, utc(e.read_at), values))  # type: ignore[arg-type]
        for k, v in values.items():
            eng_totals[k] += v or 0
            if d.unit_id in stats:
                stats[d.unit_id].engagement[k] += v or 0
    eng_rows.sort(key=lambda r: (-r.total, -(r.values.get("views") or 0), r.unit))

    # --- the metric -------------------------------------------------------------------------
    metric = main_metric(campaign)
    own: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for r in readings:
        at = utc(r.at)
        if at is not None and at <= ref:
            own[r.unit_id].append((at, float(r.value)))
    for series in own.values():
        series.sort()
    subtrees = _subtrees(campaign)
    for uid, st in stats.items():
        series = subtree_series(own, subtrees[uid])
        if series:
            st.value = series[-1][1]
            st.reading_at = series[-1][0]
        if st.unit.target:
            st.percent = (st.value or 0.0) * 100.0 / st.unit.target

    roots = [u for u in order if depths[u.id] == 0]
    charted = roots + [u for u in order if depths[u.id] == 1]
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
                for t, v in series:
                    if lo <= t < hi:
                        series_rows.append((u.id, name, t, v, float(target) if target else None))
        phases.append(PhaseCharts(name, p_start, p_end, charts, started))

    targeted = [st for st in stats.values() if st.unit.target]
    bars = percent_bars([
        (st.name, f"{so(st.value or 0)}/{so(st.unit.target)}", st.percent, st.anchor, st.depth)
        for st in stats.values() if st.unit.target
    ]) if targeted else None
    lagging = sorted((st for st in targeted if (st.percent or 0.0) < 100.0),
                     key=lambda st: (st.percent or 0.0, st.name))[:LAGGING]

    quiet_since = ref - timedelta(days=QUIET_DAYS)
    quiet: list[UnitStat] = []
    for st in stats.values():
        if st.platforms and (st.last_sent is None or st.last_sent < quiet_since):
            st.quiet = True
            quiet.append(st)

    tiers: dict[str, TierStat] = {}
    from bot.reports import LEVEL_ORDER

    for st in stats.values():
        t = tiers.setdefault(st.unit.level, TierStat(st.unit.level))
        t.units += 1
        t.counts.update(st.counts)
        t.engagement.update(st.engagement)
        t.quiet += st.quiet
        if st.unit.target:
            t.target += st.unit.target
            t.value += st.value or 0.0
    tier_list = sorted(tiers.values(), key=lambda t: LEVEL_ORDER.index(t.level) if t.level in LEVEL_ORDER else 99)

    channel_rows = []
    for u in order:
        for ch in u.channels:
            cid = f"{u.id}/{ch.platform}"
            st = states.get(cid)
            channel_rows.append({
                "channel": cid, "unit": unit_name(u.id), "unit_id": u.id, "level": u.level, "platform": ch.platform,
                "counts": per_channel.get(cid, Counter()), "held": bool(st and st.status == "held"),
                "reason": st.reason if st and st.status == "held" else None,
            })
    held = []
    for cid, st in sorted(states.items()):
        if st.status != "held" or cid.startswith("app:"):
            continue
        uid, _, platform = cid.partition("/")
        held.append(HeldChannel(cid, unit_name(uid), platform, st.reason or "", st.fix, utc(st.held_at),
                                sum(1 for d in deliveries if d.channel_id == cid and d.state in DeliveryState.OPEN)))

    delivered: dict[str, Counter[str]] = defaultdict(Counter)
    for d in deliveries:
        delivered[d.content_id][d.state] += 1
    firing_rows = []
    for f in firings:
        fired = utc(f.fired_at)
        if fired is None or not (start_dt <= fired < end_dt):
            continue
        counts = delivered.get(f.content_id or "", Counter())
        firing_rows.append(FiringRow(
            fired, unit_name(f.unit_id), f.unit_id, f.rule_id, f.threshold, f.value, f.percent, f.phase,
            f.announced, f.content_id, contents.get(f.content_id or "", (None, None))[0],
            counts[DeliveryState.SENT], sum(counts.values()),
        ))
    firing_rows.sort(key=lambda f: (f.fired_at, f.unit))

    return ReportData(
        campaign=campaign, first=first, last=last, ref=ref, generated_at=now, metric=metric,
        metric_label=metric_label(metric), totals=totals, tiers=tier_list, units=list(stats.values()),
        channels=channel_rows, issues=issues, held=held, engagement=eng_rows, engagement_totals=eng_totals,
        phases=phases, bars=bars, lagging=lagging, quiet=quiet, firings=firing_rows, series=series_rows,
        readings=sum(len(v) for v in own.values()), store_url=store.display_url(),
        corrections=report_rows(store, campaign, start_dt, end_dt),
    )


# --- writing ---------------------------------------------------------------------------------


def _n(value: float | None) -> Any:
    """A number for a CSV cell: integers without separators (spreadsheets read them as numbers)."""
    if value is None:
        return ""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def report_tables(r: ReportData) -> list[Table]:
    """The report's tables with typed cells (numbers, Pct, datetimes): the CSV files and the XLSX sheets are both
    written from these, so they always hold the same rows."""
    label = r.metric_label
    names = {u.id: u.short_name or u.name for u in r.campaign.units}
    return [
        Table("theo-cap.csv", "Theo cấp", "Theo cấp: bài đăng, tương tác, tiến độ",
              ["Cấp", "Số đơn vị", "Đã đăng", "Chờ đăng", "Tạm giữ", "Lỗi", "Bỏ qua", "Bày tỏ cảm xúc", "Bình luận",
               "Chia sẻ", "Lượt xem", f"Số {label}", "Chỉ tiêu", "% chỉ tiêu", "Đơn vị im lặng"],
              [[t.label, t.units, *(t.counts[k] for k in STATES), *(t.engagement[k] for k in ENGAGEMENT_FIELDS),
                _n(t.value), _n(t.target), Pct(t.percent), t.quiet] for t in r.tiers]),
        Table("theo-don-vi.csv", "Theo đơn vị", "Theo đơn vị: bài đăng, tương tác, tiến độ, im lặng",
              ["Mã đơn vị", "Đơn vị", "Cấp", "Đơn vị cấp trên", "Kênh", "Đã đăng", "Chờ đăng", "Tạm giữ", "Lỗi",
               "Bỏ qua", "Bài gần nhất", "Bày tỏ cảm xúc", "Bình luận", "Chia sẻ", "Lượt xem", f"Số {label}",
               "Chỉ tiêu", "% chỉ tiêu", "Số liệu cập nhật", f"Im lặng {QUIET_DAYS} ngày"],
              [[st.unit.id, st.unit.name, level_label(st.unit.level), st.unit.parent or "",
                ", ".join(platform_label(p) for p in st.platforms), *(st.counts[k] for k in STATES),
                st.last_sent, *(st.engagement[k] for k in ENGAGEMENT_FIELDS), _n(st.value),
                _n(st.unit.target), Pct(st.percent), st.reading_at, "có" if st.quiet else ""]
               for st in r.units]),
        Table("theo-kenh.csv", "Theo kênh", "Theo kênh (Trang Facebook, Zalo OA)",
              ["Kênh", "Đơn vị", "Nền tảng", "Đã đăng", "Chờ đăng", "Tạm giữ", "Lỗi", "Bỏ qua", "Kênh bị tạm giữ vì"],
              [[c["channel"], c["unit"], platform_label(c["platform"]), *(c["counts"][k] for k in STATES),
                c["reason"] or ""] for c in r.channels]),
        Table("loi-va-tam-giu.csv", "Lỗi và tạm giữ", "Bài lỗi, bỏ qua, chờ thử lại, tạm giữ — kèm lý do",
              ["Đơn vị", "Nền tảng", "Bài", "Mã bài", "Trạng thái", "Lý do", "Hạn đăng", "Cập nhật"],
              [[i.unit, platform_label(i.platform), i.title, i.content_id, i.state_label, i.reason, i.due_at, i.when]
               for i in r.issues]),
        Table("tuong-tac.csv", "Tương tác", "Tương tác của từng bài đã đăng (lần đọc mới nhất)",
              ["Đơn vị", "Nền tảng", "Bài", "Mã bài", "Đăng lúc", "Mã bài trên nền tảng", "Bày tỏ cảm xúc",
               "Bình luận", "Chia sẻ", "Lượt xem", "Đọc lúc"],
              [[e.unit, platform_label(e.platform), e.title, e.content_id, e.sent_at, e.post_id or "",
                *(_n(e.values[k]) for k in ENGAGEMENT_FIELDS), e.read_at] for e in r.engagement]),
        Table("chi-so.csv", "Chỉ số theo thời gian", f"Số {label} theo thời gian: tỉnh và các đơn vị trực thuộc",
              ["Mã đơn vị", "Đơn vị", "Giai đoạn", "Thời điểm", f"Số {label} (cả nhánh)", "Chỉ tiêu", "% chỉ tiêu"],
              [[uid, names.get(uid, uid), phase, t, _n(v), _n(target), Pct(v * 100.0 / target if target else None)]
               for uid, phase, t, v, target in r.series]),
        Table("don-vi-can-nhac.csv", "Đơn vị cần nhắc", "Đơn vị chậm tiến độ và đơn vị im lặng",
              ["Mã đơn vị", "Đơn vị", "Cấp", "Lý do", f"Số {label}", "Chỉ tiêu", "% chỉ tiêu", "Bài gần nhất"],
              [[st.unit.id, st.unit.name, level_label(st.unit.level), "chậm tiến độ", _n(st.value),
                _n(st.unit.target), Pct(st.percent), st.last_sent] for st in r.lagging]
              + [[st.unit.id, st.unit.name, level_label(st.unit.level), f"không đăng bài {QUIET_DAYS} ngày",
                  _n(st.value), _n(st.unit.target), Pct(st.percent), st.last_sent or "chưa từng"]
                 for st in r.quiet]),
        Table("cot-moc.csv", "Cột mốc", "Các cột mốc đã đạt",
              ["Thời điểm", "Mã đơn vị", "Đơn vị", "Quy tắc", "Ngưỡng", f"Số {label}", "% chỉ tiêu", "Giai đoạn",
               "Đã thông báo", "Bài thông báo", "Số kênh đã đăng", "Số kênh cần đăng"],
              [[f.fired_at, f.unit_id, f.unit, f.rule_id, f.threshold, _n(f.value), Pct(f.percent),
                f.phase or "", "có" if f.announced else "không (vượt cùng lúc mốc cao hơn)", f.title or "",
                f.sent if f.planned else None, f.planned or None] for f in r.firings]),
    ]


def write_csvs(r: ReportData, out: Path) -> list[tuple[str, str]]:
    """Every table as a CSV file (for a Vietnamese-locale Excel, see bot.reports.exports) and all of them in one
    workbook; returns (file, description) for the page's list of files, the workbook first."""
    tz = r.campaign.tz
    tables = report_tables(r)
    for table in tables:
        write_table_csv(out / table.file, table.header, table.rows, tz)
    write_xlsx(out / XLSX_NAME, tables, tz, title=f"Báo cáo {r.campaign.config.name}")
    return [(XLSX_NAME, "Tất cả các bảng trong một tệp Excel (mỗi bảng một trang tính)")] + [
        (t.file, t.description) for t in tables
    ]


def write_report(r: ReportData, out: Path, notice: list[str] | None = None, alerts: dict | None = None) -> Path:
    """``index.html`` and the CSV files into ``out``. ``notice``: the folder's errors when the report runs on the
    last good version; ``alerts``: bot.alerts.alerts_data, shown in their own section (issue 11)."""
    from bot.alerts import STATE_LABELS, TYPE_LABELS

    out.mkdir(parents=True, exist_ok=True)
    copy_static(out)
    r.files = write_csvs(r, out)
    html = environment(r.campaign.tz).get_template("report.html").render(
        r=r, c=r.campaign.config, quiet_days=QUIET_DAYS, states=STATES, kind_label=kind_label,
        folder_notice=notice or [], **({"alerts": alerts} if alerts is not None else {}),
        alert_types=TYPE_LABELS, alert_states=STATE_LABELS,
    )
    atomic_write_text(out / "index.html", html)
    return out / "index.html"
