"""Questions about past deliveries that do not look them up by unit or by channel.

Deliveries are not indexed by unit, and by channel only while open (migration 0010, issue 15): such
indexes made every planner tick write a page per channel, a cost that grew with history. So what
asks about a unit's past reads a period once for every unit at a time, or goes by (story, channel)
pairs through the unique index ``uq_delivery``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.store.models import Channel, Delivery, sent_state


def sent_in_week(s: Session, units: set[str], slot: datetime) -> dict[str, list[Delivery]]:
    """The posts sent in the week before ``slot``, by unit (of ``units``), read once for all of them.

    Why once: deliveries are not indexed by unit (migration 0010, issue 15: such an index made every
    planner tick write a page per channel), so a query per unit would read the history per unit; the
    week's posts come from the index of sent posts by time."""
    out: dict[str, list[Delivery]] = defaultdict(list)
    if not units:
        return out
    for d in s.exec(select(Delivery).where(sent_state(Delivery.__table__),  # type: ignore[attr-defined]
                                           col(Delivery.sent_at) >= slot - timedelta(days=7),
                                           col(Delivery.sent_at) < slot).order_by(col(Delivery.sent_at))):
        if d.unit_id in units:
            out[d.unit_id].append(d)
    return out


def already_planned(s: Session, uid: str, story_ids: list[str]) -> set[str]:
    """Which of these stories the unit's channels (past ones included) already have a delivery of.

    Looked up by (story, channel) pairs through the unique index ``uq_delivery``, never by scanning
    the unit's history; 500 stories per statement keep the parameters within SQLite's limit."""
    channels = list(s.exec(select(Channel.id).where(Channel.unit_id == uid)).all())
    done: set[str] = set()
    if not channels:
        return done
    for i in range(0, len(story_ids), 500):
        done.update(s.exec(select(Delivery.content_id).where(col(Delivery.content_id).in_(story_ids[i:i + 500]),
                                                             col(Delivery.channel_id).in_(channels))).all())
    return done
