"""What `campaign-bot channels` reads and changes in the store: the active channels with their hold
or pause, and the release of a held channel by a person.

Kept apart from the command line so that it talks to no database library; the release is the
store's own (:func:`bot.store.channels.release_hold`), the one the worker uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from bot.store import Channel, ChannelState, Store


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
    """Release held channels (their pause too); returns the ids that do not exist, and then changes nothing.

    Through the store's one release (:func:`bot.store.channels.release_hold`), the same as the worker's
    when a new token appears: audited as ``channel.released``, so the people told of the hold hear of it."""
    from bot.store.channels import release_hold
    from bot.store.models import utcnow

    with store.session() as s:
        unknown = [cid for cid in channel_ids if s.get(ChannelState, cid) is None]
    if unknown:
        return unknown
    for cid in channel_ids:
        release_hold(store, cid, utcnow(), actor=actor, why="mở lại bằng lệnh", clear_pause=True)
    return []


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
