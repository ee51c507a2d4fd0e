"""Benchmark: one planner tick as history grows — 1,000 / 10,000 / 100,000 deliveries, 1,000 channels.

Builds a campaign folder with 1,000 units (one Facebook channel each) and 120 stories, then for
each history size fills a fresh store with that many past deliveries (spread evenly over the
channels) and measures the planning of slots that give every channel its next story. The figure is
CPU time of this process (``time.process_time``: on SQLite the database works in this process, so
it is all of the work), and the Python memory allocated at the peak of a tick (tracemalloc).

Issue 15's target: the tick at 100,000 deliveries within 1.5× of the tick at 1,000 (the cost grows
with what is new, not with history) and under 30 ms of CPU on SQLite. With ``--db postgresql``
(127.0.0.1:5432, user postgres) the same runs in a fresh PostgreSQL database each; there the
server's own CPU is not in the figure, so wall time is printed beside it. Prints figures; asserts
nothing.

    python bench/bench_planner.py [--channels 1000] [--sizes 1000,10000,100000] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.load import Campaign, load_campaign
from bot.plan import plan
from bot.store import Delivery, Store, open_store
from bot.store.sync import sync_campaign

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def build_workspace(root: Path, channels: int, stories: int) -> None:
    (root / "config").mkdir(parents=True)
    (root / "schedules").mkdir()
    (root / "content").mkdir()
    (root / "config/campaign.yaml").write_text(
        "campaign:\n  id: bench\n  name: Bench\n  timezone: Asia/Ho_Chi_Minh\n  start: 2026-01-01\n  end: 2027-12-31\n"
        "  hashtags: ['#1TrieuSangKien']\n",
        encoding="utf-8",
    )
    lines = ["units:", "  - {id: tinh, name: Tỉnh, level: province}"]
    for i in range(channels):
        lines.append(
            f"  - {{id: cs-{i:04d}, name: CĐCS {i}, level: grassroots, parent: tinh, "
            f"channels: [{{platform: facebook, page_id: '{100000 + i}', token_env: FB_{i}}}]}}"
        )
    (root / "config/units.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "schedules/s.yaml").write_text(
        'schedules:\n  - {id: s, cron: "0 8 * * *", kinds: [initiative_story], units: all, platforms: [facebook]}\n',
        encoding="utf-8",
    )
    for j in range(stories):
        (root / f"content/s{j:03d}.md").write_text(
            f"---\ntitle: Bài {j}\nkind: initiative_story\nunit: tinh\naudience: cascade\napproved: true\n"
            f"approved_at: 2026-0{1 + j % 9}-{1 + j % 28:02d}\npriority: {j % 3}\n---\nNội dung {j}. " + "x" * 2000
            + "\n",
            encoding="utf-8",
        )


@contextmanager
def fresh_store(kind: str, folder: Path) -> Iterator[Store]:
    """A new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        store = open_store(f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}")
        try:
            yield store
        finally:
            store.close()
        return
    import psycopg

    name = f"cb_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    store = open_store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill_history(store: Store, channels: int, stories: int, deliveries: int) -> None:
    """``deliveries`` past sent deliveries, the same number on every channel, on past days."""
    per_channel = max(1, deliveries // channels)
    base = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    rows = []
    for c in range(channels):
        for k in range(per_channel):
            when = base + timedelta(days=k)
            rows.append({
                "content_id": f"s{k % stories:03d}", "channel_id": f"cs-{c:04d}/facebook",
                "unit_id": f"cs-{c:04d}", "platform": "facebook", "schedule_id": "s", "slot_at": when,
                "day": when.date().isoformat(), "due_at": when, "priority": 0, "state": "sent",
                "attempts": 1, "needs_check": False, "extra": {}, "created_at": when, "updated_at": when,
            })
    with store.session() as s:
        for i in range(0, len(rows), 5000):
            s.execute(insert(Delivery), rows[i : i + 5000])


def measure(store: Store, campaign: Campaign, repeat: int) -> tuple[float, float, float, int]:
    """Median CPU ms, median wall ms and peak allocated MiB of ``repeat`` ticks, and deliveries planned."""
    cpu, wall, peak, planned = [], [], [], 0
    for r in range(repeat + 1):
        moment = datetime(2026, 11, 20 + r, 1, 0, tzinfo=UTC)  # 08:00 in Asia/Ho_Chi_Minh, a new slot each time
        gc.collect()
        tracemalloc.start()
        c0, w0 = time.process_time(), time.perf_counter()
        with store.session() as s:
            result = plan(s, campaign, moment)
        c1, w1 = time.process_time(), time.perf_counter()
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if r == 0:
            continue  # the first tick warms caches (cron triggers, compiled statements)
        planned = len(result.created)
        cpu.append((c1 - c0) * 1000)
        wall.append((w1 - w0) * 1000)
        peak.append(peak_bytes / 2**20)
    return statistics.median(cpu), statistics.median(wall), statistics.median(peak), planned


def cpu_only(store: Store, campaign: Campaign, repeat: int) -> float:
    """Median CPU ms of ``repeat`` ticks without tracemalloc (which slows allocation-heavy code)."""
    out = []
    for r in range(repeat):
        moment = datetime(2026, 12, 1 + r, 1, 0, tzinfo=UTC)
        gc.collect()
        c0 = time.process_time()
        with store.session() as s:
            plan(s, campaign, moment)
        out.append((time.process_time() - c0) * 1000)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--sizes", default="1000,10000,100000", help="history sizes (deliveries already in the store)")
    ap.add_argument("--stories", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = root / "ws"
        build_workspace(ws, args.channels, args.stories)
        campaign = load_campaign(ws)
        print(f"planner tick on {args.db}: {args.channels:,} channels, {args.stories} stories; "
              f"median of {args.repeat} ticks per size")
        rows = []
        for size in sizes:
            with fresh_store(args.db, root) as store:
                sync_campaign(campaign, store)
                fill_history(store, args.channels, args.stories, size)
                cpu_traced, wall, peak, planned = measure(store, campaign, args.repeat)
                cpu = cpu_only(store, campaign, args.repeat)
            rows.append((size, cpu, wall, peak, planned))
            print(f"  {size:>7,} deliveries: {cpu:7.1f} ms CPU, {wall:7.1f} ms wall, "
                  f"{peak:6.1f} MiB allocated at peak, {planned:,} planned")
        base = rows[0][1]
        print("\ndeliveries  CPU ms  wall ms  peak MiB  ratio to the smallest")
        for size, cpu, wall, peak, _ in rows:
            print(f"{size:>10,}  {cpu:6.1f}  {wall:7.1f}  {peak:8.1f}  {cpu / base:5.2f}×")
        print(f"\n{rows[-1][0]:,}/{rows[0][0]:,} CPU ratio: {rows[-1][1] / base:.2f}× (target ≤ 1.5×); "
              f"tick at {rows[-1][0]:,}: {rows[-1][1]:.1f} ms CPU (target < 30 ms on SQLite)")


if __name__ == "__main__":
    main()
