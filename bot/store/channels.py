"""Channels' shared state: holds, pauses and their release; the configured channel rows.

A *hold* stops a channel until a person acts (an expired token, a missing permission); a *pause*
stops it until a moment (a rate limit, a policy block), also app-wide with an id ``app:<platform>``.
Both live in ``channelstate`` so every worker on every machine honours them, and every change is
written with its audit row in one transaction (bot.alerts tells people from those rows). The
worker, the CLI (`channels --release`) and the platforms call these functions; none of them talks
SQL about channels itself. Channel *leases* (who may post now) belong to the queue: bot.store.deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from bot.store.db import Store
from bot.store.models import AuditLog, Channel, ChannelState, Meta


@dataclass(frozen=True)
class Held:
    """A held channel as the worker checks it: the token fingerprint that was refused."""

    channel_id: str
    token_fingerprint: str | None


def channel_rows(store: Store, *, active_only: bool = False) -> list[Channel]:
    """The configured channels (detached rows; ``active_only``: those still in the config)."""
    with store.session() as s:
        query = select(Channel).where(col(Channel.active)) if active_only else select(Channel)
        return list(s.exec(query).all())


def channel_row(store: Store, channel_id: str) -> Channel | None:
    with store.session() as s:
        return s.get(Channel, channel_id)


def states(store: Store) -> dict[str, ChannelState]:
    """Every channel's state row, by channel id (for `status`, `channels` and reports)."""
    with store.session() as s:
        return {st.channel_id: st for st in s.exec(select(ChannelState)).all()}


def held_reason(store: Store, channel_id: str) -> str | None:
    """Why the channel is held, or None when it is not held."""
    with store.session() as s:
        st = s.get(ChannelState, channel_id)
        return (st.reason or "") if st is not None and st.status == "held" else None


def held(store: Store) -> list[Held]:
    with store.session() as s:
        rows = s.exec(select(ChannelState).where(ChannelState.status == "held")).all()
        return [Held(st.channel_id, st.token_fingerprint) for st in rows]


def hold(store: Store, channel_id: str, now: datetime, *, reason: str, fix: str | None,
         token_fingerprint: str | None) -> None:
    """Hold the channel until a person acts (or a new token appears: :func:`release_hold`)."""
    with store.session() as s:
        st = s.get(ChannelState, channel_id) or ChannelState(channel_id=channel_id)
        st.status, st.reason, st.fix, st.held_at = "held", reason, fix, now
        st.token_fingerprint = token_fingerprint
        st.updated_at = now
        s.add(st)
        s.add(AuditLog(action="channel.held", subject=channel_id, detail={"reason": reason, "fix": fix}))


def release_hold(store: Store, channel_id: str, now: datetime, *, actor: str, why: str,
                 clear_pause: bool = False, only_fingerprint: str | None = None) -> bool:
    """Open a held channel again; False when there is no such channel (or, with ``only_fingerprint``,
    when it is no longer held for that token). The one release used by the worker (a new token in
    the environment) and by `channels --release` (a person fixed it; the pause goes too).

    The audit row ``channel.released`` is read by bot.alerts: the people told of the hold hear of the release."""
    with store.session() as s:
        st = s.get(ChannelState, channel_id)
        if st is None:
            return False
        if only_fingerprint is not None and (st.status != "held" or st.token_fingerprint != only_fingerprint):
            return False
        st.status, st.reason, st.fix, st.held_at, st.token_fingerprint = "active", None, None, None, None
        if clear_pause:
            st.paused_until = None
        st.updated_at = now
        s.add(st)
        s.add(AuditLog(actor=actor, action="channel.released", subject=channel_id, detail={"why": why}))
    return True


def pause(store: Store, target: str, now: datetime, until: datetime, reason: str) -> None:
    """Nothing goes to ``target`` (a channel id or ``app:<platform>``) before ``until``; a longer
    pause already in place stays."""
    with store.session() as s:
        st = s.get(ChannelState, target) or ChannelState(channel_id=target)
        if st.paused_until is None or st.paused_until < until:
            st.paused_until, st.pause_reason, st.updated_at = until, reason, now
        s.add(st)
        s.add(AuditLog(action="channel.paused", subject=target, detail={"until": until.isoformat(), "reason": reason}))


def meta(store: Store, key: str) -> str | None:
    """A small fact about the store (``meta`` table), e.g. the day a channel's token was last renewed."""
    with store.session() as s:
        row = s.get(Meta, key)
        return row.value if row is not None else None


def set_meta(store: Store, key: str, value: str) -> None:
    with store.session() as s:
        row = s.get(Meta, key) or Meta(key=key, value=value)
        row.value = value
        s.add(row)
