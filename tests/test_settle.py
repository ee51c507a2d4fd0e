"""Issue 10: an answer slower than the read timeout must never lead to a second post or an overlap.

The exact sequence of the field report: the Graph API sits on a post for longer than the client's
read timeout and makes the post only at the end of its answer. The settle window after the
unclear answer must start when the answer became unclear (the timeout), not when the call
started; otherwise the channel reopens while the platform is still working, another worker's
reconcile read finds nothing yet, and the post is sent again.

Timeline here (seconds from the call): the client gives up at 1.0 (read timeout), the fake makes
the post at 1.8, the settle window is 1.5. Counted from the call (the old bug) the channel reopens
at 1.5, before the post exists; counted from the timeout it reopens at 2.5, after it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.store import AuditLog, Delivery, DeliveryState, open_store, utcnow
from bot.worker import Worker
from tests.fakes.graph_server import GraphFake
from tests.worker_fleet import make_workspace, page_ids, seed, tally, worker_env

READ_TIMEOUT = 1.0
SLOW = 1.8  # the fake makes the post this long after the call arrived
SETTLE = 1.5


def _rig(tmp_path: Path, fake: GraphFake, stories: int = 1):
    pages = page_ids(1)
    tokens = [fake.add_page(p) for p in pages]
    ws = make_workspace(tmp_path, pages)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    seeded = seed(store, ws, pages, stories)
    env = worker_env(ws, store.url, fake.base_url, tokens, CAMPAIGN_SETTLE_SECONDS=str(SETTLE),
                     CAMPAIGN_BACKOFF_SECONDS="0.1", CAMPAIGN_LEASE_SECONDS="10",
                     GRAPH_API_READ_TIMEOUT=str(READ_TIMEOUT), GRAPH_API_CONNECT_TIMEOUT="2")
    return store, seeded, env


def _drive(workers: list[Worker], store, until: float) -> None:
    """Passes of every worker, in turn, in real time, until nothing is open or ``until`` passes."""
    while time.monotonic() < until:
        for w in workers:
            w.run_once(utcnow())
        with store.session() as s:
            open_ = [d for d in s.exec(select(Delivery)).all() if d.state in DeliveryState.OPEN]
        if not open_:
            return
        time.sleep(0.05)


def test_slow_answer_beyond_the_read_timeout_that_posts_at_its_end_is_posted_once(tmp_path: Path) -> None:
    with GraphFake(duplicate_window=0) as fake:
        store, seeded, env = _rig(tmp_path, fake)
        fake.slow_next(SLOW, endpoint="feed", accept=False)  # wait first, then make the post and answer
        first = Worker(seeded.campaign, store, env, owner="may-1", heartbeat=True)
        second = Worker(seeded.campaign, store, env, owner="may-2", heartbeat=True)
        try:
            started = time.monotonic()
            report = first.run_once(utcnow())  # the call times out after READ_TIMEOUT
            assert time.monotonic() - started < SLOW  # the client gave up before the platform finished
            _drive([second, first], store, time.monotonic() + 15)
            time.sleep(SLOW)  # let anything still running on the fake finish
        finally:
            first.close()
            second.close()
        t = tally(store, seeded, fake.posts_for())
        assert (t.posts, t.duplicates, t.lost, t.stuck) == (1, 0, 0, 0), t.line()
        assert t.reconciled == 1  # found by the reconcile read, not sent again
        assert fake.overlaps == [], fake.overlaps  # no call, not even a read, while the slow one ran
        assert report.outcomes["unclear"] == 1
        with store.session() as s:
            unclear = s.exec(select(AuditLog).where(AuditLog.action == "delivery.unclear")).all()
        assert len(unclear) == 1


def test_settle_window_counts_from_the_unclear_answer_not_from_the_call(tmp_path: Path) -> None:
    with GraphFake(duplicate_window=0) as fake:
        store, seeded, env = _rig(tmp_path, fake)
        fake.slow_next(SLOW, endpoint="feed", accept=False)
        w = Worker(seeded.campaign, store, env, owner="may-1", heartbeat=False)
        try:
            before = utcnow()
            w.run_once(before)
            after = utcnow()
        finally:
            w.close()
        with store.session() as s:
            (d,) = s.exec(select(Delivery)).all()
        # still fenced: in 'sending' under a settle lease that no other worker may take over early
        assert d.state == DeliveryState.SENDING and d.needs_check and d.lease_owner.endswith("|settle")
        assert d.lease_until >= before + timedelta(seconds=READ_TIMEOUT + SETTLE)
        assert d.lease_until <= after + timedelta(seconds=SETTLE)
        assert d.extra["unclear"]["code"] == "read-timeout"


def test_a_worker_restarted_under_the_same_name_does_not_take_over_a_call_in_flight(tmp_path: Path) -> None:
    """``--owner`` names survive a restart (systemd's %i); the claims of the dead one are not the new one's."""
    with GraphFake(duplicate_window=0) as fake:
        store, seeded, env = _rig(tmp_path, fake, stories=2)
        dead = Worker(seeded.campaign, store, env, owner="may-1", heartbeat=False)
        (d,) = dead.claim_batch(1)  # the dead process claimed it and its call may be in flight
        reborn = Worker(seeded.campaign, store, env, owner="may-1", heartbeat=False)
        try:
            assert reborn.owner != dead.owner
            report = reborn.run_once(utcnow())
            assert report.outcomes["sent"] == 0  # the channel stays closed: a call may be in flight
            assert fake.posts_for() == []
            assert not reborn._finish(d.id or 0, state=DeliveryState.SENT, platform_post_id="x")  # not its claim
        finally:
            dead.close()
            reborn.close()


@pytest.mark.parametrize("endpoint", ["published_posts"])
def test_a_reconcile_read_that_times_out_also_settles_before_the_next_call(tmp_path: Path, endpoint: str) -> None:
    with GraphFake(duplicate_window=0) as fake:
        store, seeded, env = _rig(tmp_path, fake)
        fake.drop_next(after_accept=True, endpoint="feed")  # the post is made, the answer lost
        fake.slow_next(SLOW, endpoint=endpoint, accept=True)  # then the reconcile read is slow
        w = Worker(seeded.campaign, store, env, owner="may-1", heartbeat=True)
        try:
            _drive([w], store, time.monotonic() + 20)
            time.sleep(SLOW)
        finally:
            w.close()
        t = tally(store, seeded, fake.posts_for())
        assert (t.posts, t.duplicates, t.lost, t.stuck, t.reconciled) == (1, 0, 0, 0, 1), t.line()
        assert fake.overlaps == [], fake.overlaps
