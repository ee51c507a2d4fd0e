"""Benchmark: `report` and `preview` peak memory and time at 1,000 and 100,000 deliveries (issue 15, item 4).

Builds one campaign folder (200 Facebook channels, enough stories for the largest history), fills a
store per size with past deliveries (sent, failed, waiting), one engagement reading per sent post
and a metric reading per unit and week, then runs the report (HTML, CSV, XLSX) and a 7-day preview,
each in a fresh process so that one peak does not hide the other. Prints figures; asserts nothing.

Peak memory is the process's resident peak (VmHWM, what the machine pays), beside the resident size
before the step; ``--traced`` adds the peak of Python allocations during the step alone (tracemalloc,
which slows the step several times, so its CPU figures are not comparable). The ratio 100k/1k is what
issue 15 asks to keep within 1.3.

    python bench/bench_reports.py [--sizes 1000,100000] [--channels 200] [--traced]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 10:00 in Asia/Ho_Chi_Minh
SPACING = timedelta(hours=8)  # between two posts of one channel in the history
BASE = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def build_workspace(root: Path, channels: int, stories: int) -> None:
    (root / "config").mkdir(parents=True)
    (root / "schedules").mkdir()
    (root / "content").mkdir()
    (root / "config/campaign.yaml").write_text(
        "campaign:\n  id: bench\n  name: Bench\n  timezone: Asia/Ho_Chi_Minh\n  start: 2026-01-01\n  end: 2027-12-31\n"
        "  hashtags: ['#1TrieuSangKien']\n",
        encoding="utf-8",
    )
    lines = ["units:", "  - {id: tinh, name: Tỉnh, level: province, target: 100000}"]
    for i in range(channels):
        lines.append(
            f"  - {{id: cs-{i:04d}, name: CĐCS {i}, level: grassroots, parent: tinh, target: 500, "
            f"channels: [{{platform: facebook, page_id: '{100000 + i}', token_env: FB_{i}}}]}}"
        )
    (root / "config/units.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "schedules/s.yaml").write_text(
        'schedules:\n  - {id: s, cron: "0 8 * * *", kinds: [initiative_story], units: all, platforms: [facebook]}\n',
        encoding="utf-8",
    )
    for j in range(stories):
        (root / f"content/s{j:04d}.md").write_text(
            f"---\ntitle: Bài {j}\nkind: initiative_story\nunit: tinh\naudience: cascade\napproved: true\n"
            f"approved_at: 2026-0{1 + j % 9}-{1 + j % 28:02d}\npriority: {j % 3}\n---\nNội dung {j}.\n",
            encoding="utf-8",
        )


def fill_store(ws: Path, url: str, channels: int, deliveries: int, base: datetime = BASE) -> None:
    """``deliveries`` past posts spread over ``channels`` from ``base`` on, their engagement, weekly
    metric readings."""
    from sqlalchemy import insert

    from bot.load import load_campaign
    from bot.store import Delivery, Engagement, MetricReading, open_store
    from bot.store.sync import sync_campaign

    campaign = load_campaign(ws)
    store = open_store(url)
    sync_campaign(campaign, store)
    per_channel = max(1, deliveries // channels)
    rows, engagement, readings = [], [], []
    did = 0
    for c in range(channels):
        for k in range(per_channel):
            did += 1
            when = base + SPACING * k
            state = "failed" if k % 50 == 7 else "sent"
            rows.append({
                "id": did, "content_id": f"s{k:04d}", "channel_id": f"cs-{c:04d}/facebook", "unit_id": f"cs-{c:04d}",
                "platform": "facebook", "schedule_id": "s", "slot_at": when, "day": when.date().isoformat(),
                "due_at": when, "priority": 0, "state": state, "attempts": 1, "needs_check": False, "extra": {},
                "created_at": when, "updated_at": when, "sent_at": when if state == "sent" else None,
                "platform_post_id": f"{100000 + c}_{k}" if state == "sent" else None,
                "reason": "lỗi thử nghiệm" if state == "failed" else None,
            })
            if state == "sent":
                engagement.append({"delivery_id": did, "read_at": when + timedelta(days=1), "reactions": k % 40,
                                   "comments": k % 7, "shares": k % 5, "views": 100 + k, "extra": {}})
    for c in range(channels):
        for w in range(max(1, per_channel // 20)):
            at = base + timedelta(days=7 * w)
            readings.append({"unit_id": f"cs-{c:04d}", "metric": "initiatives", "at": at, "value": float(w * 3),
                             "source": "bench", "imported_at": at, "status": "ok"})
    with store.session() as s:
        for table, data in ((Delivery, rows), (Engagement, engagement), (MetricReading, readings)):
            for i in range(0, len(data), 5000):
                s.execute(insert(table), data[i : i + 5000])
    store.close()


def vm_hwm_mib() -> float:
    """The process's resident peak (Linux), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(what: str, ws: Path, url: str, out: Path, traced: bool) -> None:
    """One measured step in this (fresh) process; prints one JSON line."""
    from bot.load import load_campaign
    from bot.store import open_store

    campaign = load_campaign(ws)
    store = open_store(url)
    rss_before = vm_hwm_mib()
    if traced:
        tracemalloc.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if what == "report":
        from bot.reports.report import build_report

        try:
            from bot.reports.report_files import write_report
        except ImportError:  # before the report was split (to measure the old code with this bench)
            from bot.reports.report import write_report  # type: ignore[attr-defined,no-redef]

        data = build_report(campaign, store, None, None, NOW)
        write_report(data, out)
        size = sum(data.totals.values())
    else:
        from bot.reports.preview import build_preview

        try:
            from bot.reports.preview_pages import write_preview
        except ImportError:  # before the preview was split
            from bot.reports.preview import write_preview  # type: ignore[attr-defined,no-redef]

        result = build_preview(campaign, store, {}, NOW, 7)
        write_preview(result, out)
        size = len(result.cards)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    store.close()
    print(json.dumps({"what": what, "cpu_s": cpu, "wall_s": wall, "traced_mib": peak / 2**20,
                      "rss_peak_mib": vm_hwm_mib(), "rss_before_mib": rss_before, "rows": size}))


def measure(what: str, ws: Path, url: str, out: Path, traced: bool) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", what, "--ws", str(ws), "--url", url, "--out", str(out),
                           *(["--traced"] if traced else [])],
                          capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"})
    if proc.returncode:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000", help="deliveries in the store, comma-separated")
    ap.add_argument("--channels", type=int, default=200)
    ap.add_argument("--only", choices=("report", "preview"), help="measure one of the two")
    ap.add_argument("--traced", action="store_true", help="also the Python allocation peak (tracemalloc; slow)")
    ap.add_argument("--child", choices=("report", "preview"), help=argparse.SUPPRESS)
    ap.add_argument("--ws", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.ws), args.url, Path(args.out), args.traced)
        return

    sizes = [int(x) for x in args.sizes.split(",")]
    stories = max(sizes) // args.channels + 30  # the same folder for every size: only the history grows
    results: dict[int, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = root / "ws"
        build_workspace(ws, args.channels, stories)
        for n in sizes:
            url = f"sqlite:///{root / f'bench-{n}.db'}"
            t0 = time.perf_counter()
            fill_store(ws, url, args.channels, n)
            print(f"{n:,} deliveries ({args.channels} channels, {stories} stories) stored in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            results[n] = {}
            for what in [args.only] if args.only else ("report", "preview"):
                r = measure(what, ws, url, root / f"{what}-{n}", args.traced)
                results[n][what] = r
                traced = f"Python peak {r['traced_mib']:.1f} MiB, " if args.traced else ""
                print(f"  {what:<8} {n:>7,}: CPU {r['cpu_s']:.2f} s, wall {r['wall_s']:.2f} s, {traced}"
                      f"resident peak {r['rss_peak_mib']:.0f} MiB (before the step {r['rss_before_mib']:.0f} MiB, "
                      f"the step added {r['rss_peak_mib'] - r['rss_before_mib']:.0f} MiB), {r['rows']:,} rows/cards",
                      flush=True)
    lo, hi = min(sizes), max(sizes)
    if lo != hi:
        for what in [args.only] if args.only else ("report", "preview"):
            a, b = results[lo][what], results[hi][what]
            traced = f"Python peak {b['traced_mib'] / a['traced_mib']:.2f}×, " if args.traced else ""
            added = (b["rss_peak_mib"] - b["rss_before_mib"]) / max(1.0, a["rss_peak_mib"] - a["rss_before_mib"])
            print(f"{what}: {hi:,}/{lo:,} ratio — {traced}resident peak {b['rss_peak_mib'] / a['rss_peak_mib']:.2f}× "
                  f"(memory added by the step {added:.2f}×), CPU {b['cpu_s'] / a['cpu_s']:.1f}× "
                  "(target: memory within 1.3×)")


if __name__ == "__main__":
    main()
