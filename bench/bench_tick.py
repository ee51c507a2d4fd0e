"""Benchmark: a whole lead tick with nothing new to do, at 1,000 and 100,000 deliveries of history.

Issue 15 asks that cost grow with new work, not with history. The planner and the worker's hot path
have their own benches; this one times every step a `run` process takes each minute when nothing
is due — sync of an unchanged folder, milestones, the planner, the worker's pass (reclaim, settle,
corrections, claims), the choice of posts due for an engagement reading, the weekly digest and the alerts pass — in one store
per size filled like bench_reports.py (200 Facebook channels, sent and failed posts, one engagement
reading per sent post, weekly metric readings), and prints the CPU of each step and the ratio of the
largest history to the smallest. Prints figures; asserts nothing.

The history ends now, a post every 8 hours per channel, so the last two weeks (the engagement
window: recent work, not history) hold the same posts at 10,000 and 100,000 deliveries; at 1,000
the whole history is shorter than the window.

    python bench/bench_tick.py [--sizes 10000,100000] [--channels 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench_reports import NOW, SPACING, build_workspace, fill_store  # noqa: E402

from bot import alerts, digest  # noqa: E402
from bot.load import load_campaign  # noqa: E402
from bot.pipeline import plan_now, run_milestones  # noqa: E402
from bot.store import engagement, open_store  # noqa: E402
from bot.store.sync import sync_campaign  # noqa: E402
from bot.worker import Worker  # noqa: E402
from bot.worker.policy import ENGAGEMENT_EVERY, ENGAGEMENT_WINDOW  # noqa: E402


def steps(campaign: Any, store: Any) -> dict[str, Callable[[], Any]]:
    def worker_pass() -> Any:
        w = Worker(campaign, store, {}, force_outbox=True, heartbeat=False)
        try:
            return w.run_once(NOW)
        finally:
            w.close()

    return {
        "sync": lambda: sync_campaign(campaign, store),
        "milestones": lambda: run_milestones(campaign, store, {}, NOW),
        "plan": lambda: plan_now(campaign, store, NOW),
        "worker pass": worker_pass,
        # which posts are due for an engagement reading (the worker's outbox mode skips the reading)
        "engagement due": lambda: engagement.due_for_reading(store, NOW, window=ENGAGEMENT_WINDOW,
                                                             every=ENGAGEMENT_EVERY),
        "digest": lambda: digest.run_pass(campaign, store, {}, NOW),
        "alerts": lambda: alerts.run_pass(store, campaign, {}, NOW),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--channels", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        build_workspace(ws, args.channels, max(sizes) // args.channels + 10)
        campaign = load_campaign(ws)
        for size in sizes:
            url = f"sqlite:///{Path(tmp) / f'tick-{size}.db'}"
            fill_store(ws, url, args.channels, size, base=NOW - SPACING * (size // args.channels))  # ends now
            store = open_store(url)
            try:
                todo = steps(campaign, store)
                for fn in todo.values():  # the first tick plans and warms caches
                    fn()
                # the worker reads the posts due a reading and records it: after that tick, what is due is
                # what the next hours bring, as in a running campaign
                reading = SimpleNamespace(reactions=1, comments=0, shares=0, views=10, extra={})
                due = engagement.due_for_reading(store, NOW, window=ENGAGEMENT_WINDOW, every=ENGAGEMENT_EVERY)
                engagement.record(store, NOW, [(p.delivery_id, reading) for posts in due.values() for p in posts])
                times: dict[str, list[float]] = {name: [] for name in todo}
                for _ in range(args.repeat):
                    for name, fn in todo.items():
                        c0 = time.process_time()
                        fn()
                        times[name].append((time.process_time() - c0) * 1000)
                figures[size] = {name: statistics.median(v) for name, v in times.items()}
            finally:
                store.close()
            total = sum(figures[size].values())
            print(f"{size:>7,} deliveries: " + ", ".join(f"{k} {v:.1f}" for k, v in figures[size].items())
                  + f" — tick {total:.1f} ms CPU")
    small, big = figures[sizes[0]], figures[sizes[-1]]
    head = "".join(f"{size:>10,}" for size in sizes)
    print(f"\nstep                      {head}  ratio {sizes[-1]:,}/{sizes[0]:,} (ms CPU, median of {args.repeat})")
    for name in small:
        cols = "".join(f"{figures[size][name]:10.1f}" for size in sizes)
        print(f"{name:<25} {cols}  {big[name] / max(small[name], 0.01):5.2f}×")
    cols = "".join(f"{sum(figures[size].values()):10.1f}" for size in sizes)
    print(f"{'whole tick':<25} {cols}  {sum(big.values()) / max(sum(small.values()), 0.01):5.2f}×")

if __name__ == "__main__":
    main()
