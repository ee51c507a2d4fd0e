"""What `campaign-bot status` (and `tick`, `run`) tell about the store: posts by channel and state,
why open posts wait, held channels, edits and removals, the weekly digests.

Read only. The command line prints these figures; it never queries the store itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from bot.channels.spec import describe
from bot.load import Campaign
from bot.store import Channel, ChannelState, Delivery, DeliveryState, Store
from bot.store.models import open_state
from bot.vn import ngay_gio, so


def aware(value: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def live_mode(platform: str, token_env: str | None, env: dict[str, str]) -> str:
    """Where a channel's posts go now: its platform when its token is set, else the outbox folder
    (the registry's one rule, bot.channels.spec.is_live)."""
    from bot.channels.spec import is_live

    return platform if is_live(token_env, env) else "outbox"


def status_data(campaign: Campaign, store: Store, env: dict[str, str], now: datetime,
                folder: Any = None) -> dict[str, Any]:
    """Every figure of `campaign-bot status --json`: counts per channel and unit (one GROUP BY),
    held channels with their reason and fix, why the open posts wait, milestones, corrections, digests."""
    with store.session() as s:
        rows = s.exec(
            select(Delivery.unit_id, Delivery.channel_id, Delivery.platform, Delivery.state, func.count()).group_by(
                Delivery.unit_id, Delivery.channel_id, Delivery.platform, Delivery.state
            )
        ).all()
        states = {st.channel_id: ChannelState(**st.model_dump()) for st in s.exec(select(ChannelState)).all()}
        channels = {ch.id: (ch.unit_id, ch.platform, ch.token_env, describe(ch, env))
                    for ch in s.exec(select(Channel)).all()}
    per_channel: dict[str, dict[str, Any]] = {}
    totals: Counter[str] = Counter()
    for unit_id, channel_id, platform, state, n in rows:
        entry = per_channel.setdefault(
            channel_id, {"unit": unit_id, "platform": platform, "states": dict.fromkeys(DeliveryState.ALL, 0)}
        )
        entry["states"][state] = n
        totals[state] += n
    for cid, (unit_id, platform, token_env, shown) in channels.items():
        st = states.get(cid)
        entry = per_channel.setdefault(
            cid, {"unit": unit_id, "platform": platform, "states": dict.fromkeys(DeliveryState.ALL, 0)}
        )
        entry["mode"] = live_mode(platform, token_env, env)
        entry["describe"] = shown  # bot.channels.spec.describe: the token masked
        entry["held"] = st.status == "held" if st else False
        if st and st.status == "held":
            entry["reason"], entry["fix"] = st.reason, st.fix
    per_unit: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in per_channel.values():
        per_unit[entry["unit"]].update(entry["states"])
    data: dict[str, Any] = {
        "campaign": campaign.config.id,
        "store": store.display_url(),
        "totals": {k: totals.get(k, 0) for k in DeliveryState.ALL},
        "channels": dict(sorted(per_channel.items())),
        "units": {u.id: dict(per_unit.get(u.id, Counter())) for u in campaign.units},
    }
    from bot.reports.milestones import status_section

    data["milestones"] = status_section(campaign, store, now)
    if folder is not None:
        data["folder"] = folder.as_dict()  # errors of the folder and the version running (issue 11)
    for cid, reasons in waiting_reasons(campaign, store, now, states).items():
        if cid in data["channels"]:
            data["channels"][cid]["waiting"] = reasons
    data["corrections"] = corrections_section(store)  # issue 16: edits and removals of published posts
    from bot.digest import last_sent as last_digest

    sent = last_digest(store)  # issue 17: when each unit was last sent its weekly digest
    data["digests"] = {u.id: aware(sent[u.id]).isoformat() if u.id in sent else None for u in campaign.units}
    return data


def _why_waiting(campaign: Campaign, st: ChannelState | None, row: tuple, now: datetime) -> str:
    """One open delivery's reason to wait, in the words the staff read."""
    from bot.plan import in_quiet_hours

    tz = campaign.tz
    _, state, slot_at, due_at, next_at, reason, schedule_id = row
    due = aware(due_at)
    if st is not None and st.status == "held":
        return "kênh đang bị tạm giữ (xem `campaign-bot channels`)"
    if st is not None and st.paused_until and aware(st.paused_until) > now:
        return f"kênh tạm dừng đến {ngay_gio(aware(st.paused_until), tz)}" + (f": {st.pause_reason}" if st.pause_reason else "")
    if state == DeliveryState.SENDING:
        return "đang gửi"
    if state == DeliveryState.RETRY:
        when = ngay_gio(aware(next_at), tz) if next_at else "lượt sau"
        return f"thử lại lúc {when}" + (f" sau lỗi: {reason}" if reason else "")
    if due > now:
        base = aware(slot_at) if slot_at else None
        if base is not None and base < due and in_quiet_hours(campaign, base):
            return f"chờ hết giờ yên lặng, đăng lúc {ngay_gio(due, tz)}"
        if schedule_id is None:
            return f"tin cột mốc chờ hết giờ yên lặng, đăng lúc {ngay_gio(due, tz)}"
        return f"chờ đến giờ đăng {ngay_gio(due, tz)}"
    return "đến hạn, đăng ở lượt chạy tới"


def waiting_reasons(campaign: Campaign, store: Store, now: datetime,
                    states: dict[str, ChannelState]) -> dict[str, list[str]]:
    """Why each channel's open deliveries wait, in words: its time has not come, quiet hours, a retry
    after an error, a held or paused channel. "chờ 2" alone left the staff guessing."""
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    with store.session() as s:
        rows = s.exec(
            select(Delivery.channel_id, Delivery.state, Delivery.slot_at, Delivery.due_at, Delivery.next_attempt_at,
                   Delivery.reason, Delivery.schedule_id)
            .where(open_state(Delivery.__table__))  # type: ignore[attr-defined]
        ).all()
    for row in rows:
        groups[row[0]][_why_waiting(campaign, states.get(row[0]), tuple(row), now)] += 1
    return {cid: [f"{so(n)} bài: {why}" for why, n in c.most_common()] for cid, c in groups.items()}


def quiet_waiting(campaign: Campaign, store: Store, now: datetime) -> tuple[int, datetime | None]:
    """How many posts are due but held back by the quiet hours now, and when those end.

    A tick at 23:55 that plans nothing but leaves four milestone posts for 06:30 must say so,
    not just "0 lượt mới"."""
    from bot.plan import in_quiet_hours, quiet_end

    if not in_quiet_hours(campaign, now):
        return 0, None
    until = quiet_end(campaign, now)
    with store.session() as s:
        n = s.exec(
            select(func.count()).select_from(Delivery).where(
                col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.RETRY]),
                Delivery.due_at > now,  # held back now, not overdue for another reason (a held channel)
                Delivery.due_at <= until,
            )
        ).one()
    return int(n), until


def corrections_section(store: Store) -> dict[str, Any]:
    """Edits, reposts and removals by state; those refused or waiting, with the reason; withdrawn items."""
    from bot.store.models import ContentItem, PostAction

    with store.session() as s:
        counts: dict[str, dict[str, int]] = {}
        for action, state, n in s.exec(select(PostAction.action, PostAction.state, func.count())
                                        .group_by(PostAction.action, PostAction.state)).all():
            counts.setdefault(action, {})[state] = n
        attention = [{"id": a.id, "content": a.content_id, "channel": a.channel_id, "action": a.action,
                      "state": a.state, "reason": a.reason, "why": a.why}
                     for a in s.exec(select(PostAction)
                                     .where(col(PostAction.state).in_(("failed", "pending", "retry", "sending")))
                                     .order_by(col(PostAction.id))).all()]
        withdrawn = [{"content": c.id, "reason": c.withdrawn, "at": c.withdrawn_at}
                     for c in s.exec(select(ContentItem).where(col(ContentItem.withdrawn).is_not(None))).all()]
    return {"counts": counts, "attention": attention, "withdrawn": withdrawn}
