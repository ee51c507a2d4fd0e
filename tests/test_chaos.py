"""Chaos: worker processes killed at random moments while the platform misbehaves; every post exactly once.

A fake Graph API on 127.0.0.1 (tests/fakes/graph_server.py, duplicate detection off so that a second
post of the same text is accepted and counted) takes thousands of deliveries from `campaign-bot worker`
processes. Meanwhile the test
  * kills workers with SIGKILL at random moments and starts new ones,
  * makes the fake answer slowly (after the post was made, or before making it, beyond the client's
    read timeout), fail with HTTP 500 (with or without making the post), drop the connection (after
    or before making the post), fail the reconcile search, and rate-limit a Page.
At the end every delivery is on the fake exactly once (no duplicate, none lost), recorded as sent with
the id of that very post, none is left open, and no Page ever had two posts in flight.

PostgreSQL runs several workers at once; SQLite runs one at a time (as it is meant to be used).
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bot.store import DeliveryState, Store, open_store
from tests.fakes.graph_server import GraphFake
from tests.worker_fleet import make_workspace, page_ids, seed, spawn_worker, state_counts, tally, worker_env

PAGES = 10
PER_PAGE = 200  # 2,000 deliveries
CHAOS_SECONDS = 50.0  # faults and kills go on until 90 % of the deliveries are sent, at most this long
FAULT_EVERY = (6, 20)  # a fault every 6 to 20 requests the fake receives (about one call in 13)
DEADLINE = 85.0  # the whole run
LEASE = 4.0  # seconds: above the longest call (read timeout 1 s, slowest answer 1.5 s)
SETTLE = 2.0  # seconds a channel waits after an unclear answer (the slowest answer is 1.5 s)


def inject_fault(fake: GraphFake, rng: random.Random) -> str:
    kind = rng.choice(["slow-after", "slow-before", "fail-after", "fail-before", "drop-after", "drop-before",
                       "reconcile-fails", "rate-limit"])
    if kind == "slow-after":  # the post is made, the answer comes late (often after the client gave up)
        fake.slow_next(rng.uniform(0.3, 1.5), endpoint="feed", accept=True)
    elif kind == "slow-before":  # the platform sits on the request, then makes the post
        fake.slow_next(rng.uniform(0.3, 1.5), endpoint="feed", accept=False)
    elif kind == "fail-after":  # HTTP 500, but the post exists
        fake.fail_next(code=2, endpoint="feed", accept=True)
    elif kind == "fail-before":  # HTTP 500, nothing made
        fake.fail_next(code=1, endpoint="feed", accept=False)
    elif kind == "drop-after":  # the connection is closed after the post was made
        fake.drop_next(after_accept=True, endpoint="feed")
    elif kind == "drop-before":
        fake.drop_next(after_accept=False, endpoint="feed")
    elif kind == "reconcile-fails":  # the check before a resend fails: it must be tried again, not skipped
        fake.fail_next(code=2, endpoint="published_posts")
    else:  # a Page's rate limit: the pause is shared by every worker through the store
        fake.fail_next(code=32, endpoint="feed", estimated_minutes=0.01)
    return kind


def run_chaos(store: Store, url: str, tmp_path: Path, n_workers: int, seed_: int,
              kill_every: tuple[float, float]) -> None:
    rng = random.Random(seed_)
    pages = page_ids(PAGES)
    with GraphFake(latency=0.003, duplicate_window=0) as fake:
        tokens = [fake.add_page(p) for p in pages]
        ws = make_workspace(tmp_path, pages)
        seeded = seed(store, ws, pages, PER_PAGE)
        total = len(seeded.ids)
        env = worker_env(ws, url, fake.base_url, tokens, CAMPAIGN_LEASE_SECONDS=str(LEASE),
                         CAMPAIGN_BACKOFF_SECONDS="0.2", CAMPAIGN_SETTLE_SECONDS=str(SETTLE),
                         GRAPH_API_READ_TIMEOUT="1.0", GRAPH_API_CONNECT_TIMEOUT="2.0")
        args = ("--concurrency", "3", "--batch", "4", "--poll", "0.1")
        logs = tmp_path / "logs"
        logs.mkdir()
        started = [0]

        def start() -> subprocess.Popen[bytes]:
            started[0] += 1
            return spawn_worker(env, *args, log=logs / f"worker-{started[0]:03d}.log")

        workers = [start() for _ in range(n_workers)]
        faults: list[str] = []
        kills = 0
        stop_faults = threading.Event()

        def faulter() -> None:
            # In proportion to the traffic: faults never pile up while the workers are down.
            last, gap = 0, rng.randint(*FAULT_EVERY)
            while not stop_faults.wait(0.01):
                seen = len(fake.requests)
                if seen - last >= gap:
                    faults.append(inject_fault(fake, rng))
                    last, gap = seen, rng.randint(*FAULT_EVERY)

        fault_thread = threading.Thread(target=faulter, daemon=True)
        t0 = time.monotonic()
        fault_thread.start()
        try:
            # Chaos: a random worker is killed at a random moment and a new one started.
            next_kill = t0 + rng.uniform(*kill_every)
            while time.monotonic() - t0 < CHAOS_SECONDS:
                counts = state_counts(store)
                if counts[DeliveryState.SENT] >= 0.9 * total:
                    break
                if time.monotonic() >= next_kill:
                    victim = rng.randrange(len(workers))
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait(timeout=10)
                    kills += 1
                    time.sleep(rng.uniform(0.0, 0.5))
                    workers[victim] = start()
                    next_kill = time.monotonic() + rng.uniform(*kill_every)
                time.sleep(0.05)
            stop_faults.set()
            fault_thread.join()
            fake.clear_faults()
            chaos_end = time.monotonic() - t0
            sent_in_chaos = state_counts(store)[DeliveryState.SENT]
            # Calm: the workers finish (after leases of the dead expire and their deliveries are reconciled).
            while time.monotonic() - t0 < DEADLINE:
                counts = state_counts(store)
                if not any(counts[s] for s in DeliveryState.OPEN):
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - t0
        finally:
            stop_faults.set()
            for w in workers:
                if w.poll() is None:
                    w.terminate()
            for w in workers:
                try:
                    w.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    w.kill()
        t = tally(store, seeded, fake.posts_for())
        in_flight = max(fake.max_in_flight.values(), default=0)
        summary = (f"chaos {store.dialect} workers={n_workers} seed={seed_}: {t.line()} kills={kills} "
                   f"faults={len(faults)} max_in_flight={in_flight} chaos={chaos_end:.1f}s "
                   f"(sent {sent_in_chaos} meanwhile) elapsed={elapsed:.1f}s")
        print(summary)
        (tmp_path / "summary.txt").write_text(summary + "\n", encoding="utf-8")
        assert t.deliveries == total
        assert t.duplicates == 0, summary
        assert t.lost == 0, summary
        assert t.stuck == 0, summary
        assert t.strays == 0 and t.mismatched == 0, summary
        assert t.posts == total, summary
        assert t.states == {DeliveryState.SENT: total}, summary
        assert in_flight <= 1, summary
        assert kills >= 5 and len(faults) >= 50, summary  # the chaos did happen…
        assert sent_in_chaos >= 0.5 * total, summary  # …while most of the work was done
        assert t.reconciled > 0, summary  # and some posts were found by reconciling, not resent


@pytest.mark.slow
@pytest.mark.postgres
def test_chaos_postgresql_several_workers(pg_url: str, tmp_path: Path) -> None:
    store = open_store(pg_url)
    try:
        run_chaos(store, pg_url, tmp_path, n_workers=4, seed_=random.randrange(1 << 30), kill_every=(0.8, 2.0))
    finally:
        store.close()


@pytest.mark.slow
def test_chaos_sqlite_one_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    try:
        # one worker: each kill stops all the work until a new one starts and the leases run out
        run_chaos(store, url, tmp_path, n_workers=1, seed_=random.randrange(1 << 30), kill_every=(2.0, 4.0))
    finally:
        store.close()
