"""Opening the store: engine, automatic migrations, sessions, the audit log."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from bot.store.models import AuditLog

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x63616D7062_01  # advisory lock key held while migrating a PostgreSQL store


def default_url(workspace: Path, env: Mapping[str, str] | None = None) -> str:
    """``CAMPAIGN_DB_URL`` (from ``env``, default the process environment), else SQLite in ``.campaign/``."""
    url = (os.environ if env is None else env).get("CAMPAIGN_DB_URL")
    if url:
        return url
    folder = workspace / ".campaign"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'campaign.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (status, reports) run beside the worker; busy_timeout waits instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several machines may start at once: one migrates, the others wait and find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@dataclass
class Store:
    engine: Engine
    url: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def audit(self, action: str, subject: str | None = None, actor: str = "bot", **detail: Any) -> None:
        with self.session() as s:
            s.add(AuditLog(action=action, subject=subject, actor=actor, detail=detail))

    def display_url(self) -> str:
        """The URL with any password masked, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    engine = make_engine(url)
    migrate(engine)
    return Store(engine=engine, url=url)
