"""Benchmark: loading the campaign folder at 1,000 and 10,000 stories, full and with nothing changed.

Copies the sample campaign (config, schedules, banner templates and assets) into a temporary folder
and adds N generated stories (a body of about 1,5 KB, one in five with its own photo, in folders of
500), then measures in CPU time (``time.process_time``; wall time is noisy on a shared machine):

- full load: every file read, parsed and validated (`check`, `sync`, and every tick before issue 15);
- the old tick path: the full load plus the folder's texts read twice (bot.lastgood before issue 15);
- no-change reload: ``load_campaign(reuse=True)`` when no file changed (what `run` and `tick` do now);
- no-change ``load_running`` on a SQLite store (the reload plus the last-good bookkeeping of a tick);
- one story edited: the reload that parses that file again and reruns the checks across files;

and memory with tracemalloc: what a loaded campaign keeps (per 1,000 stories) and what one tick
with nothing changed allocates at its peak (per 1,000 stories). Prints figures; asserts nothing.

    python bench/bench_reload.py [--sizes 1000,10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.lastgood import load_running, read_texts
from bot.load import load_campaign
from bot.reload import forget, reloader
from bot.store import open_store

REPO = Path(__file__).resolve().parent.parent
BODY = ("Công đoàn cơ sở đã phát động phong trào thi đua, người lao động đề xuất sáng kiến cải tiến quy trình, "
        "tiết kiệm nguyên vật liệu và giảm thời gian sản xuất. ") * 8


def build(ws: Path, n: int) -> int:
    """The sample campaign plus ``n`` generated stories; returns the number of stories in the folder."""
    for part in ("config", "schedules", "banners", "content"):
        shutil.copytree(REPO / part, ws / part)
    from PIL import Image

    for j in range(n):
        folder = ws / "content" / "bench" / f"lo-{j // 500:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        photo = ""
        if j % 5 == 0:
            Image.new("RGB", (16, 12), (j % 256, 80, 120)).save(folder / f"anh-{j}.jpg", format="JPEG")
            photo = f"image: anh-{j}.jpg\n"
        (folder / f"bai-{j:05d}.md").write_text(
            f"---\ntitle: Sáng kiến số {j} của người lao động\nkind: initiative_story\nunit: ldld-tinh\n"
            f"audience: own\napproved: true\napproved_by: Ban Tuyên giáo\napproved_at: 2026-0{1 + j % 9}-{1 + j % 28:02d}\n"
            f"priority: {j % 3}\ntags: [sáng kiến, thi đua]\n{photo}---\n{BODY}\nBài số {j}.\n",
            encoding="utf-8")
    past = time.time() - 3600  # saved an hour ago: stamps are trusted (see bot.reload, "racy" files)
    for root, _, names in os.walk(ws):
        for name in names:
            os.utime(os.path.join(root, name), (past, past))
    return sum(1 for p in (ws / "content").rglob("*.md") if p.name.lower() != "readme.md")


def cpu_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and minimum CPU milliseconds of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1000)
    return statistics.median(times), min(times)


def retained_mb(fn: Callable[[], Any]) -> tuple[float, Any]:
    """MB still allocated after ``fn`` (what its result and the loader's memory keep)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return kept / 1e6, result


def peak_mb(fn: Callable[[], Any]) -> float:
    """MB allocated at the peak of ``fn`` above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 1e6


def measure(n: int, repeat: int, tmp: Path) -> dict[str, float]:
    ws = (tmp / f"ws-{n}").resolve()
    stories = build(ws, n)
    store = open_store(f"sqlite:///{tmp / f's-{n}.db'}")
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    out: dict[str, float] = {"stories": stories}
    try:
        load_campaign(ws)  # warm the imports and the OS cache
        out["full"], out["full_min"] = cpu_ms(lambda: load_campaign(ws), max(1, repeat // 2))
        out["old_tick"], _ = cpu_ms(lambda: (read_texts(ws), load_campaign(ws), read_texts(ws)), 1)
        forget(ws)
        out["kept_mb"], _ = retained_mb(lambda: load_campaign(ws, reuse=True))
        out["reload"], out["reload_min"] = cpu_ms(lambda: load_campaign(ws, reuse=True), repeat)
        assert reloader(ws).parsed == 0
        load_running(ws, store, now)  # the first good version is kept
        out["running"], out["running_min"] = cpu_ms(lambda: load_running(ws, store, now), repeat)
        out["tick_peak_mb"] = peak_mb(lambda: load_running(ws, store, now))
        one = ws / "content" / "bench" / "lo-000" / "bai-00001.md"

        def edit() -> None:
            one.write_text(one.read_text(encoding="utf-8") + "x", encoding="utf-8")
            load_running(ws, store, now)

        out["one_edit"], _ = cpu_ms(edit, 3)
    finally:
        store.close()
        forget(ws)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000", help="numbers of generated stories, comma-separated")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        for n in sizes:
            results[n] = measure(n, args.repeat, Path(tmp))
    print(f"{'stories':>8} | {'full load':>10} | {'old tick':>9} | {'no-change':>10} | {'no-change':>13} | {'one story':>10}")
    print(f"{'':>8} | {'':>10} | {'path':>9} | {'reload':>10} | {'load_running':>13} | {'edited':>10}")
    for n in sizes:
        r = results[n]
        print(f"{int(r['stories']):>8} | {r['full']:>7.0f} ms | {r['old_tick']:>6.0f} ms | {r['reload']:>7.1f} ms |"
              f" {r['running']:>10.1f} ms | {r['one_edit']:>7.0f} ms")
    print("(CPU ms, median; no-change minimum: "
          + ", ".join(f"{int(results[n]['stories'])}: {results[n]['reload_min']:.1f} ms" for n in sizes) + ")")
    for n in sizes:
        r = results[n]
        print(f"memory at {int(r['stories'])} stories: campaign + loader memory kept {r['kept_mb']:.1f} MB; "
              f"peak of a no-change tick {r['tick_peak_mb']:.2f} MB")
    if len(sizes) >= 2:
        a, b = results[sizes[0]], results[sizes[-1]]
        per_k = 1000 / (b["stories"] - a["stories"])
        print(f"growth per 1,000 stories: kept {(b['kept_mb'] - a['kept_mb']) * per_k:.2f} MB, "
              f"no-change tick peak {(b['tick_peak_mb'] - a['tick_peak_mb']) * per_k:.3f} MB, "
              f"no-change reload {(b['reload'] - a['reload']) * per_k:.1f} ms CPU, "
              f"full load {(b['full'] - a['full']) * per_k:.0f} ms CPU")
        print(f"no-change reload at {int(b['stories'])} stories: {b['reload']:.1f} ms CPU "
              f"({b['old_tick'] / max(b['reload'], 0.01):.0f}× less than the old tick path's {b['old_tick']:.0f} ms)")


if __name__ == "__main__":
    main()
