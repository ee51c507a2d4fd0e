"""What `campaign-bot channels` reads and changes in the store: the active channels with their hold
or pause, and the release of a held channel by a person.

Kept apart from the command line so that it talks to no database library; meant to move behind
bot.store's channel functions (issue 14, item 2) once they exist, with the worker's own release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from bot.store import AuditLog, Channel, ChannelState, Store


@dataclass
class ChannelRow:
    """One active channel as stored, with its runtime state (hold, pause)."""

    id: str
    unit_id: str
    platform: str
    account_id: str | None
    token_env: str | None
    channel: Channel  # the row itself, for bot.channels.open_channel
    state: ChannelState | None


def release(store: Store, channel_ids: tuple[str, ...], actor: str = "cli") -> list[str]:
    """Release held channels; returns the ids that do not exist (nothing is changed for those).

    Audited as ``channel.released``, read by bot.alerts like the worker's own releases: the people
    told of the hold hear of the release."""
    unknown = []
    with store.session() as s:
        for cid in channel_ids:
            st = s.get(ChannelState, cid)
            if st is None:
                unknown.append(cid)
                continue
            st.status, st.reason, st.fix, st.held_at, st.token_fingerprint = "active", None, None, None, None
            st.paused_until = None
            s.add(st)
            s.add(AuditLog(actor=actor, action="channel.released", subject=cid, detail={"why": "mở lại bằng lệnh"}))
        if unknown:
            s.rollback()
    return unknown


def active_channels(store: Store) -> list[ChannelRow]:
    """Every active channel, sorted by id, with its state."""
    with store.session() as s:
        rows = s.exec(select(Channel).where(Channel.active)).all()
        states = {st.channel_id: st for st in s.exec(select(ChannelState)).all()}
    return [ChannelRow(r.id, r.unit_id, r.platform, r.account_id, r.token_env, r, states.get(r.id))
            for r in sorted(rows, key=lambda r: r.id)]


def paused(state: ChannelState | None, now: datetime) -> bool:
    from bot.reports.status import aware

    return bool(state and state.paused_until and aware(state.paused_until) > now)
