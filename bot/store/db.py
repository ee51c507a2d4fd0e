"""Opening the store: engine, automatic migrations, sessions, the audit log.

Also what keeps the store safe on a shared machine (issue 12): the SQLite file and its journal
are 0600 in a 0700 folder (they hold the content, the audit log and the encrypted Zalo tokens);
a bad or unreachable ``CAMPAIGN_DB_URL`` is a :class:`StoreError` with a Vietnamese message and
the password masked; and :func:`tick_lock` keeps two ticks off one SQLite store.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from bot.errors import BotError
from bot.store.models import AuditLog

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x63616D7062_01  # advisory lock key held while migrating a PostgreSQL store


def default_url(workspace: Path, env: Mapping[str, str] | None = None) -> str:
    """``CAMPAIGN_DB_URL`` (from ``env``, default the process environment), else SQLite in ``.campaign/``."""
    url = (os.environ if env is None else env).get("CAMPAIGN_DB_URL")
    if url:
        return url
    folder = workspace / ".campaign"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _private_folder(folder)
    return f"sqlite:///{folder / 'campaign.db'}"


def _private_folder(folder: Path) -> None:
    """0700; 0711 when the campaign's media folder lives inside it (``.campaign/media`` in the
    sample): the web server may then reach the images by name but cannot list or read the store."""
    mode = 0o711 if (folder / "media").is_dir() else 0o700
    try:
        if folder.stat().st_mode & 0o777 != mode:
            folder.chmod(mode)
    except OSError:
        pass  # not ours (a shared folder): the files themselves are still 0600


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other stores and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except exc.ArgumentError:
        return None
    return Path(database) if database and database != ":memory:" else None


def _private_files(db: Path) -> None:
    """The database and its journal (-wal, -shm, -journal) readable by the owner only."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = db.with_name(db.name + suffix)
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            pass


class StoreError(BotError):
    """The store cannot be opened. The message is Vietnamese, names the fix and never the password."""


def masked(url: str) -> str:
    """The URL with its password hidden, also when the URL does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any malformed text: show only the scheme
        return (url.split(":", 1)[0] + "://…") if ":" in url else "(không đọc được)"


def _reason(error: BaseException, url: str) -> str:
    """A short reason without the password (drivers sometimes echo the connection string)."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200] if str(error).strip() else ""
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text or type(error).__name__


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (status, reports) run beside the worker; busy_timeout waits instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    # A page cache that holds the queue's indexes (64 MiB, the default is 2): with SQLite's 2 MiB a
    # store of 100,000 deliveries re-read its index pages from the OS at every insert, a cost that
    # grew with history (issue 15). Memory-mapped reads avoid a copy per page.
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()


# A pooled connection idle longer than this is pinged before use (see _ping_if_idle).
PING_AFTER_IDLE = 10.0


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Ping a pooled connection only when it sat idle, instead of before every transaction.

    Why: ``pool_pre_ping`` costs one round trip per checkout — on the worker's hot path that was
    one of every three. A connection in steady use is known to be alive; one that sat idle may have
    been cut (a server restart, a firewall), and a failed ping here makes the pool open a fresh
    one (SQLAlchemy's pessimistic disconnect handling), so no statement meets a dead connection."""
    last = record.info.get("checked_in")
    if last is None or time.monotonic() - last < PING_AFTER_IDLE:
        return
    try:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("SELECT 1")
        finally:
            cur.close()
    except Exception as error:  # noqa: BLE001 - any failure: the connection is not usable
        raise exc.DisconnectionError(str(error)) from error


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _note_checkin)
    return engine


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

    @cached_property
    def autocommit(self) -> Engine:
        """The same pool, each statement its own transaction: no ``BEGIN``/``COMMIT`` round trips for
        the single-statement steps of the work queue (bot.store.deliveries)."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

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
    """Open (and migrate) the store; :class:`StoreError` with a Vietnamese message if it cannot be."""
    db = sqlite_path(url)
    try:
        if db is not None and not db.exists() and db.parent.is_dir():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))  # created private, never 0644 first
        engine = make_engine(url)
    except (exc.ArgumentError, exc.NoSuchModuleError, ValueError, TypeError) as error:
        raise StoreError(
            f"CAMPAIGN_DB_URL không hợp lệ ({masked(url)}): {_reason(error, url)}. Cách sửa: ghi như "
            "postgresql://campaign:MẬT_KHẨU@máy-chủ:5432/campaign, hoặc xóa dòng này để dùng SQLite trong .campaign/"
        ) from None
    except OSError as error:
        raise StoreError(f"không tạo được tệp dữ liệu {db}: {error.strerror or error}. "
                         "Cách sửa: kiểm tra quyền ghi thư mục") from None
    try:
        migrate(engine)
    except (exc.OperationalError, exc.InterfaceError, exc.DBAPIError, OSError) as error:
        engine.dispose()
        raise StoreError(
            f"không kết nối được dữ liệu {masked(url)}: {_reason(error, url)}. Cách sửa: kiểm tra máy chủ, "
            "cổng, tên người dùng và mật khẩu trong CAMPAIGN_DB_URL (tệp .env), và máy chủ đang chạy"
        ) from None
    if db is not None:
        _private_files(db)
    return Store(engine=engine, url=url)


TICK_WAIT_SECONDS = 120.0


def tick_wait_seconds() -> float:
    """How long a `tick` waits for another pass: ``CAMPAIGN_TICK_WAIT`` seconds, default 120."""
    try:
        return max(0.0, min(float(os.environ.get("CAMPAIGN_TICK_WAIT", TICK_WAIT_SECONDS)), 3600.0))
    except ValueError:
        return TICK_WAIT_SECONDS


@contextmanager
def tick_lock(
    store: Store, *, wait: float = TICK_WAIT_SECONDS, on_wait: Callable[[], None] | None = None
) -> Iterator[bool]:
    """Hold the tick lock of a SQLite store for one pass: yields True when held, False when
    another pass kept it for ``wait`` seconds (two ticks at once ended in ``IntegrityError``).

    A file lock beside the database (``campaign.db.lock``): the kernel releases it when the
    process dies, so a killed tick never blocks the next one. PostgreSQL stores need none (claims
    use SKIP LOCKED and the planner an advisory lock) and an in-memory store is private."""
    db = sqlite_path(store.url)
    if db is None:
        yield True
        return
    fd = os.open(db.with_name(db.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                if not told and on_wait is not None:
                    on_wait()
                    told = True
                time.sleep(0.5)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
