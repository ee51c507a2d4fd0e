"""Plan: turn schedule slots into deliveries, exactly once.

At each slot of a schedule (cron in the campaign's timezone), every channel of the chosen
units gets the next approved story its unit may post (by audience), that it has not posted,
of a kind the rule lists, inside its dates: highest priority first, then earliest
``approved_at``, then id. A slot is recorded in ``scheduleslot`` in the same transaction as
its deliveries, and deliveries are unique per (content, channel): planning the same moment
twice creates nothing new. A slot missed while the bot was down is filled within its grace
window, once; older ones are passed over.

Functions take a Session and never commit, so ``preview`` can plan inside a transaction it
rolls back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.load import Campaign, ScheduleConfig
from bot.store.models import Channel, ContentItem, Delivery, ScheduleSlot, utcnow
from bot.store.planning import (
    Candidate,
    Posted,
    active_channels,
    candidates,
    cap_counts,
    channel_posted,
    cursors,
    insert_deliveries,
    posted,
)

MILESTONE_PRIORITY = 1000


@dataclass
class EmptySlot:
    schedule_id: str
    slot_at: datetime
    channel_id: str
    reason: str  # Vietnamese, shown in the preview


@dataclass
class PlanResult:
    created: list[Planned] = field(default_factory=list)
    slots_filled: list[tuple[str, datetime]] = field(default_factory=list)
    slots_missed: list[tuple[str, datetime]] = field(default_factory=list)
    empty: list[EmptySlot] = field(default_factory=list)


# --- the unit tree --------------------------------------------------------------------------


class Tree:
    """Ancestors and descendants of each unit, from the campaign's flat list."""

    def __init__(self, campaign: Campaign) -> None:
        self.parent = {u.id: u.parent for u in campaign.units}
        self.children: dict[str, list[str]] = defaultdict(list)
        for u in campaign.units:
            if u.parent:
                self.children[u.parent].append(u.id)
        self.level = {u.id: u.level for u in campaign.units}
        self._ancestors: dict[str, frozenset[str]] = {}

    def ancestors_or_self(self, uid: str) -> list[str]:
        out = []
        cur: str | None = uid
        while cur is not None:
            out.append(cur)
            cur = self.parent.get(cur)
        return out

    def subtree(self, uid: str) -> list[str]:
        out, todo = [], [uid]
        while todo:
            cur = todo.pop()
            out.append(cur)
            todo.extend(self.children.get(cur, []))
        return out

    def select(self, selector: Any) -> list[str]:
        """Units chosen by ``all`` | [ids] | {level: X}."""
        if selector == "all" or selector is None:
            return list(self.parent)
        if isinstance(selector, dict):
            return [u for u, lvl in self.level.items() if lvl == selector.get("level")]
        return [u for u in selector if u in self.parent]

    def may_post(self, unit_id: str, author: str, audience: Any) -> bool:
        """Whether ``unit_id`` may post content by ``author`` with this audience."""
        if audience == "all":
            return True
        if audience == "own":
            return unit_id == author
        if audience == "cascade":
            known = self._ancestors.get(unit_id)
            if known is None:
                known = self._ancestors[unit_id] = frozenset(self.ancestors_or_self(unit_id))
            return author in known
        return unit_id in (audience or [])

    def audience_units(self, author: str, audience: Any) -> list[str]:
        if audience == "all":
            return list(self.parent)
        if audience == "own":
            return [author]
        if audience == "cascade":
            return self.subtree(author)
        return [u for u in audience if u in self.parent]


@cache
def _trigger(cron: str, tz: str) -> CronTrigger:
    return CronTrigger.from_crontab(cron, timezone=tz)


def slots_between(schedule: ScheduleConfig, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Fire times of the schedule in [start, end], as UTC-aware datetimes."""
    trigger = _trigger(schedule.cron, tz)
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, start)
    while t is not None and t <= end:
        out.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return out


# --- quiet hours ----------------------------------------------------------------------------


def in_quiet_hours(campaign: Campaign, when: datetime) -> bool:
    window = campaign.settings.quiet_window()
    if window is None:
        return False
    start, end = window
    t = when.astimezone(campaign.tz).time()
    return (start <= t or t < end) if start > end else (start <= t < end)


def quiet_end(campaign: Campaign, when: datetime) -> datetime:
    """``when`` itself, or the end of the quiet window it falls in."""
    if not in_quiet_hours(campaign, when):
        return when
    _, end = campaign.settings.quiet_window()  # type: ignore[misc]
    local = when.astimezone(campaign.tz)
    candidate = datetime.combine(local.date(), end, campaign.tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, campaign.tz)
    return candidate.astimezone(UTC)


def local_day(campaign: Campaign, when: datetime) -> str:
    return when.astimezone(campaign.tz).date().isoformat()


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """A delivery the planner created (what a tick reports and `preview` shows)."""

    id: int
    content_id: str
    channel_id: str
    unit_id: str
    platform: str
    schedule_id: str | None
    slot_at: datetime | None
    day: str
    due_at: datetime
    priority: int


def _order_key(c: Candidate | ContentItem) -> tuple[Any, ...]:
    approved = c.approved_at or datetime.max.replace(tzinfo=UTC)
    if approved.tzinfo is None:
        approved = approved.replace(tzinfo=UTC)
    return (-c.priority, approved, c.id)


def _slogan_item(s: Session, campaign: Campaign, schedule: ScheduleConfig, slot: datetime) -> ContentItem | None:
    slogans = campaign.config.slogans
    if not slogans:
        return None
    local = slot.astimezone(campaign.tz)
    content_id = f"slogan/{schedule.id}/{local:%Y-%m-%d-%H%M}"
    row = s.get(ContentItem, content_id)
    if row is not None:
        return row
    n = s.exec(select(func.count()).select_from(ScheduleSlot).where(ScheduleSlot.schedule_id == schedule.id)).one()
    text = slogans[n % len(slogans)]
    root = next((u.id for u in campaign.units if u.parent is None), campaign.units[0].id)
    row = ContentItem(
        id=content_id,
        title=text,
        kind="slogan",
        unit_id=root,
        audience="all",
        platforms=list(schedule.platforms),
        approved=True,
        approved_by="Khẩu hiệu của chiến dịch (config/campaign.yaml)",
        approved_at=slot,
        banner=schedule.banner or "slogan",
        banner_data={"slogan": text},
        body=text,
    )
    s.add(row)
    s.flush()
    return row


class _Choice:
    """One slot's choosing state: the ordered candidates, what each channel has received, and where
    each channel's search starts (a cursor kept between ticks while the candidate list is the same).

    Why a cursor: a channel that has received a hundred stories would otherwise walk past those
    hundred at every slot — a cost that grows with history. Everything before a channel's cursor was
    posted to it or is not for it; posted sets only grow (a deletion drops the cache: bot.store.planning),
    so the cursor stays true until the ordered list of candidates changes."""

    def __init__(self, s: Session, cache: Posted, extra: dict[str, set[str]], order: list[Candidate],
                 key: Any, tree: Tree, slogan: bool) -> None:
        self.s, self.cache, self.extra, self.order, self.tree, self.slogan = s, cache, extra, order, tree, slogan
        self.cursors = cursors(s, cache, key)

    def taken(self, channel_id: str, content_id: str) -> bool:
        return content_id in self.cache.by_channel.get(channel_id, ()) or content_id in self.extra.get(channel_id, ())

    def choose(self, channel_id: str, unit_id: str, platform: str) -> Candidate | None:
        start = self.cursors.get(channel_id, 0)
        for i in range(start, len(self.order)):
            c = self.order[i]
            if (platform in c.platforms and not self.taken(channel_id, c.id)
                    and (self.slogan or self.tree.may_post(unit_id, c.unit_id, c.audience))):
                self.cursors[channel_id] = i
                return c
        self.cursors[channel_id] = len(self.order)
        return None

    def forget(self, channel_ids: list[str]) -> None:
        """Channels whose insert was skipped: their exact history, and their search from the start."""
        for cid, contents in channel_posted(self.s, channel_ids).items():
            self.extra.setdefault(cid, set()).update(contents)
            self.cursors.pop(cid, None)


def fill_slot(
    s: Session, campaign: Campaign, schedule: ScheduleConfig, slot: datetime, tree: Tree, result: PlanResult,
    known: tuple[Posted, dict[str, set[str]]] | None = None,
) -> int:
    """Create the deliveries of one slot (the caller records the slot)."""
    units = tree.select(schedule.units)
    order_units = {u: i for i, u in enumerate(units)}
    channels = sorted(active_channels(s, units, list(schedule.platforms)),
                      key=lambda c: (order_units.get(c[1], 0), c[2]))
    day = local_day(campaign, slot)
    due = quiet_end(campaign, slot)
    cap = campaign.settings.daily_cap
    counts = cap_counts(s, day) if cap else {}
    cache, extra = known or posted(s)

    if schedule.slogan:
        item = _slogan_item(s, campaign, schedule, slot)
        order = [Candidate(item.id, item.unit_id, item.audience, tuple(item.platforms), item.priority,
                           item.approved_at, None, None, None)] if item is not None else []
        key: Any = ("slogan", item.id if item is not None else None)
    else:
        order = sorted((c for c in candidates(s, list(schedule.kinds))
                        if (c.not_before is None or c.not_before <= slot) and (c.expires is None or c.expires > slot)),
                       key=_order_key)
        key = (campaign.config_hash, tuple(schedule.platforms), tuple((c.id, c.content_hash) for c in order))
    choice = _Choice(s, cache, extra, order, key, tree, schedule.slogan)

    todo = []
    for cid, unit_id, platform in channels:
        if cap and counts.get(cid, 0) >= cap:
            result.empty.append(EmptySlot(schedule.id, slot, cid, f"đã đủ {cap} bài trong ngày (daily_cap)"))
            continue
        todo.append((cid, unit_id, platform))
    created = 0
    made = utcnow()
    shared = {"schedule_id": schedule.id, "slot_at": slot, "day": day, "due_at": due, "state": "pending",
              "attempts": 0, "needs_check": False, "extra": {}, "created_at": made, "updated_at": made}
    for _ in range(3):  # a skipped insert (the pair exists after all) is chosen again with exact history
        rows: list[tuple[str, str, str, str, int]] = []
        for cid, unit_id, platform in todo:
            chosen = choice.choose(cid, unit_id, platform)
            if chosen is None:
                result.empty.append(EmptySlot(schedule.id, slot, cid, "không còn bài đã duyệt phù hợp cho đơn vị này"))
                continue
            rows.append((chosen.id, cid, unit_id, platform, chosen.priority))
        inserted = {cid: (did, content_id) for did, content_id, cid in insert_deliveries(s, shared, rows)}
        for content_id, cid, unit_id, platform, priority in rows:
            if cid in inserted:
                extra.setdefault(cid, set()).add(content_id)
                result.created.append(Planned(inserted[cid][0], content_id, cid, unit_id, platform, schedule.id,
                                              slot, day, due, priority))
                created += 1
        todo = [(cid, unit_id, platform) for _, cid, unit_id, platform, _ in rows if cid not in inserted]
        if not todo:
            break
        choice.forget([cid for cid, _, _ in todo])
    return created


def plan(s: Session, campaign: Campaign, now: datetime, tree: Tree | None = None) -> PlanResult:
    """Fill every slot due at ``now`` (within its grace window) that is not filled yet."""
    tree = tree or Tree(campaign)
    result = PlanResult()
    campaign_start = campaign.local_datetime(campaign.config.start)
    campaign_end = campaign.local_datetime(campaign.config.end, end_of_day=True)
    known: tuple[Posted, dict[str, set[str]]] | None = None
    for schedule in campaign.schedules:
        grace = schedule.grace_delta
        start = max(now - grace, campaign_start)
        end = min(now, campaign_end)
        if start > end:
            continue
        slots = slots_between(schedule, campaign.config.timezone, start, end)
        if not slots:
            continue
        done = set(
            s.exec(
                select(ScheduleSlot.slot_at).where(
                    ScheduleSlot.schedule_id == schedule.id, col(ScheduleSlot.slot_at).in_(slots)
                )
            ).all()
        )
        done = {d if d.tzinfo else d.replace(tzinfo=UTC) for d in done}
        for slot in slots:
            if slot in done:
                continue
            known = known or posted(s)
            n = fill_slot(s, campaign, schedule, slot, tree, result, known)
            s.add(ScheduleSlot(schedule_id=schedule.id, slot_at=slot, deliveries=n))
            s.flush()
            result.slots_filled.append((schedule.id, slot))
    return result


def announce(
    s: Session,
    campaign: Campaign,
    content: ContentItem,
    channels: list[Channel],
    now: datetime,
) -> list[Delivery]:
    """Deliveries for an announcement (milestone): due at once (after quiet hours), first in line,
    outside the daily cap. Existing (content, channel) pairs are left alone."""
    if content.withdrawn:
        return []  # issue 16: a withdrawn announcement is never planned again
    existing = set(s.exec(select(Delivery.channel_id).where(Delivery.content_id == content.id)).all())
    due = quiet_end(campaign, now)
    out = []
    for ch in channels:
        if ch.id in existing or ch.platform not in content.platforms:
            continue
        d = Delivery(
            content_id=content.id,
            channel_id=ch.id,
            unit_id=ch.unit_id,
            platform=ch.platform,
            schedule_id=None,
            day=local_day(campaign, due),
            due_at=due,
            priority=MILESTONE_PRIORITY,
        )
        s.add(d)
        out.append(d)
    return out


def next_slots(campaign: Campaign, after: datetime, until: datetime) -> list[tuple[datetime, ScheduleConfig]]:
    """Every slot of every schedule in (after, until], in time order (for demo and preview)."""
    out = []
    for schedule in campaign.schedules:
        for t in slots_between(schedule, campaign.config.timezone, after + timedelta(microseconds=1), until):
            out.append((t, schedule))
    return sorted(out, key=lambda p: (p[0], p[1].id))


def quiet_ends_between(campaign: Campaign, after: datetime, until: datetime) -> list[datetime]:
    window = campaign.settings.quiet_window()
    if window is None:
        return []
    out = []
    day = after.astimezone(campaign.tz).date()
    while True:
        t = datetime.combine(day, window[1], campaign.tz).astimezone(UTC)
        if t > until:
            return out
        if t > after:
            out.append(t)
        day += timedelta(days=1)
