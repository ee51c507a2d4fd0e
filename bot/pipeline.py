"""One pass of everything due at a moment: load, sync, metrics and milestones, plan, publish.

``tick`` is what `campaign-bot tick` runs once and what `campaign-bot run` runs every minute.
The demo plays the same ticks in simulated time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import milestones
from bot.load import Campaign
from bot.metrics import metric_names, subtree_values
from bot.plan import next_slots, plan, quiet_ends_between
from bot.store.db import Store
from bot.store.sync import sync_campaign
from bot.worker import Worker, WorkerReport


@dataclass
class TickReport:
    at: datetime
    planned: int = 0
    slots: int = 0
    milestones: list[str] = field(default_factory=list)
    worker: WorkerReport = field(default_factory=WorkerReport)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "slots_filled": self.slots,
            "deliveries_planned": self.planned,
            "milestones": self.milestones,
            "outcomes": dict(self.worker.outcomes),
            "held_channels": self.worker.held,
            "engagement_read": self.worker.engagement_read,
            "notes": self.notes,
        }


def current_metrics(campaign: Campaign, store: Store) -> dict[str, dict[str, float]]:
    with store.session() as s:
        return {name: subtree_values(s, campaign, name) for name in metric_names(campaign)}


def run_milestones(campaign: Campaign, store: Store, env: dict[str, str], now: datetime) -> tuple[list[str], list[str]]:
    """Import new metric readings and announce crossed milestones (see bot.milestones).

    Returns the announcements made and notes for the staff (bad metric rows, an unreachable URL)."""
    result = milestones.check_all(campaign, store, env, now)
    return result.descriptions, result.notes


def plan_now(campaign: Campaign, store: Store, now: datetime) -> tuple[int, int]:
    with store.session() as s:
        result = plan(s, campaign, now)
    return len(result.created), len(result.slots_filled)


def tick(
    campaign: Campaign,
    store: Store,
    env: dict[str, str],
    now: datetime,
    *,
    worker: Worker | None = None,
    force_outbox: bool = False,
    max_workers: int = 8,
    publish: bool = True,
    lead: bool = True,
) -> TickReport:
    """``lead``: this process holds the planner role (see bot.leader) and syncs, checks milestones,
    plans and reads engagement; a process without it only publishes."""
    report = TickReport(at=now)
    if lead:
        sync_campaign(campaign, store)
        report.milestones, notes = run_milestones(campaign, store, env, now)
        report.notes.extend(notes)
        report.planned, report.slots = plan_now(campaign, store, now)
    if publish:
        own_worker = worker is None
        w = worker or Worker(campaign, store, env, force_outbox=force_outbox, max_workers=max_workers)
        w.metrics = current_metrics(campaign, store)
        try:
            report.worker = w.run_once(now)
            if lead:
                report.worker.engagement_read = w.read_engagement()
                w.keep_tokens_alive()
        finally:
            if own_worker:
                w.close()
    return report


def demo_moments(campaign: Campaign, start: datetime, days: int) -> list[datetime]:
    """The moments worth a tick in the demo window: every slot, every end of quiet hours, and the start."""
    end = start + timedelta(days=days)
    moments = {start}
    moments.update(t for t, _ in next_slots(campaign, start, end))
    moments.update(quiet_ends_between(campaign, start, end))
    return sorted(moments)


def play(
    campaign: Campaign,
    store: Store,
    env: dict[str, str],
    start: datetime,
    days: int,
    *,
    on_step: Callable[[datetime, TickReport], None] | None = None,
) -> Counter[str]:
    """Play ``days`` of the campaign in simulated time, everything into the outbox."""
    totals: Counter[str] = Counter()
    worker = Worker(campaign, store, env, force_outbox=True, max_workers=4)
    try:
        for moment in demo_moments(campaign, start, days):
            report = tick(campaign, store, env, moment, worker=worker, force_outbox=True)
            totals.update(report.worker.outcomes)
            totals["planned"] += report.planned
            totals["milestones"] += len(report.milestones)
            if on_step:
                on_step(moment, report)
    finally:
        worker.close()
    return totals
