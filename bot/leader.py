"""The planner role: one process at a time syncs the campaign, checks milestones and plans.

`campaign-bot run` may be started on several machines against one PostgreSQL store. Each one
publishes; only the one holding the planner role plans, so every schedule slot is planned by
one process (the store's unique constraints make a second planning of a slot impossible anyway;
the role makes it not even attempted). The role is a PostgreSQL session-level advisory lock
(``pg_try_advisory_lock``) taken on a dedicated connection and held as long as that connection
lives: if the process dies or its connection breaks, PostgreSQL releases the lock and another
`run` takes the role at its next tick. On SQLite, one process does everything: it is always
the planner.

Who holds the role is visible in PostgreSQL::

    SELECT a.application_name, a.client_addr, a.backend_start
    FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND a.application_name LIKE 'campaign-bot planner%';
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from bot.store.db import Store
from bot.store.models import Meta, utcnow

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a role name."""
    return int.from_bytes(hashlib.sha256(f"campaign-bot/{name}".encode()).digest()[:8], "big", signed=True)


PLANNER_KEY = lock_key("planner")


class Leader:
    """Holds (or tries to hold) a role for this process. Not thread-safe: use from one thread."""

    def __init__(self, store: Store, *, name: str | None = None, key: int = PLANNER_KEY, role: str = "planner") -> None:
        self.store = store
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.key = key
        self.role = role
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._was_leader = False

    @property
    def shared(self) -> bool:
        """Whether the store is shared between processes (PostgreSQL) and the role must be won."""
        return self.store.dialect == "postgresql"

    @property
    def is_leader(self) -> bool:
        return not self.shared or self._conn is not None

    def _connect(self) -> Connection:
        if self._engine is None:
            # Its own engine without a pool: closing the connection really ends the session (and the lock).
            url = self.store.engine.url
            self._engine = create_engine(
                url,
                poolclass=NullPool,
                connect_args={"application_name": f"campaign-bot {self.role} {self.name}"[:63]},
            )
        return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _alive(self, conn: Connection) -> bool:
        try:
            held = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND granted AND classid = ((:k >> 32) & 4294967295)::oid AND objid = (:k & 4294967295)::oid"
                ),
                {"k": self.key},
            ).scalar()
            return bool(held)
        except Exception as exc:  # noqa: BLE001 - a broken connection means the lock is gone
            log.warning("kết nối giữ vai trò %s bị mất: %s", self.role, type(exc).__name__)
            return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def acquire(self) -> bool:
        """Whether this process holds the role now (taking it if it is free). Call at every tick."""
        if not self.shared:
            return True
        if self._conn is not None:
            if self._alive(self._conn):
                return True
            self._drop()
            log.warning("%s: mất vai trò %s (kết nối tới PostgreSQL bị ngắt)", self.name, self.role)
        conn: Connection | None = None
        try:
            conn = self._connect()
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except Exception as exc:  # noqa: BLE001 - the store is unreachable: not the leader this time
            log.warning("%s: không kiểm tra được vai trò %s: %s", self.name, self.role, type(exc).__name__)
            if conn is not None:
                conn.close()
            got = False
            conn = None
        if not got:
            if conn is not None:
                conn.close()
            if self._was_leader:
                log.warning("%s: không còn giữ vai trò %s", self.name, self.role)
            self._was_leader = False
            return False
        self._conn = conn
        if not self._was_leader:
            log.info("%s: nhận vai trò %s", self.name, self.role)
            self._note()
        self._was_leader = True
        return True

    def _note(self) -> None:
        """Record who took the role and when (for people reading the store)."""
        try:
            with self.store.session() as s:
                row = s.get(Meta, self.role) or Meta(key=self.role, value="")
                row.value = f"{self.name} từ {utcnow().isoformat(timespec='seconds')}"
                s.add(row)
        except Exception:  # noqa: BLE001 - only informative
            log.debug("could not note the %s role", self.role, exc_info=True)

    def release(self) -> None:
        """Give the role up (at shutdown); another process takes it at its next tick."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                pass
            self._conn.close()
            self._conn = None
        self._was_leader = False
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Leader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
