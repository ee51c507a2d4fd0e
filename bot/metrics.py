"""Metric values over the unit tree.

A unit's value is its own latest reading plus the latest readings of every unit below it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.load import Campaign
from bot.store.models import MetricReading


def latest_own(s: Session, metric: str, at: datetime | None = None) -> dict[str, float]:
    """Each unit's own latest reading of ``metric`` (at or before ``at``)."""
    sub = select(MetricReading.unit_id, func.max(MetricReading.at).label("at")).where(MetricReading.metric == metric)
    if at is not None:
        sub = sub.where(col(MetricReading.at) <= at)
    sub = sub.group_by(MetricReading.unit_id).subquery()
    rows = s.exec(
        select(MetricReading.unit_id, MetricReading.value).join(
            sub, (MetricReading.unit_id == sub.c.unit_id) & (MetricReading.at == sub.c.at)
        ).where(MetricReading.metric == metric)
    ).all()
    return {uid: float(v) for uid, v in rows}


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


def metric_names(campaign: Campaign) -> list[str]:
    names = {rule.metric for rule in campaign.milestones.milestones}
    return sorted(names) or ["initiatives"]
