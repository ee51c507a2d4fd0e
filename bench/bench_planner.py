"""Benchmark: one planner tick with 100,000 deliveries and 1,000 channels in the store.

Builds a campaign folder with 1,000 units (one Facebook channel each) and 120 stories, fills
the store with 100,000 past deliveries, then times the planning of one slot that gives every
channel its next story. Prints figures; asserts nothing.

    python bench/bench_planner.py [--channels 1000] [--deliveries 100000] [--db URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import select

from bot.load import load_campaign
from bot.plan import plan
from bot.store import Delivery, ScheduleSlot, open_store
from bot.store.sync import sync_campaign


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
            f"approved_at: 2026-0{1 + j % 9}-{1 + j % 28:02d}\npriority: {j % 3}\n---\nNội dung {j}.\n",
            encoding="utf-8",
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--deliveries", type=int, default=100_000)
    ap.add_argument("--stories", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", help="SQLAlchemy URL (default: SQLite in a temporary folder)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = root / "ws"
        build_workspace(ws, args.channels, args.stories)
        campaign = load_campaign(ws)
        store = open_store(args.db or f"sqlite:///{root / 'bench.db'}")
        sync_campaign(campaign, store)
        # 100 stories already posted to every channel (100 × 1,000 = 100,000), on past days
        per_channel = max(1, args.deliveries // args.channels)
        base = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
        rows = []
        for c in range(args.channels):
            for k in range(per_channel):
                when = base + timedelta(days=k)
                rows.append({
                    "content_id": f"s{k % args.stories:03d}", "channel_id": f"cs-{c:04d}/facebook",
                    "unit_id": f"cs-{c:04d}", "platform": "facebook", "schedule_id": "s", "slot_at": when,
                    "day": when.date().isoformat(), "due_at": when, "priority": 0, "state": "sent",
                    "attempts": 1, "needs_check": False, "extra": {}, "created_at": when, "updated_at": when,
                })
        t0 = time.perf_counter()
        with store.session() as s:
            for i in range(0, len(rows), 5000):
                s.execute(insert(Delivery), rows[i : i + 5000])
        print(f"store: {store.dialect}, {len(rows):,} deliveries inserted in {time.perf_counter() - t0:.1f} s")

        timings = []
        for r in range(args.repeat):
            moment = datetime(2026, 11, 26 + r, 1, 0, tzinfo=UTC)  # 08:00 in Asia/Ho_Chi_Minh
            t0 = time.perf_counter()
            with store.session() as s:
                result = plan(s, campaign, moment)
            timings.append(time.perf_counter() - t0)
            print(f"tick {r + 1}: {len(result.created):,} deliveries planned for {args.channels:,} channels "
                  f"in {timings[-1] * 1000:.0f} ms")
        t0 = time.perf_counter()
        with store.session() as s:
            again = plan(s, campaign, moment)
        idle = time.perf_counter() - t0
        with store.session() as s:
            slots = len(s.exec(select(ScheduleSlot)).all())
        print(f"median planner tick: {statistics.median(timings) * 1000:.0f} ms "
              f"({statistics.median(timings) / args.channels * 1e6:.0f} µs per channel); "
              f"re-planning the same moment: {idle * 1000:.1f} ms, {len(again.created)} new; slots recorded: {slots}")
        store.close()


if __name__ == "__main__":
    main()
