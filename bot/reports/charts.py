"""Charts as inline SVG, drawn on the server: they print, work offline and need no script.

This module computes geometry only (coordinates, path data and labels); the templates write
the SVG elements, so every label goes through the same autoescaping as the rest of the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reports import phan_tram
from bot.vn import TZ, ngay, so


@dataclass
class Tick:
    pos: float
    label: str


@dataclass
class Point:
    x: float
    y: float
    label: str  # shown on hover (<title>)


@dataclass
class LineChart:
    """The metric of one unit over one phase: a step line (readings are cumulative counts)."""

    title: str
    subtitle: str
    width: int = 560
    height: int = 250
    left: int = 64
    right: int = 20
    top: int = 18
    bottom: int = 34
    line: str = ""  # path data
    area: str = ""
    points: list[Point] = field(default_factory=list)
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    target_y: float | None = None
    target_label: str = ""
    today_x: float | None = None
    value: float | None = None
    target: float | None = None
    percent: float | None = None
    empty_note: str | None = None
    wide: bool = False  # spans the whole row (the province)

    @property
    def plot_right(self) -> float:
        return self.width - self.right

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom

    @property
    def status(self) -> str:
        return progress_class(self.percent)


def progress_class(percent: float | None) -> str:
    if percent is None:
        return "p-none"
    if percent >= 100:
        return "p-done"
    if percent >= 80:
        return "p-good"
    if percent >= 50:
        return "p-mid"
    return "p-low"


def nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8 × 10^k: quarters stay round)."""
    if value <= 0:
        return 10.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def _date_ticks(start: date, end: date) -> list[date]:
    days = (end - start).days
    if days > 75:
        ticks = []
        d = date(start.year, start.month, 1)
        step = 1 if days <= 200 else 2 if days <= 400 else 3
        while d <= end:
            if d >= start:
                ticks.append(d)
            month = d.month - 1 + step
            d = date(d.year + month // 12, month % 12 + 1, 1)
        return ticks
    step = 1 if days <= 10 else 7 if days <= 60 else 14
    return [start + timedelta(days=i) for i in range(0, days + 1, step)]


def chart_window(
    series: list[tuple[datetime, float]], start: datetime, end: datetime, now: datetime | None
) -> tuple[datetime, datetime]:
    """The part of a phase worth drawing: from a little before its first reading (or the phase's start
    when a value is carried into it) to the report's moment (or the phase's end), at least two weeks."""
    stop = min(end, now) if now is not None and now > start else end
    inside = [t for t, _ in series if start <= t <= stop]
    if any(t < start for t, _ in series) or not inside:
        lo = start
    else:
        lo = inside[0]
    span = max(stop - lo, timedelta(days=14))
    lo = max(start, stop - span - span / 10)
    hi = min(end, stop + span / 25)
    return lo, hi


def line_chart(
    title: str,
    subtitle: str,
    series: list[tuple[datetime, float]],
    start: datetime,
    end: datetime,
    target: float | None,
    now: datetime | None,
    tz: ZoneInfo = TZ,
    width: int = 560,
    height: int = 250,
) -> LineChart:
    """``series``: (time, cumulative value) in time order, the first one possibly before ``start``
    (the value carried into the window). The line stops at ``now`` if that falls inside."""
    chart = LineChart(title=title, subtitle=subtitle, width=width, height=height, target=target)
    stop = min(end, now) if now is not None else end
    inside = [(t, v) for t, v in series if start <= t <= stop]
    before = [(t, v) for t, v in series if t < start]
    if not inside and not before:
        chart.empty_note = "Chưa có số liệu trong giai đoạn này."
    values = [v for _, v in inside] + [v for _, v in before[-1:]]
    top_value = max(values + ([target] if target else []) + [1.0])
    y_max = nice_max(top_value * 1.08)
    span = (end - start).total_seconds() or 1.0
    x0, x1 = float(chart.left), chart.plot_right
    y0, y1 = chart.plot_bottom, float(chart.top)

    def x(t: datetime) -> float:
        return round(x0 + (x1 - x0) * min(max((t - start).total_seconds() / span, 0.0), 1.0), 1)

    def y(v: float) -> float:
        return round(y0 - (y0 - y1) * min(max(v / y_max, 0.0), 1.0), 1)

    for i in range(5):
        v = y_max * i / 4
        chart.yticks.append(Tick(y(v), so(v, 0) if v == int(v) else so(v, 1)))
    d0, d1 = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    for d in _date_ticks(d0, d1):
        t = datetime.combine(d, datetime.min.time(), tz)
        if t < start or x(t) > x1 - 18:
            continue  # a label at the very edge would be cut off
        chart.xticks.append(Tick(x(t), f"{d.day:02d}/{d.month:02d}" if d1.year == d0.year else ngay(d)))
    if target:
        chart.target_y = y(target)
        chart.target_label = f"Chỉ tiêu {so(target)}"
    if now is not None and start <= now <= end:
        chart.today_x = x(now)

    steps: list[tuple[datetime, float]] = []
    if before:
        steps.append((start, before[-1][1]))
    steps.extend(inside)
    if steps:
        parts = [f"M{x(steps[0][0])},{y(steps[0][1])}"]
        for t, v in steps[1:]:
            parts.append(f"H{x(t)}V{y(v)}")
        parts.append(f"H{x(stop)}")
        chart.line = "".join(parts)
        chart.area = chart.line + f"V{y0}H{x(steps[0][0])}Z"
        for t, v in inside:
            chart.points.append(Point(x(t), y(v), f"{ngay(t, tz)}: {so(v)}"))
        chart.value = steps[-1][1]
        if target:
            chart.percent = chart.value * 100.0 / target
    return chart


@dataclass
class Bar:
    label: str
    sublabel: str
    y: float
    width: float
    percent: float | None
    text: str
    status: str
    anchor: str
    depth: int = 0


@dataclass
class BarChart:
    """Percent of target, one horizontal bar per unit, with the 100% line."""

    bars: list[Bar]
    width: int
    height: int
    left: int
    right: int
    row: int
    hundred_x: float
    xticks: list[Tick]


def percent_bars(rows: list[tuple[str, str, float | None, str, int]], width: int = 900, row: int = 26) -> BarChart:
    """``rows``: (label, sublabel, percent, anchor id, depth in the unit tree)."""
    left, right = 300, 70
    known = [r[2] for r in rows if r[2] is not None]
    x_max = max(100.0, math.ceil(max(known or [0.0]) / 20.0) * 20.0)
    plot = width - left - right

    def x(p: float) -> float:
        return round(left + plot * min(max(p / x_max, 0.0), 1.0), 1)

    bars = []
    for i, (label, sublabel, pct, anchor, depth) in enumerate(rows):
        bars.append(
            Bar(
                label=label,
                sublabel=sublabel,
                y=i * row + 6,
                width=round(x(pct or 0.0) - left, 1),
                percent=pct,
                text=phan_tram(pct) if pct is not None else "chưa có chỉ tiêu",
                status=progress_class(pct),
                anchor=anchor,
                depth=depth,
            )
        )
    ticks = [Tick(x(p), f"{int(p)}%") for p in range(0, int(x_max) + 1, 20 if x_max <= 200 else 50)]
    return BarChart(bars, width, len(rows) * row + 30, left, right, row, x(100.0), ticks)
