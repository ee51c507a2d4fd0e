"""One pass of everything due at a moment: load, sync, metrics and milestones, plan, publish, alerts.

``tick`` is what `campaign-bot tick` runs once and what `campaign-bot run` runs every minute
(through :func:`run_pass`, which first loads the folder or, when it is broken, the last good
version kept in the store: see bot.lastgood). The demo plays the same ticks in simulated time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from bot import alerts, digest, milestones
from bot.lastgood import FolderState, Running, load_running
from bot.load import Campaign
from bot.metrics import metric_names, subtree_values
from bot.plan import next_slots, plan, quiet_ends_between
from bot.store.db import Store
from bot.store.models import AuditLog, Meta
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
    folder: FolderState = field(default_factory=FolderState)
    alerts: alerts.AlertsReport = field(default_factory=alerts.AlertsReport)
    digest: digest.DigestReport = field(default_factory=digest.DigestReport)  # issue 17

    def summary(self) -> dict[str, Any]:
        return {
            "folder": self.folder.as_dict(),
            "alerts": self.alerts.as_dict(),
            "digest": self.digest.as_dict(),
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

    Returns the announcements made and notes for the staff (bad metric rows, an unreachable URL).
    A metric URL that keeps failing for a day becomes an alert (see bot.alerts.note_metric_source)."""
    with store.session() as s:
        before = s.get(Meta, milestones.META_URL_FETCH)
        last_fail = s.exec(select(func.max(AuditLog.id)).where(AuditLog.action == "metrics_fetch_failed")).one()
    result = milestones.check_all(campaign, store, env, now)
    src = campaign.milestones.metric_source
    if src.url:
        with store.session() as s:
            after = s.get(Meta, milestones.META_URL_FETCH)
            fail = s.exec(select(AuditLog).where(AuditLog.action == "metrics_fetch_failed",
                                                 col(AuditLog.id) > (last_fail or 0))
                          .order_by(col(AuditLog.id).desc()).limit(1)).first()
        attempted = after is not None and (before is None or before.value != after.value)
        if attempted:
            alerts.note_metric_source(store, now, failed=fail is not None, label=src.url.split("?", 1)[0],
                                      error=(fail.detail or {}).get("error") if fail else None)
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
    folder: FolderState | None = None,
    send_alerts: bool = True,
) -> TickReport:
    """``lead``: this process holds the planner role (see bot.leader) and syncs, checks milestones,
    plans and reads engagement; a process without it only publishes. ``folder``: the state of the
    campaign folder when ``campaign`` is the last good version (see :func:`run_pass`).

    The alerts pass comes last, so that what this tick held or failed is told at once."""
    report = TickReport(at=now, folder=folder or FolderState())
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
    if send_alerts:
        if lead:  # the weekly digests due now are recorded; the alerts pass below sends them (never raises)
            report.digest = digest.run_pass(campaign, store, env, now)
        report.alerts = alerts.run_pass(store, campaign, env, now)
    return report


def run_pass(
    workspace: Path,
    store: Store,
    env: dict[str, str],
    now: datetime,
    *,
    force_outbox: bool = False,
    lead: bool = True,
    worker: Worker | None = None,
) -> TickReport:
    """What `tick` and each minute of `run` do: load the folder — or, when it fails validation, go on
    from the last good version kept in the store — then one :func:`tick`.

    Never fails on a bad folder: the errors are in ``report.folder`` (and told by an alert). With no
    good version stored yet there is nothing to run on; the alerts pass still records and sends."""
    running: Running = load_running(workspace, store, now, record=lead)
    if running.campaign is None:
        report = TickReport(at=now, folder=running.folder)
        report.alerts = alerts.run_pass(store, None, env, now)
        return report
    return tick(running.campaign, store, env, now, worker=worker, force_outbox=force_outbox, lead=lead,
                folder=running.folder)


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
