"""The queue's questions are answered through indexes that hold open rows only (migration 0010,
issue 15), on SQLite, whose planner needs the partial index's condition repeated word for word: a
channel's next due row, whether anything of it is in ``sending``, a batch of channels to lease, and
the rows left in ``sending`` past their lease never walk the history or every channel's queue."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, update

from bot.store import Delivery, DeliveryState, Store, open_store, utcnow
from bot.store.planning import insert_deliveries
from bot.worker import Worker
from tests.worker_fleet import make_workspace, page_ids, seed


@pytest.fixture()
def busy(tmp_path: Path):
    """12 Pages with 4 due stories each, and 600 sent deliveries of history spread over them."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    pages = page_ids(12)
    seeded = seed(store, make_workspace(tmp_path, pages), pages, 4)
    with store.session() as s:
        rows = s.exec(Delivery.__table__.select()).all()  # type: ignore[attr-defined]
        channels = sorted({(r.channel_id, r.unit_id, r.platform) for r in rows})
        now = utcnow() - timedelta(days=30)
        shared = {"schedule_id": None, "slot_at": None, "day": "2026-10-01", "due_at": now, "state": "sent",
                  "attempts": 1, "needs_check": False, "extra": {}, "created_at": now, "updated_at": now}
        insert_deliveries(s, shared, [(f"old-{k}", cid, uid, pl, 0) for k in range(50) for cid, uid, pl in channels])
    yield store, seeded
    store.close()


def _plans(store: Store, run) -> list[tuple[str, list[str]]]:
    """(statement, its query plan) of every statement ``run`` sends that touches ``delivery``."""
    seen: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if "delivery" in statement and not executemany and statement.lstrip().upper().startswith(("SELECT", "UPDATE",
                                                                                                   "WITH")):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    out = []
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for sql, params in seen:
            out.append((sql, [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]))
    return out


ALLOWED = ("PRIMARY KEY", "ix_delivery_channel_next (channel_id=?", "sqlite_autoindex_delivery",
           "ix_delivery_open_lease (state=? AND lease_until<?)")


def _delivery_steps(plan: list[str]) -> list[str]:
    return [step for step in plan
            if (" delivery" in step or "d_busy" in step or "pick" in step) and "postaction" not in step]


def test_claims_and_finishes_look_rows_up_by_channel_or_id_never_by_walking_the_table(busy) -> None:
    store, seeded = busy
    w = Worker(seeded.campaign, store, {}, owner="w", force_outbox=True, heartbeat=False)

    def work() -> None:
        for d in w.claim_batch(4):
            w._finish(d.id, current=d, state=DeliveryState.SENT, platform_post_id=f"p{d.id}")
            w._release(d.channel_id)
        w.run_once()

    plans = _plans(store, work)
    assert len(plans) > 10
    for sql, plan in plans:
        for step in _delivery_steps(plan):
            assert "SCAN" not in step, (step, sql)
            assert any(ok in step for ok in ALLOWED), (step, sql)
    w.close()


def test_rows_left_in_sending_are_found_through_the_open_rows_index(busy) -> None:
    store, seeded = busy
    w = Worker(seeded.campaign, store, {}, owner="w", force_outbox=True, heartbeat=False)
    w.claim_batch(3)
    with store.session() as s:
        s.execute(update(Delivery).where(Delivery.state == DeliveryState.SENDING)
                  .values(lease_until=utcnow() - timedelta(minutes=1)))
    plans = _plans(store, lambda: (w.release_settled(), w.reclaim_expired()))
    steps = [step for _, plan in plans for step in _delivery_steps(plan)]
    assert steps and all("ix_delivery_open_lease (state=? AND lease_until<?)" in step for step in steps), steps
    with store.session() as s:
        states = [r.state for r in s.exec(Delivery.__table__.select()).all()]  # type: ignore[attr-defined]
    assert states.count(DeliveryState.RETRY) == 3
    w.close()


def test_recent_posts_are_read_through_the_index_of_sent_posts_by_time(busy) -> None:
    """Which posts are due an engagement reading (every tick) and the digest's week: the window only."""
    from sqlmodel import Session

    from bot.store import engagement
    from bot.store.history import sent_in_week

    store, seeded = busy
    now = utcnow()
    with store.session() as s:  # the history's posts were sent a month ago, with a Page post id
        s.execute(update(Delivery).where(Delivery.state == DeliveryState.SENT)
                  .values(sent_at=now - timedelta(days=30), platform_post_id="1_2"))
    w = Worker(seeded.campaign, store, {}, owner="w", force_outbox=True, heartbeat=False)
    w.run_once()  # today's posts go out (to the outbox)
    w.close()
    with store.session() as s:
        s.execute(update(Delivery).where(Delivery.sent_at >= now - timedelta(hours=1))
                  .values(platform_post_id="100_200", sent_at=now - timedelta(hours=7)))

    def ask() -> None:
        due = engagement.due_for_reading(store, now, window=timedelta(days=14), every=timedelta(hours=6))
        assert sum(len(v) for v in due.values()) == len(seeded.ids)  # today's posts, none of the history
        with Session(store.engine) as s:
            week = sent_in_week(s, {u.id for u in seeded.campaign.units}, now)
        assert sum(len(v) for v in week.values()) == len(seeded.ids)

    plans = _plans(store, ask)
    steps = [step for _, plan in plans for step in _delivery_steps(plan)]
    assert len(plans) == 2 and steps
    assert all("ix_delivery_sent_at (sent_at>?" in step for step in steps), steps


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_migration_0011_moves_a_running_store_to_the_claim_order_index_and_back(kind: str, tmp_path: Path,
                                                                               request: pytest.FixtureRequest) -> None:
    """A store at 0010 with a queue and a history upgrades to 0011 (and back), and its worker then claims
    each channel's highest-priority, earliest-due row through ``ix_delivery_channel_next``."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from bot.store.db import MIGRATIONS, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))

    def to(revision: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)

    def indexes() -> set[str]:
        return {ix["name"] for ix in inspect(engine).get_indexes("delivery")}

    to("0010")
    assert "ix_delivery_channel_open" in indexes() and "ix_delivery_channel_next" not in indexes()
    engine.dispose()
    store = open_store(url)  # what a worker of the new version does first: upgrade to head
    try:
        assert "ix_delivery_channel_next" in {ix["name"] for ix in inspect(store.engine).get_indexes("delivery")}
        pages = page_ids(2)
        seeded = seed(store, make_workspace(tmp_path, pages), pages, 3)
        with store.session() as s:
            s.execute(update(Delivery).where(Delivery.id == max(seeded.ids)).values(priority=9))
        w = Worker(seeded.campaign, store, {}, owner="w", force_outbox=True, heartbeat=False)
        assert max(seeded.ids) in {d.id for d in w.claim_batch(8)}
        w.close()
    finally:
        store.close()
    to("0010", down=True)
    assert "ix_delivery_channel_open" in indexes() and "ix_delivery_channel_next" not in indexes()
    to("head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0011"
    engine.dispose()
