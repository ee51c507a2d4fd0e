"""Benchmark: deliveries per second of 1, 2 and 4 `campaign-bot worker` processes on PostgreSQL.

A fresh PostgreSQL database (127.0.0.1:5432, user postgres) holds ``--pages × --per-page``
deliveries, one Facebook Page per grassroots union; the fake Graph API (tests/fakes/graph_server.py)
answers every call after ``--latency`` seconds (20 ms) and runs in its own process, as the real API
does not share the workers' CPU. For each number of workers the deliveries are reset to pending
and made due at one moment while the workers are already running (and idle); the clock stops when
the last one is sent. Every run checks that each delivery was posted exactly once and that no Page
ever had two posts in flight.

The ideal: one post in flight per channel and ``--latency`` per post caps a channel at
``1 / latency`` posts per second, and a worker process serves ``--concurrency`` channels at once,
so ``min(pages, workers × concurrency) / latency`` deliveries per second. The ratio is measured / ideal.
The machine's cores are shared by the workers, PostgreSQL and the fake: with few cores the ratio
drops as workers are added although the per-channel rule would allow more.

    python bench/bench_workers.py [--pages 16] [--per-page 100] [--latency 0.02] [--concurrency 4]
                                  [--workers 1,2,4] [--batch 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.* lives beside bot/, not in the installed package

import psycopg  # noqa: E402
from sqlalchemy import update  # noqa: E402

from bot.store import Delivery, DeliveryState, open_store, utcnow  # noqa: E402
from tests.fakes.graph_server import GraphFake  # noqa: E402
from tests.worker_fleet import (  # noqa: E402
    make_workspace,
    page_ids,
    seed,
    spawn_worker,
    state_counts,
    tally,
    worker_env,
)

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def serve_fake(conn: Any, pages: list[str], latency: float) -> None:
    """The fake Graph API in a child process; answers 'posts', 'in_flight' and 'clear' over a pipe."""
    fake = GraphFake(latency=latency, duplicate_window=0).start()
    for page in pages:
        fake.add_page(page)
    conn.send(fake.base_url)
    while True:
        cmd = conn.recv()
        if cmd == "posts":
            conn.send([(p.page_id, p.message, p.id) for p in fake.posts_for()])
        elif cmd == "in_flight":
            conn.send(max(fake.max_in_flight.values(), default=0))
        elif cmd == "clear":
            with fake._lock:
                fake._posts.clear()
                fake._posts_by_id.clear()
                fake.max_in_flight.clear()
            conn.send(True)
        else:
            fake.stop()
            conn.send(True)
            return


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class PostView:
    def __init__(self, page_id: str, message: str, id: str) -> None:
        self.page_id, self.message, self.id = page_id, message, id


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=16)
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]

    name = f"cb_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    pages = page_ids(args.pages)
    tokens = [GraphFake().add_page(p) for p in pages]  # tokens are derived from the Page id
    parent, child = mp.Pipe()
    server = mp.Process(target=serve_fake, args=(child, pages, args.latency), daemon=True)
    server.start()
    base = parent.recv()
    store = open_store(url)
    rows: list[tuple[int, float, float, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws = make_workspace(Path(tmp), pages)
            far = utcnow() + timedelta(days=365)
            seeded = seed(store, ws, pages, args.per_page, due_at=far)
            total = len(seeded.ids)
            env = worker_env(ws, url, base, tokens)
            print(f"{total} deliveries on {args.pages} Pages, fake latency {args.latency * 1000:.0f} ms, "
                  f"{args.concurrency} channels per worker, batch {args.batch}; cores: {os.cpu_count()}")
            for n in counts:
                with store.session() as s:
                    s.execute(update(Delivery).values(
                        state=DeliveryState.PENDING, due_at=far, attempts=0, sent_at=None, platform_post_id=None,
                        first_sent_attempt_at=None, needs_check=False, next_attempt_at=None, lease_owner=None,
                        lease_until=None))
                parent.send("clear")
                parent.recv()
                procs = [spawn_worker(env, "--concurrency", str(args.concurrency), "--batch", str(args.batch),
                                      "--poll", "0.05", log=Path(tmp) / f"w{n}-{i}.log") for i in range(n)]
                time.sleep(3.0)  # imports, campaign, first idle polls
                cpu_before = sum(cpu_seconds(p.pid) for p in procs)
                start = time.monotonic()
                with store.session() as s:
                    s.execute(update(Delivery).values(due_at=utcnow()))
                while time.monotonic() - start < 600:
                    c = state_counts(store)
                    if c[DeliveryState.SENT] + c[DeliveryState.FAILED] >= total:
                        break
                    time.sleep(0.02)
                elapsed = time.monotonic() - start
                cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=60)
                parent.send("posts")
                posts = [PostView(*p) for p in parent.recv()]
                parent.send("in_flight")
                in_flight = parent.recv()
                t = tally(store, seeded, posts)
                rate = total / elapsed
                ideal = min(args.pages, n * args.concurrency) / args.latency
                rows.append((n, elapsed, rate, ideal, cpu / total * 1000))
                ok = t.duplicates == 0 and t.lost == 0 and t.stuck == 0 and in_flight <= 1
                print(f"  {n} worker(s): {elapsed:6.2f} s, {rate:7.1f} deliveries/s, ideal {ideal:6.0f}/s, "
                      f"ratio {rate / ideal:5.1%}; posts {t.posts}/{total}, duplicates {t.duplicates}, "
                      f"lost {t.lost}, max in flight per Page {in_flight}, worker CPU {cpu / total * 1000:.1f} ms "
                      f"per delivery {'ok' if ok else 'FAILED'}")
                if not ok:
                    return 1
    finally:
        parent.send("stop")
        parent.recv()
        server.join(timeout=5)
        store.close()
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("\nworkers  seconds  deliveries/s  ideal/s  ratio  worker CPU ms/delivery")
    for n, elapsed, rate, ideal, cpu_ms in rows:
        print(f"{n:7d}  {elapsed:7.2f}  {rate:12.1f}  {ideal:7.0f}  {rate / ideal:5.1%}  {cpu_ms:6.1f}")
    print(f"\n(the workers, PostgreSQL and the fake share {os.cpu_count()} cores: a worker process needs about "
          f"{rows[0][4]:.0f} ms of CPU per delivery, so the cores, not the per-channel rule, set the ceiling here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
