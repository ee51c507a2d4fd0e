"""The demo's own store and folder, and `reset`: what an old demo left in the campaign's store.

The demo plays the coming days in simulated time into ``demo/`` (its own SQLite store and outbox),
never reads a token nor the campaign's store, and mails nobody. ``reset`` forgets, in the campaign's
store, what an old demo simulated there (posts written to the outbox, posts not yet sent, slots and
milestone news of the simulated future) and keeps everything that did reach Facebook or Zalo, so that
nothing is ever posted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import select

DEMO_FOLDER = "demo"  # under the workspace: demo/campaign.db and demo/outbox/
# tokens, platform addresses, the real store, and where alerts go (the demo tells nobody anything)
SECRET_PREFIXES = ("FB_", "ZALO_", "GRAPH_", "CAMPAIGN_DB_URL", "CAMPAIGN_SMTP_URL", "CAMPAIGN_NOTIFY_URLS",
                   "CAMPAIGN_MAIL_FROM")


def demo_folder(workspace: Path) -> Path:
    return workspace / DEMO_FOLDER


def demo_env(env: dict[str, str], campaign: Any) -> dict[str, str]:
    """The environment without any token, store address or alert address: the demo can never post
    for real, write to the campaign's store, or mail a person about a simulated milestone."""
    token_vars = {ch.token_env for u in campaign.units for ch in u.channels if ch.token_env}
    return {k: v for k, v in env.items() if k not in token_vars and not k.startswith(SECRET_PREFIXES)}


@dataclass
class ResetPlan:
    """What ``reset`` would forget in the campaign's store, and what it keeps."""

    deliveries: list[int] = field(default_factory=list)
    outbox_files: list[Path] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    firings: list[int] = field(default_factory=list)
    kept_real: int = 0  # deliveries that reached (or may have reached) a real platform

    @property
    def empty(self) -> bool:
        return not (self.deliveries or self.slots or self.firings or self.outbox_files)


def plan_reset(store: Any, workspace: Path, now: datetime) -> ResetPlan:
    """Choose what to forget: nothing that reached a real platform; everything an old demo simulated."""
    from bot.store import Delivery, DeliveryState, MilestoneFiring, ScheduleSlot

    result = ResetPlan()
    with store.session() as s:
        deliveries = s.exec(select(Delivery)).all()
        removed_slots: set[tuple[str | None, Any]] = set()
        kept_slots: set[tuple[str | None, Any]] = set()
        removed_content: set[str] = set()
        kept_content: set[str] = set()
        for d in deliveries:
            post_id = d.platform_post_id or ""
            reached = (d.state == DeliveryState.SENDING or d.needs_check or d.first_sent_attempt_at is not None
                       or (post_id and not post_id.startswith("outbox:")))
            if d.state == DeliveryState.SENT and post_id.startswith("outbox:"):
                reached = False
            key = (d.schedule_id, _naive(d.slot_at))
            if reached:
                result.kept_real += 1
                kept_slots.add(key)
                kept_content.add(d.content_id)
                continue
            result.deliveries.append(d.id or 0)
            removed_slots.add(key)
            removed_content.add(d.content_id)
            if post_id.startswith("outbox:"):
                result.outbox_files += sorted((workspace / "outbox" / d.unit_id / d.platform).glob(f"{d.id:06d}-*"))
        for slot in s.exec(select(ScheduleSlot)).all():
            key = (slot.schedule_id, _naive(slot.slot_at))
            if key in kept_slots:
                continue
            if _aware(slot.slot_at) > now or key in removed_slots:
                result.slots.append(slot.id or 0)
        for firing in s.exec(select(MilestoneFiring)).all():
            if firing.content_id in kept_content:
                continue
            if _aware(firing.fired_at) > now or (firing.content_id and firing.content_id in removed_content):
                result.firings.append(firing.id or 0)
    return result


def _naive(value: datetime | None) -> datetime | None:
    """UTC without tzinfo: SQLite gives naive UTC back, PostgreSQL aware values in its session zone."""
    return value.astimezone(UTC).replace(tzinfo=None) if value is not None and value.tzinfo else value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def apply_reset(store: Any, plan: ResetPlan) -> None:
    """Forget the chosen rows in one transaction, then remove their outbox files."""
    from bot.store import AuditLog, Delivery, Engagement, MilestoneFiring, ScheduleSlot

    with store.session() as s:
        for start in range(0, len(plan.deliveries), 500):
            chunk = plan.deliveries[start:start + 500]
            s.exec(delete(Engagement).where(Engagement.delivery_id.in_(chunk)))  # type: ignore[attr-defined]
            s.exec(delete(Delivery).where(Delivery.id.in_(chunk)))  # type: ignore[union-attr]
        for start in range(0, len(plan.slots), 500):
            s.exec(delete(ScheduleSlot).where(ScheduleSlot.id.in_(plan.slots[start:start + 500])))  # type: ignore[union-attr]
        for start in range(0, len(plan.firings), 500):
            s.exec(delete(MilestoneFiring).where(MilestoneFiring.id.in_(plan.firings[start:start + 500])))  # type: ignore[union-attr]
        s.add(AuditLog(actor="cli", action="reset", detail={
            "deliveries": len(plan.deliveries), "slots": len(plan.slots), "firings": len(plan.firings),
            "kept_real": plan.kept_real}))
        s.commit()
    for path in plan.outbox_files:
        path.unlink(missing_ok=True)
