"""The store on SQLite and PostgreSQL: migrations, constraints, concurrent claims, leases, the planner role.

Tests that take ``any_store`` run on both; ``pg_url`` tests need the PostgreSQL server of this
machine (127.0.0.1:5432) and fail instead of skipping when CAMPAIGN_REQUIRE_POSTGRES=1 (CI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from bot.leader import Leader
from bot.load import load_campaign
from bot.pipeline import tick
from bot.store import (
    ChannelState,
    ContentItem,
    Delivery,
    DeliveryState,
    MilestoneFiring,
    ScheduleSlot,
    Store,
    open_store,
    utcnow,
)
from bot.worker import Worker
from tests.conftest import MINI_UNITS, story, write
from tests.worker_fleet import REPO, make_workspace, page_ids, seed

pytestmark = pytest.mark.postgres


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_ + "+07:00").astimezone(UTC)


# ---------------------------------------------------------------------------------------------- schema


def test_migrations_create_every_table_and_rerun_idempotently(any_store: Store) -> None:
    tables = set(inspect(any_store.engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables
    with any_store.engine.connect() as conn:
        heads = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    again = open_store(any_store.url)  # a second process starting on a migrated store
    try:
        with again.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == heads
    finally:
        again.close()
    assert len(heads) == 1


def test_several_processes_opening_a_fresh_postgresql_store_migrate_it_once(pg_url: str) -> None:
    errors: list[BaseException] = []
    stores: list[Store] = []

    def opener() -> None:
        try:
            stores.append(open_store(pg_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    assert len(stores) == 4


def test_datetimes_come_back_utc_aware(any_store: Store, mini: Path) -> None:
    c = load_campaign(mini)
    tick(c, any_store, {}, at("2026-11-26T08:00"), publish=False)
    with any_store.session() as s:
        d = s.exec(select(Delivery)).first()
    assert d is not None and d.due_at.tzinfo is not None
    assert d.due_at == at("2026-11-26T08:00")


def test_unique_constraints_hold_on_both_stores(any_store: Store) -> None:
    now = utcnow()
    row = {"content_id": "a", "channel_id": "tinh/facebook", "unit_id": "tinh", "platform": "facebook",
           "day": "2026-11-26", "due_at": now}
    with any_store.session() as s:
        s.add(Delivery(**row))
    with pytest.raises(IntegrityError), any_store.session() as s:
        s.add(Delivery(**row))
    with any_store.session() as s:
        s.add(ScheduleSlot(schedule_id="sang", slot_at=now))
    with pytest.raises(IntegrityError), any_store.session() as s:
        s.add(ScheduleSlot(schedule_id="sang", slot_at=now))
    with any_store.session() as s:
        s.add(MilestoneFiring(rule_id="r", unit_id="tinh", threshold="1000", value=1000))
    with pytest.raises(IntegrityError), any_store.session() as s:
        s.add(MilestoneFiring(rule_id="r", unit_id="tinh", threshold="1000", value=1001))
    with any_store.session() as s:
        assert s.exec(select(func.count()).select_from(Delivery)).one() == 1


def test_planning_the_same_moment_twice_creates_nothing_new(any_store: Store, mini: Path) -> None:
    c = load_campaign(mini)
    first = tick(c, any_store, {}, at("2026-11-26T08:00"), publish=False)
    second = tick(c, any_store, {}, at("2026-11-26T08:30"), publish=False)
    assert first.planned == 6 and first.slots == 1
    assert second.planned == 0 and second.slots == 0


# ---------------------------------------------------------------------------------------------- claims


@pytest.fixture
def fleet(any_store: Store, tmp_path: Path):
    """8 Pages × 12 stories = 96 due deliveries (the channels post to the outbox)."""
    pages = page_ids(8)
    ws = make_workspace(tmp_path, pages)
    seeded = seed(any_store, ws, pages, 12)
    return any_store, seeded


def test_concurrent_claimers_get_disjoint_deliveries_one_channel_each(fleet) -> None:
    store, seeded = fleet
    holders: dict[str, str] = {}  # channel -> the claimer that holds it now
    guard = threading.Lock()
    claimed: list[tuple[str, int]] = []
    problems: list[str] = []
    start = threading.Barrier(4)

    def claimer(k: int) -> None:
        w = Worker(seeded.campaign, store, {}, owner=f"claimer-{k}", force_outbox=True, heartbeat=False)
        start.wait()
        idle = 0
        while idle < 3:
            got = w.claim_batch(3)
            if not got:
                idle += 1
                time.sleep(0.01)
                continue
            idle = 0
            with guard:
                for d in got:
                    if holders.get(d.channel_id):
                        problems.append(f"{d.channel_id} held by {holders[d.channel_id]} and claimer-{k}")
                    holders[d.channel_id] = w.owner
                    claimed.append((w.owner, d.id or 0))
                    if d.state != DeliveryState.SENDING or d.lease_owner != w.owner or d.lease_until is None:
                        problems.append(f"delivery {d.id} not leased to {w.owner}")
            time.sleep(0.002)  # "posting"
            for d in got:
                assert w._finish(d.id or 0, current=d, state=DeliveryState.SENT, platform_post_id=f"x{d.id}")
                with guard:
                    holders.pop(d.channel_id, None)
                w._release(d.channel_id)

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert problems == []
    ids = Counter(i for _, i in claimed)
    assert sorted(ids) == seeded.ids  # every delivery claimed…
    assert max(ids.values()) == 1  # …exactly once
    assert len({owner for owner, _ in claimed}) > 1  # the work was shared
    with store.session() as s:
        assert s.exec(select(func.count()).select_from(Delivery).where(Delivery.state != "sent")).one() == 0


def test_a_channel_with_a_delivery_in_flight_is_not_leased_to_anybody_else(fleet) -> None:
    store, seeded = fleet
    now = utcnow()
    a = Worker(seeded.campaign, store, {}, owner="a", force_outbox=True, heartbeat=False, lease=timedelta(seconds=30))
    b = Worker(seeded.campaign, store, {}, owner="b", force_outbox=True, heartbeat=False)
    a.clock.set(now)
    b.clock.set(now)
    first = a.claim_batch(8)
    assert len(first) == 8
    # a dies: its channel leases are gone, its deliveries stay in 'sending' until their lease ends
    with store.session() as s:
        s.execute(update(ChannelState).values(lease_owner=None, lease_until=None))
    assert b.claim_batch(8) == []
    b.clock.set(now + timedelta(seconds=31))
    assert b.reclaim_expired() == 8
    again = b.claim_batch(8)
    assert sorted(d.id for d in again) == sorted(d.id for d in first)  # the same ones, to be reconciled
    assert all(d.needs_check for d in again)


def test_a_worker_that_lost_its_lease_never_overwrites_the_new_holder(fleet) -> None:
    store, seeded = fleet
    now = utcnow()
    a = Worker(seeded.campaign, store, {}, owner="a", force_outbox=True, heartbeat=False, lease=timedelta(seconds=5))
    b = Worker(seeded.campaign, store, {}, owner="b", force_outbox=True, heartbeat=False)
    a.clock.set(now)
    (d,) = a.claim_batch(1)
    b.clock.set(now + timedelta(seconds=6))
    assert b.reclaim_expired() == 1
    a._release(d.channel_id)
    assert b._acquire(d.channel_id)
    d2 = b.claim_next(d.channel_id)
    assert d2 is not None and d2.id == d.id and d2.needs_check
    assert b._finish(d2.id or 0, state=DeliveryState.SENT, platform_post_id="by-b")
    # a's answer arrives late: it must not turn b's 'sent' back into 'retry'
    assert a._finish(d.id or 0, state=DeliveryState.RETRY, reason="late") is False
    with store.session() as s:
        row = s.get(Delivery, d.id)
        assert row is not None and row.state == DeliveryState.SENT and row.platform_post_id == "by-b"


def test_heartbeat_keeps_leases_of_a_long_pass_alive(fleet) -> None:
    store, seeded = fleet
    now = utcnow()
    w = Worker(seeded.campaign, store, {}, owner="slow", force_outbox=True, lease=timedelta(seconds=1))
    (d,) = w.claim_batch(1)
    with w._heartbeat():
        time.sleep(1.6)
    other = Worker(seeded.campaign, store, {}, owner="other", force_outbox=True, heartbeat=False)
    assert other.reclaim_expired() == 0  # renewed past its first second
    with store.session() as s:
        row = s.get(Delivery, d.id)
        assert row is not None and row.lease_until is not None and row.lease_until > now + timedelta(seconds=1.4)
        st = s.get(ChannelState, d.channel_id)
        assert st is not None and st.lease_owner == w.owner and w.owner.startswith("slow#")


def test_a_paused_platform_is_shared_by_every_worker(fleet) -> None:
    store, seeded = fleet
    now = utcnow()
    with store.session() as s:
        s.add(ChannelState(channel_id="app:facebook", paused_until=now + timedelta(minutes=5), pause_reason="#4"))
    w = Worker(seeded.campaign, store, {"FB_TOKEN_CD_000": "EAAtoken"}, owner="w", heartbeat=False)
    w.clock.set(now)
    assert w.claim_batch(8) == []
    w.clock.set(now + timedelta(minutes=6))
    assert w.claim_batch(8) != []


def test_run_once_publishes_everything_due_through_the_batches(fleet) -> None:
    store, seeded = fleet
    w = Worker(seeded.campaign, store, {}, owner="w", force_outbox=True, max_workers=4, batch=3)
    report = w.run_once()
    w.close()
    assert report.outcomes["sent"] == len(seeded.ids)
    with store.session() as s:
        states = Counter(s.exec(select(Delivery.state)).all())
        leased = s.exec(select(ChannelState).where(ChannelState.lease_owner.is_not(None))).all()
    assert states == {DeliveryState.SENT: len(seeded.ids)}
    assert leased == []


# ---------------------------------------------------------------------------------------------- planner role


def test_advisory_lock_admits_one_planner_at_a_time(pg_url: str) -> None:
    store = open_store(pg_url)
    a, b = Leader(store, name="a"), Leader(store, name="b")
    try:
        assert a.acquire() is True
        assert b.acquire() is False
        assert a.acquire() is True  # re-checked every tick, still held
        a.release()
        assert b.acquire() is True
        assert a.acquire() is False
        # b's connection dies (machine lost): PostgreSQL frees the lock, a takes over, b notices
        with store.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'campaign-bot planner b'"))
        deadline = time.monotonic() + 10
        while not a.acquire() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert a.is_leader
        assert b.acquire() is False
    finally:
        a.release()
        b.release()
        store.close()


def test_sqlite_process_is_always_the_planner(sqlite_store: Store) -> None:
    a, b = Leader(sqlite_store, name="a"), Leader(sqlite_store, name="b")
    assert a.acquire() and b.acquire()
    assert not a.shared


def test_followers_publish_but_do_not_plan(pg_url: str, mini: Path) -> None:
    c = load_campaign(mini)
    store = open_store(pg_url)
    leader, follower = Leader(store, name="l"), Leader(store, name="f")
    try:
        assert leader.acquire() and not follower.acquire()
        r = tick(c, store, {}, at("2026-11-26T08:00"), lead=follower.acquire(), force_outbox=True)
        assert r.planned == 0 and r.slots == 0 and r.worker.outcomes["sent"] == 0
        r = tick(c, store, {}, at("2026-11-26T08:00"), lead=leader.acquire(), force_outbox=True)
        assert r.planned == 6 and r.worker.outcomes["sent"] == 6
    finally:
        leader.release()
        follower.release()
        store.close()


# At most one slot an hour per channel (bot.bounds): the slot of this hour is still within its grace
# when the runs start, so the first planner plans it, and the stand-by must never plan it again.
HOURLY = """
schedules:
  - id: moi-gio
    cron: "0 * * * *"
    kinds: [initiative_story]
    units: all
    grace: 2h
"""


def test_two_run_processes_on_one_postgresql_plan_each_slot_once(pg_url: str, tmp_path: Path) -> None:
    """`campaign-bot run` on two machines: one plans (the other takes the role when it dies), both publish."""
    ws = tmp_path / "ws"
    write(ws, "config/campaign.yaml", (REPO / "tests/conftest.py").read_text().split('MINI_CAMPAIGN = """')[1]
          .split('"""')[0])
    write(ws, "config/units.yaml", MINI_UNITS)
    write(ws, "schedules/lich.yaml", HOURLY)
    for n in range(12):
        write(ws, f"content/s{n:02d}.md", story(priority=str(n)))
    store = open_store(pg_url)
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_", "CAMPAIGN_"))}
    env.update(CAMPAIGN_DB_URL=pg_url, CAMPAIGN_WORKSPACE=str(ws), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    logs = [tmp_path / "run-0.log", tmp_path / "run-1.log"]
    procs = []
    for log in logs:
        with open(log, "wb") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "bot", "-v", "run", "--every", "1", "--outbox"],
                                          env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT))
    try:
        def roles() -> list[str]:
            return [log.read_text(encoding="utf-8") for log in logs]

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            texts = roles()
            if all("Đang chạy" in t for t in texts) and sum(t.count("đã đăng") for t in texts) >= 6:
                break
            time.sleep(0.2)
        texts = roles()
        leaders = [i for i, t in enumerate(texts) if "Máy này giữ vai trò lập lịch." in t]
        assert len(leaders) == 1, texts
        follower = 1 - leaders[0]
        assert "Máy khác đang lập lịch" in texts[follower]
        # the leader's machine is lost: the other one takes the planner role at its next tick
        procs[leaders[0]].send_signal(signal.SIGKILL)
        procs[leaders[0]].wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "Máy này giữ vai trò lập lịch." not in roles()[follower]:
            time.sleep(0.2)
        assert "Máy này giữ vai trò lập lịch." in roles()[follower]
        time.sleep(1.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait(timeout=30)
    texts = roles()
    for t in texts:
        assert "lượt chạy lỗi" not in t and "IntegrityError" not in t and "Traceback" not in t, t
    store = open_store(pg_url)
    try:
        with store.session() as s:
            slots = s.exec(select(ScheduleSlot.schedule_id, ScheduleSlot.slot_at)).all()
            deliveries = s.exec(select(Delivery)).all()
        assert slots and len(slots) == len(set(slots))
        per_slot = Counter(d.slot_at for d in deliveries)
        assert set(per_slot) == {slot_at for _, slot_at in slots}
        assert set(per_slot.values()) == {6}  # every channel once per slot, no slot planned twice
        pairs = Counter((d.content_id, d.channel_id) for d in deliveries)
        assert max(pairs.values()) == 1
        outbox = list((ws / "outbox").glob("*/*/*.json"))
        sent = [d for d in deliveries if d.state == DeliveryState.SENT]
        assert len(outbox) == len(sent) > 0  # both published, each post once
    finally:
        store.close()


def test_content_rows_survive_a_round_trip_with_vietnamese_text(any_store: Store) -> None:
    with any_store.session() as s:
        s.add(ContentItem(id="x", title="Tự hào trí tuệ lao động Việt Nam", kind="slogan", unit_id="tinh",
                          audience=["huyen-a", "huyen-b"], body="Ệ Ấ Ể", banner_data={"slogan": "1 triệu sáng kiến"}))
    with any_store.session() as s:
        row = s.get(ContentItem, "x")
    assert row is not None and row.title == "Tự hào trí tuệ lao động Việt Nam"
    assert row.audience == ["huyen-a", "huyen-b"] and row.banner_data == {"slogan": "1 triệu sáng kiến"}
