"""The audit log: one row per state change a person may later ask about.

Every change the bot makes to a delivery, a post action or a channel writes one row here, in the
same transaction (or the same statement) as the change, so the log never tells of a change that
did not happen nor misses one that did. Alerts (bot.alerts) and reports read it back by action.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from bot.store.db import Store
from bot.store.models import AuditLog, utcnow

TABLE = AuditLog.__table__  # type: ignore[attr-defined]
_INSERT = insert(TABLE)


def record(store: Store, action: str, subject: str | None = None, actor: str = "bot", **detail: Any) -> None:
    """One audit row in its own transaction (for changes that are not themselves in the store)."""
    with store.engine.begin() as conn:
        add(conn, action, subject, actor, detail)


def add(conn: Connection, action: str, subject: str | None, actor: str, detail: dict[str, Any]) -> None:
    """One audit row inside the caller's transaction (the statement is built once)."""
    conn.execute(_INSERT, {"at": utcnow(), "actor": actor, "action": action, "subject": subject, "detail": detail})
