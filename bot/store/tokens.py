"""Rotating platform tokens (Zalo's single-use refresh tokens) and the platform notes kept in the audit log.

Why here: the platform modules under ``bot/channels/`` speak HTTP and decide; every row they need to
read or change goes through these functions, so they import no SQLAlchemy and the store owns its
state changes (issue 14). Tokens are stored only as ciphertexts (``*_enc``, bot.secretbox); nothing
here ever sees a clear token.

Concurrency: one process renews a channel's token at a time. :func:`claim_renewal` takes the lease
with ``SELECT … FOR UPDATE`` (PostgreSQL; SQLite serialises writers anyway) and a compare-and-set on
``version``, which every change bumps; a writer that lost the race sees ``False`` and reads again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.store.db import Store
from bot.store.models import AuditLog, ChannelToken

SEED_ACTIONS = ("zalo.token.seeded", "zalo.token.reseeded")
LOST_ACTION = "zalo.token.lost"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TokenRow:
    """A snapshot of one channel's token row (detached from any session; times are aware, UTC)."""

    access_token_enc: str | None
    refresh_token_enc: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    seed_fingerprint: str | None
    version: int
    status: str  # ok | renewing | lost
    renewing_since: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, t: ChannelToken) -> TokenRow:
        return cls(
            t.access_token_enc,
            t.refresh_token_enc,
            _aware(t.access_expires_at),
            _aware(t.refresh_expires_at),
            t.seed_fingerprint,
            t.version,
            t.status,
            _aware(t.renewing_since),
            _aware(t.updated_at),
        )


def read_token(store: Store, channel_id: str) -> TokenRow | None:
    with store.session() as s:
        t = s.get(ChannelToken, channel_id)
        return TokenRow.of(t) if t is not None else None


def seed_token(store: Store, channel_id: str, previous: TokenRow | None, values: dict[str, Any], *,
               audit: str, fingerprint: str) -> bool:
    """Create the row from a seed token, or replace ``previous`` (compare-and-set on its version).

    ``values`` are column values (ciphertexts, expiries, status…); the seed's ``audit`` action is logged
    with its fingerprint when this call wrote. False when another process seeded or changed it first.
    """
    try:
        with store.session() as s:
            if previous is None:
                s.add(ChannelToken(channel_id=channel_id, version=1, **values))
                wrote = True
            else:
                res = s.exec(
                    update(ChannelToken)
                    .where(col(ChannelToken.channel_id) == channel_id, col(ChannelToken.version) == previous.version)
                    .values(version=previous.version + 1, **values)
                )
                wrote = res.rowcount == 1
    except IntegrityError:
        wrote = False  # another process seeded it at the same moment
    if wrote:
        store.audit(audit, subject=channel_id, seed=fingerprint)
    return wrote


def seen_seeds(store: Store, channel_id: str) -> set[str]:
    """Fingerprints of every seed token this channel has taken (from the audit log)."""
    with store.session() as s:
        rows = s.exec(
            select(AuditLog).where(col(AuditLog.subject) == channel_id, col(AuditLog.action).in_(SEED_ACTIONS))
        ).all()
    return {str((r.detail or {}).get("seed")) for r in rows if (r.detail or {}).get("seed")}


def claim_renewal(store: Store, channel_id: str, seen_version: int, now: datetime) -> bool:
    """Take the renewal lease if the row is still at ``seen_version``: status ``renewing``, version + 1."""
    with store.session() as s:
        cur = s.exec(select(ChannelToken).where(col(ChannelToken.channel_id) == channel_id).with_for_update()).first()
        if cur is None or cur.version != seen_version:
            return False
        res = s.exec(
            update(ChannelToken)
            .where(col(ChannelToken.channel_id) == channel_id, col(ChannelToken.version) == seen_version)
            .values(status="renewing", renewing_since=now, version=seen_version + 1)
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1


def release_renewal(store: Store, channel_id: str, version: int) -> None:
    """Give the lease back unused (nothing reached the platform)."""
    with store.session() as s:
        s.exec(
            update(ChannelToken)
            .where(col(ChannelToken.channel_id) == channel_id, col(ChannelToken.version) == version)
            .values(status="ok", renewing_since=None, version=version + 1)
        )


def mark_lost(store: Store, channel_id: str, version: int, reason: str) -> bool:
    """The chain is dead (the platform refused the refresh token): status ``lost``, with the reason audited."""
    with store.session() as s:
        res = s.exec(
            update(ChannelToken)
            .where(col(ChannelToken.channel_id) == channel_id, col(ChannelToken.version) == version)
            .values(status="lost", renewing_since=None, version=version + 1)
        )
        done = res.rowcount == 1
    if done:
        store.audit(LOST_ACTION, subject=channel_id, reason=reason)
    return done


def store_pair(store: Store, channel_id: str, seed_fingerprint: str | None, values: dict[str, Any]) -> bool:
    """Write a renewed pair (ciphertexts) in one statement that retires the old one; bumps the version.

    Only a new seed from the staff (another fingerprint) outranks the pair the caller holds: nobody else
    can have rotated the chain since its claim, because the platform accepted its refresh token.
    """
    with store.session() as s:
        res = s.exec(
            update(ChannelToken)
            .where(col(ChannelToken.channel_id) == channel_id, col(ChannelToken.seed_fingerprint) == seed_fingerprint)
            .values(version=ChannelToken.version + 1, **values)
        )
        return res.rowcount == 1


def lost_reason(store: Store, channel_id: str) -> str | None:
    """Why the chain was last declared lost (the newest audit entry), if recorded."""
    with store.session() as s:
        entry = s.exec(
            select(AuditLog)
            .where(col(AuditLog.action) == LOST_ACTION, col(AuditLog.subject) == channel_id)
            .order_by(col(AuditLog.id).desc())
        ).first()
        return (entry.detail or {}).get("reason") if entry is not None else None


def notes(store: Store, action: str, subject: str, limit: int = 1000) -> list[tuple[dict[str, Any], datetime | None]]:
    """The newest ``limit`` audit entries of one kind for one subject, oldest first: (detail, at)."""
    with store.session() as s:
        q = select(AuditLog).where(col(AuditLog.action) == action, col(AuditLog.subject) == subject)
        rows = s.exec(q.order_by(col(AuditLog.id).desc()).limit(limit)).all()
    return [(dict(r.detail or {}), _aware(r.at)) for r in reversed(rows)]
