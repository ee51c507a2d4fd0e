"""What `campaign-bot channels` reads and changes in the store: the active channels with their hold
or pause, and the release of a held channel by a person.

Through bot.store's channel functions only (no database library here); the release is the
store's own (:func:`bot.store.channels.release_hold`), the one the worker uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    from bot.store.channels import release_hold, states
    from bot.store.models import utcnow

    known = states(store)
    unknown = [cid for cid in channel_ids if cid not in known]
    if unknown:
        return unknown
    for cid in channel_ids:
        release_hold(store, cid, utcnow(), actor=actor, why="mở lại bằng lệnh", clear_pause=True)
    return []


def active_channels(store: Store) -> list[ChannelRow]:
    """Every active channel, sorted by id, with its state."""
    from bot.store.channels import channel_rows, states

    rows, by_id = channel_rows(store, active_only=True), states(store)
    return [ChannelRow(r.id, r.unit_id, r.platform, r.account_id, r.token_env, r, by_id.get(r.id))
            for r in sorted(rows, key=lambda r: r.id)]


def paused(state: ChannelState | None, now: datetime) -> bool:
    from bot.reports.status import aware

    return bool(state and state.paused_until and aware(state.paused_until) > now)


def check_channel(row: ChannelRow, ctx: Any, env: dict[str, str], now: datetime, *, offline: bool) -> dict[str, Any]:
    """What `channels` shows of one channel: its description (token masked), its hold or pause, and
    unless ``offline`` what its platform answers about the token (which account, permissions, expiry)."""
    from bot.channels import open_channel, spec

    st = row.state
    entry: dict[str, Any] = {"channel": row.id, "platform": row.platform, "account_id": row.account_id,
                             "token_env": row.token_env, "held": bool(st and st.status == "held"),
                             "describe": spec.describe(row.channel, env)}
    if st is not None and st.status == "held":
        entry.update(reason=st.reason, fix=st.fix, held_at=st.held_at)
    if st is not None and paused(st, now):
        entry.update(paused_until=st.paused_until, pause_reason=st.pause_reason)
    if not offline:
        channel = open_channel(row.channel, ctx)
        try:
            result = channel.check()
        finally:
            channel.close()
        entry.update(ok=result.ok, mode=channel.platform, account_name=result.account_name,
                     details=result.details, problem=result.problem, fix=entry.get("fix") or result.fix)
    return entry
