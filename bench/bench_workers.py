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
drops as workers are added although the per-channel rule would allow more. So each run also prints
the CPU each kind of process spent per delivery — the workers, their PostgreSQL backends (read from
/proc, the server runs on this machine) and the fake — from which the scaling on a machine with more
cores can be judged, and the database round trips per delivery, counted by a TCP relay between the
workers and PostgreSQL (a round trip: the client speaks after the server answered).

Before the fleet, the store's hot path alone: one worker in this process claims and finishes every
delivery against channels that answer at once (no HTTP, no banner), so its CPU per delivery is the
claim, the finish and the audit on the client side; the server's CPU and the round trips are
measured the same way. It runs in two shapes: the fleet's (``--per-page`` deliveries on each of
``--pages`` Pages: a channel drained post after post), and the campaign's own at a schedule slot
(``--fanout`` Pages with one post each, in a database of their own: every delivery is a channel to
lease, serve and release). Each database is ANALYZEd after it is filled, as autovacuum keeps a
running store's statistics; a store just filled has none, and the planner then guesses
(``BENCH_NO_ANALYZE=1`` measures that case).

    python bench/bench_workers.py [--pages 16] [--per-page 100] [--latency 0.02] [--concurrency 4]
                                  [--workers 1,2,4] [--batch 8] [--hot 1] [--fanout 400]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
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

from bot.channels import Published  # noqa: E402
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
APP_NAME = "cb-bench-worker"


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


def serve_relay(conn: Any, target_port: int) -> None:
    """A TCP relay to PostgreSQL that counts round trips: a client message after a server answer.

    Runs in its own process (its CPU is nobody's figure), one thread per direction of each connection,
    so a slow reader on one connection never stalls another. Answers 'count' with the total so far."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    conn.send(listener.getsockname()[1])
    lock = threading.Lock()
    turns = [0]

    def pump(src: socket.socket, dst: socket.socket, spoke: list[bool], from_client: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                with lock:
                    if from_client and not spoke[0]:
                        turns[0] += 1
                    spoke[0] = from_client
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s_ in (src, dst):
                try:
                    s_.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            server = socket.create_connection(("127.0.0.1", target_port))
            for s_ in (client, server):
                s_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            spoke = [False]  # the last bytes on this connection came from the client
            threading.Thread(target=pump, args=(client, server, spoke, True), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, spoke, False), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    while True:
        if conn.recv() == "count":
            with lock:
                conn.send(turns[0])
            continue
        conn.send(True)
        return


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def backend_pids(dbname: str, app: str = APP_NAME) -> list[int]:
    """The PostgreSQL server processes serving the benchmarked workers (by application name)."""
    with psycopg.connect(ADMIN, autocommit=True) as c:
        rows = c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                         (dbname, app)).fetchall()
    return [r[0] for r in rows]


class BackendCPU:
    """CPU of the benchmarked workers' backends between :meth:`start` and :meth:`stop`.

    A backend that appears in between started at zero; one that ends in between is sampled while the
    run goes on (see :meth:`sample`), so its CPU is not lost when the pool closes it."""

    def __init__(self, dbname: str) -> None:
        self.dbname = dbname
        self.before: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def start(self) -> None:
        self.before = {pid: cpu_seconds(pid) for pid in backend_pids(self.dbname)}
        self.last = dict(self.before)

    def sample(self) -> None:
        for pid in backend_pids(self.dbname):
            cpu = cpu_seconds(pid)
            if cpu:
                self.last[pid] = cpu

    def stop(self) -> float:
        self.sample()
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.last.items())


class PostView:
    def __init__(self, page_id: str, message: str, id: str) -> None:
        self.page_id, self.message, self.id = page_id, message, id


class InstantChannel:
    """A channel that answers at once: the hot-path run measures the store, not HTTP."""

    def __init__(self) -> None:
        self.n = 0

    def publish(self, post: Any) -> Published:
        self.n += 1
        return Published(post_id=f"instant_{post.delivery_id}", url=None)

    def find_existing(self, post: Any) -> Published | None:
        return None

    def close(self) -> None:
        pass


def hot_path(url: str, dbname: str, relay: Any, ws: Path, env: dict[str, str], total: int) -> tuple[float, float, float]:
    """Client CPU ms, server CPU ms and round trips per delivery of one in-process worker, no HTTP."""
    from bot.load import load_campaign
    from bot.worker import Worker

    store = open_store(url)
    try:
        campaign = load_campaign(ws)
        w = Worker(campaign, store, env, max_workers=4, heartbeat=False)
        for cid in w.rows:
            w._channels[cid] = InstantChannel()  # type: ignore[assignment]
        with store.session() as s:
            s.execute(update(Delivery).values(due_at=utcnow() - timedelta(seconds=1)))
        w.run_once()  # warm: compiled statements, pools (and the first deliveries)
        with store.session() as s:
            s.execute(update(Delivery).where(Delivery.state == DeliveryState.SENT).values(
                state=DeliveryState.PENDING, attempts=0, sent_at=None, platform_post_id=None, lease_owner=None,
                lease_until=None, first_sent_attempt_at=None, due_at=utcnow() - timedelta(seconds=1)))
        backends = BackendCPU(dbname)
        backends.start()
        relay.send("count")
        turns0 = relay.recv()
        c0 = time.process_time()
        report = w.run_once()
        while report.outcomes.get("sent", 0) < total and sum(report.outcomes.values()):
            more = w.run_once()
            report.merge(more)
            if not sum(more.outcomes.values()):
                break
        cpu = time.process_time() - c0
        relay.send("count")
        turns = relay.recv() - turns0
        server = backends.stop()
        sent = report.outcomes.get("sent", 0)
        w.close()
    finally:
        store.close()
    sent = max(1, sent)
    return cpu / sent * 1000, server / sent * 1000, turns / sent


def analyze(dbname: str) -> None:
    """Statistics for the planner, as autovacuum keeps them in a store that has been running."""
    if os.environ.get("BENCH_NO_ANALYZE"):
        return
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}", autocommit=True) as c:
        c.execute("ANALYZE")


def fanout_hot_path(pages_n: int, relay: Any, relay_port: int, root: Path, base: str) -> tuple[float, float, float]:
    """The hot path when each of ``pages_n`` Pages has one post due (a schedule slot), in its own database."""
    name = f"cb_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        pages = [str(100065000100001 + i) for i in range(pages_n)]
        ws = make_workspace(root / "fanout", pages)
        store = open_store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        try:
            total = len(seed(store, ws, pages, 1, due_at=utcnow() + timedelta(days=365)).ids)
        finally:
            store.close()
        analyze(name)
        relayed = f"postgresql+psycopg://postgres@127.0.0.1:{relay_port}/{name}?application_name={APP_NAME}"
        return hot_path(relayed, name, relay, ws, worker_env(ws, relayed, base, []), total)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=16)
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--hot", type=int, default=1, help="1: measure the store's hot path first; 0: skip it")
    ap.add_argument("--fanout", type=int, default=400, help="Pages of the fan-out hot path (one post each); 0: skip")
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
    relay, relay_child = mp.Pipe()
    relay_proc = mp.Process(target=serve_relay, args=(relay_child, 5432), daemon=True)
    relay_proc.start()
    relay_port = relay.recv()
    relayed = f"postgresql+psycopg://postgres@127.0.0.1:{relay_port}/{name}?application_name={APP_NAME}"
    store = open_store(url)
    rows: list[tuple[int, float, float, float, float, float, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws = make_workspace(Path(tmp), pages)
            far = utcnow() + timedelta(days=365)
            seeded = seed(store, ws, pages, args.per_page, due_at=far)
            total = len(seeded.ids)
            env = worker_env(ws, relayed, base, tokens)
            print(f"{total} deliveries on {args.pages} Pages, fake latency {args.latency * 1000:.0f} ms, "
                  f"{args.concurrency} channels per worker, batch {args.batch}; cores: {os.cpu_count()}")
            analyze(name)
            if args.hot:
                client_ms, server_ms, trips = hot_path(relayed, name, relay, ws, env, total)
                print(f"hot path (one worker in this process, channels answer at once), {args.per_page} posts per "
                      f"Page: {client_ms:.2f} ms client CPU, {server_ms:.2f} ms PostgreSQL CPU, {trips:.1f} round "
                      f"trips per delivery (target ≤ 1 ms, ≤ 0.5 ms, ≤ 3)")
            if args.hot and args.fanout:
                client_ms, server_ms, trips = fanout_hot_path(args.fanout, relay, relay_port, Path(tmp), base)
                print(f"hot path, fan-out: {args.fanout} Pages with one post each: {client_ms:.2f} ms client CPU, "
                      f"{server_ms:.2f} ms PostgreSQL CPU, {trips:.1f} round trips per delivery")
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
                fake_before = cpu_seconds(server.pid)
                backends = BackendCPU(name)
                backends.start()
                relay.send("count")
                turns_before = relay.recv()
                start = time.monotonic()
                with store.session() as s:
                    s.execute(update(Delivery).values(due_at=utcnow()))
                polls = 0
                while time.monotonic() - start < 600:
                    c = state_counts(store)
                    if c[DeliveryState.SENT] + c[DeliveryState.FAILED] >= total:
                        break
                    polls += 1
                    if polls % 25 == 0:
                        backends.sample()
                    time.sleep(0.02)
                elapsed = time.monotonic() - start
                cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
                fake_cpu = cpu_seconds(server.pid) - fake_before
                pg_cpu = backends.stop()
                relay.send("count")
                turns = relay.recv() - turns_before
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
                per = 1000 / total
                rows.append((n, elapsed, rate, ideal, cpu * per, pg_cpu * per, fake_cpu * per, turns / total))
                ok = t.duplicates == 0 and t.lost == 0 and t.stuck == 0 and in_flight <= 1
                print(f"  {n} worker(s): {elapsed:6.2f} s, {rate:7.1f} deliveries/s, ideal {ideal:6.0f}/s, "
                      f"ratio {rate / ideal:5.1%}; posts {t.posts}/{total}, duplicates {t.duplicates}, "
                      f"lost {t.lost}, max in flight per Page {in_flight}; CPU per delivery: workers "
                      f"{cpu * per:.2f} ms, PostgreSQL {pg_cpu * per:.2f} ms, fake {fake_cpu * per:.2f} ms; "
                      f"{turns / total:.1f} round trips {'ok' if ok else 'FAILED'}")
                if not ok:
                    return 1
    finally:
        parent.send("stop")
        parent.recv()
        server.join(timeout=5)
        relay.send("stop")
        relay.recv()
        relay_proc.join(timeout=5)
        store.close()
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("\nworkers  seconds  deliveries/s  ideal/s  ratio  CPU ms/delivery: worker  PostgreSQL  fake  round trips")
    for n, elapsed, rate, ideal, cpu_ms, pg_ms, fake_ms, trips in rows:
        print(f"{n:7d}  {elapsed:7.2f}  {rate:12.1f}  {ideal:7.0f}  {rate / ideal:5.1%}  {cpu_ms:22.2f}  "
              f"{pg_ms:10.2f}  {fake_ms:4.2f}  {trips:11.1f}")
    ceiling = (os.cpu_count() or 1) / max(1e-9, (rows[0][4] + rows[0][5] + rows[0][6]) / 1000)
    print(f"\n(the workers, PostgreSQL and the fake share {os.cpu_count()} cores: at the CPU measured with one worker "
          f"the cores allow about {ceiling:.0f} deliveries/s — the CPU ceiling; ratio to min(ideal, ceiling) with "
          f"one worker: {rows[0][2] / min(rows[0][3], ceiling):.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
