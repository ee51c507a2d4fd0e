"""A unit's value: its own latest reading plus the latest readings of every unit below it."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import bounds
from bot.load import Campaign, MetricConfig
from bot.load import metric_configs as load_metric_configs
from bot.store.models import MetricReading

STATUS_OK, STATUS_HELD, STATUS_DROPPED = "ok", "held", "dropped"



def counting(query: Any, metric: str, at: datetime | None) -> Any:
    """Only readings that count: confirmed (not held, not dropped), within the bounds, not dated in
    the future. Also guards against rows stored before the bounds existed (a 1e308 reading stored
    once made every tick fail with OverflowError)."""
    limit = at if at is not None else datetime.now(UTC) + bounds.METRIC_FUTURE_TOLERANCE
    return query.where(
        MetricReading.metric == metric,
        MetricReading.status == STATUS_OK,
        col(MetricReading.value) >= 0,
        col(MetricReading.value) <= bounds.METRIC_VALUE_MAX,
        col(MetricReading.at) <= limit,
    )


def latest_own(s: Session, metric: str, at: datetime | None = None) -> dict[str, float]:
    """Each unit's own latest reading of ``metric`` (at or before ``at``)."""
    return {uid: value for uid, (value, _when) in latest_own_with_time(s, metric, at).items()}


def subtree_values(s: Session, campaign: Campaign, metric: str, at: datetime | None = None) -> dict[str, float]:
    """Every unit's value: its own latest reading plus those of all units below it."""
    own = latest_own(s, metric, at)
    children: dict[str, list[str]] = defaultdict(list)
    for u in campaign.units:
        if u.parent:
            children[u.parent].append(u.id)
    totals: dict[str, float] = {}

    def total(uid: str) -> float:
        if uid not in totals:
            totals[uid] = own.get(uid, 0.0) + sum(total(c) for c in children.get(uid, []))
        return totals[uid]

    for u in campaign.units:
        total(u.id)
    return totals


def metric_configs(campaign: Campaign) -> dict[str, MetricConfig]:
    """The declared metrics by name (``metrics:`` in config/campaign.yaml; ``initiatives`` if none)."""
    return {m.name: m for m in load_metric_configs(campaign.config)}


def metric_names(campaign: Campaign) -> list[str]:
    names = {rule.metric for rule in campaign.milestones.milestones} | set(metric_configs(campaign))
    return sorted(names) or ["initiatives"]


def subtree_readings(
    s: Session, campaign: Campaign, metric: str, at: datetime | None = None
) -> dict[str, tuple[float, datetime | None]]:
    """Every unit's subtree value and the time of the newest reading that went into it."""
    own = latest_own_with_time(s, metric, at)
    children: dict[str, list[str]] = defaultdict(list)
    for u in campaign.units:
        if u.parent:
            children[u.parent].append(u.id)
    out: dict[str, tuple[float, datetime | None]] = {}

    def total(uid: str) -> tuple[float, datetime | None]:
        if uid not in out:
            value, when = own.get(uid, (0.0, None))
            for c in children.get(uid, []):
                cv, cw = total(c)
                value += cv
                if cw is not None and (when is None or cw > when):
                    when = cw
            out[uid] = (value, when)
        return out[uid]

    for u in campaign.units:
        total(u.id)
    return out


def latest_own_with_time(s: Session, metric: str, at: datetime | None = None) -> dict[str, tuple[float, datetime]]:
    """Like :func:`latest_own`, with the time of each unit's latest reading."""
    sub = counting(select(MetricReading.unit_id, func.max(MetricReading.at).label("at")), metric, at)
    sub = sub.group_by(MetricReading.unit_id).subquery()
    rows = s.exec(
        counting(
            select(MetricReading.unit_id, MetricReading.value, MetricReading.at).join(
                sub, (MetricReading.unit_id == sub.c.unit_id) & (MetricReading.at == sub.c.at)
            ),
            metric,
            at,
        )
    ).all()
    return {uid: (float(v), _utc(when)) for uid, v, when in rows if math.isfinite(v)}


def main_metric(campaign: Campaign) -> str:
    """The metric that targets are set for: ``initiatives`` if any rule uses it, else the first."""
    names = metric_names(campaign)
    declared = list(metric_configs(campaign))
    if "initiatives" in names:
        return "initiatives"
    return declared[0] if declared else names[0]


METRIC_LABELS = {"initiatives": "sáng kiến"}


def metric_label(metric: str, campaign: Campaign | None = None) -> str:
    """The Vietnamese label of a metric: declared in the campaign, else the built-in one."""
    if campaign is not None:
        declared = metric_configs(campaign).get(metric)
        if declared is not None:
            return declared.label
    return METRIC_LABELS.get(metric, metric)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
