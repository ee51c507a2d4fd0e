"""Benchmark: video posts to Facebook Pages on the fake Graph API (issue 18).

1. Throughput: the sample campaign's 5-second clip (content/huong-dan/tep/, ~240 KB) published as a Page
   video to ``--pages`` Pages from ``--threads`` threads, through :class:`bot.channels.facebook.FacebookChannel`
   (resumable start/transfer/finish, then the status read), the fake answering every call after
   ``--latency`` (20 ms). Prints video posts per second, MB/s, calls per post, and the ideal the
   latency allows (``threads / (calls per post × latency)``).
2. Memory: one ``--big-mb`` (200 MB) file uploaded to one Page in the chunks the fake asks for (4 MB),
   in a child process that reports its own peak RSS (``ru_maxrss``) and Python's peak allocation
   (tracemalloc) — the upload streams, so both stay near one chunk, far below the file's size. The
   file is made in a temporary folder (an MP4 header, then filler) and deleted afterwards.

The fake runs in its own process (the real API does not share the bot's GIL) and keeps only each
upload's size and hash. Asserts one ready video per Page and no token in any URL.

    python bench/bench_video.py [--pages 40] [--threads 8] [--latency 0.02] [--big-mb 200]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fakes lives beside bot/, not in the installed package

from bot.channels import ChannelContext, Post  # noqa: E402
from bot.channels.facebook import FacebookChannel, new_session  # noqa: E402
from bot.store import Channel  # noqa: E402
from tests.fakes import graph_video  # noqa: E402
from tests.fakes.graph_server import GraphFake  # noqa: E402

SAMPLE = ROOT / "content" / "huong-dan" / "tep" / "gioi-thieu-chuong-trinh.mp4"
TEXT = "VIDEO: CHƯƠNG TRÌNH “1 TRIỆU SÁNG KIẾN” TRONG 5 GIÂY\n\n#1TrieuSangKien #TuHaoTriTueLaoDongVietNam"


def serve(conn, pages: int, latency: float, chunk: int) -> None:
    with GraphFake(latency=latency) as fake:
        graph_video.configure(fake, chunk=chunk, processing=0.0)
        conn.send((fake.base_url, fake.add_pages(pages)))
        conn.recv()
        ready = {}
        for v in graph_video.videos(fake):
            ready[v.page_id] = ready.get(v.page_id, 0) + (1 if v.phase in ("ready", "processing") else 0)
        conn.send((ready, len(fake.requests), list(fake.violations),
                   any("access_token" in s.target for s in fake.requests)))


def post_for(ch: FacebookChannel, i: int, clip: Path) -> Post:
    return Post(delivery_id=i, content_id="huong-dan/video", channel_id=ch.row.id, unit_id=ch.row.unit_id,
                unit_name=f"CĐCS {i}", platform="facebook", title="Video giới thiệu", text=TEXT, body=TEXT,
                first_attempt_at=datetime.now(UTC),
                attachments={"video": {"path": clip, "reel": False, "frame": None, "bytes": clip.stat().st_size,
                                       "duration": 5.0, "orientation": "vertical"}})


def channels_for(tokens: dict[str, str], base_url: str, session, workspace: Path) -> list[FacebookChannel]:  # noqa: ANN001
    out = []
    for i, (page_id, token) in enumerate(tokens.items()):
        row = Channel(id=f"cs-{i}/facebook", unit_id=f"cs-{i}", platform="facebook", account_id=page_id,
                      token_env=f"FB_TOKEN_{i}")
        env = {f"FB_TOKEN_{i}": token, "GRAPH_API_BASE": base_url}
        out.append(FacebookChannel(row, ChannelContext(workspace=workspace, store=None, env=env, transport=session)))
    return out


def throughput(pages: int, threads: int, latency: float) -> dict[str, float]:
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(child, pages, latency, 4 * 1024 * 1024), daemon=True)
    server.start()
    try:
        base_url, tokens = parent.recv()
        session = new_session(pool_maxsize=threads)
        with tempfile.TemporaryDirectory() as tmp:
            chs = channels_for(tokens, base_url, session, Path(tmp))
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                ids = list(pool.map(lambda i: chs[i].publish(post_for(chs[i], i, SAMPLE)).post_id, range(pages)))
            elapsed = time.perf_counter() - started
        session.close()
        parent.send("done")
        ready, calls, violations, leaked = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    assert len(set(ids)) == pages and len(ready) == pages and set(ready.values()) == {1}, "one ready video per Page"
    assert not violations and not leaked, "no token in a URL"
    per_post = calls / pages
    return {"elapsed": elapsed, "posts_per_s": pages / elapsed, "mb_per_s": pages * SAMPLE.stat().st_size / 1e6 / elapsed,
            "calls_per_post": per_post, "ideal": threads / (per_post * latency) if latency else float("inf")}


def make_big(path: Path, mb: int) -> Path:
    """An MP4 header (the sample's first 64 KB, so the fake sees 'ftyp') then filler, written 1 MB (10⁶ bytes) at a time."""
    block = os.urandom(1_000_000)
    with path.open("wb") as out:
        out.write(SAMPLE.read_bytes()[:65536])
        for _ in range(mb):
            out.write(block)
    return path


def upload_big(conn, base_url: str, tokens: dict[str, str], big: str) -> None:
    """In its own process, so ru_maxrss is this upload's peak alone."""
    import bot.channels.facebook.video as fv

    fv.POLL_INTERVAL = 0.05
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp:
        (ch,) = channels_for(tokens, base_url, new_session(), Path(tmp))
        started = time.perf_counter()
        ch.publish(post_for(ch, 0, Path(big)))
        elapsed = time.perf_counter() - started
    _, py_peak = tracemalloc.get_traced_memory()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send((baseline, peak, py_peak, elapsed))


def memory(big_mb: int, latency: float) -> dict[str, float]:
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(child, 1, latency, 4 * 1024 * 1024), daemon=True)
    server.start()
    try:
        base_url, tokens = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            big = make_big(Path(tmp) / "lon.mp4", big_mb)
            size = big.stat().st_size
            up_parent, up_child = mp.Pipe()
            uploader = mp.get_context("spawn").Process(target=upload_big, args=(up_child, base_url, tokens, str(big)))
            uploader.start()
            baseline, peak, py_peak, elapsed = up_parent.recv()
            uploader.join(timeout=60)
        parent.send("done")
        ready, _, _, _ = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    assert ready == {next(iter(tokens)): 1}
    return {"size_mb": size / 1e6, "baseline_mb": baseline / 1024, "peak_mb": peak / 1024,
            "python_peak_mb": py_peak / 1e6, "elapsed": elapsed, "mb_per_s": size / 1e6 / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--big-mb", type=int, default=200)
    args = parser.parse_args()
    r = throughput(args.pages, args.threads, args.latency)
    print(f"video posts ({SAMPLE.stat().st_size / 1024:.0f} KB clip) to {args.pages} Pages, {args.threads} threads, "
          f"fake latency {args.latency * 1000:.0f} ms, {os.cpu_count()} CPUs")
    print(f"  elapsed          {r['elapsed']:.2f} s")
    print(f"  video posts/s    {r['posts_per_s']:.1f} ({r['mb_per_s']:.1f} MB/s)")
    print(f"  calls per post   {r['calls_per_post']:.1f} (start, transfer, finish, status)")
    print(f"  ideal            {r['ideal']:.1f} /s (threads / (calls × latency)); ratio {r['posts_per_s'] / r['ideal']:.2f}")
    m = memory(args.big_mb, args.latency)
    print(f"upload of one {m['size_mb']:.0f} MB file in 4 MB chunks: {m['elapsed']:.1f} s ({m['mb_per_s']:.0f} MB/s)")
    print(f"  peak RSS         {m['peak_mb']:.0f} MB (after imports {m['baseline_mb']:.0f} MB; "
          f"+{m['peak_mb'] - m['baseline_mb']:.0f} MB for the upload)")
    print(f"  Python peak      {m['python_peak_mb']:.1f} MB allocated (tracemalloc)")
    assert m["peak_mb"] - m["baseline_mb"] < m["size_mb"] / 4, "the upload must stream, not hold the file"


if __name__ == "__main__":
    main()
