"""Benchmark: one announcement fanned out to 1,000 Facebook Pages on the fake Graph API.

Starts the fake Graph server (tests/fakes/graph_server.py) with 20 ms latency per call and 1,000
Pages, renders one 1200×630 JPEG banner, and publishes one photo post (multipart upload + caption)
to every Page through :class:`bot.channels.facebook.FacebookChannel`, from a thread pool of 32
sharing one pooled ``requests.Session``. At most one post is in flight per Page (each Page gets one
post here; the channel's per-Page lock and the fake's in-flight counter check it).

The fake runs in its own process (the real API does not share the bot's GIL). Prints posts per
second and the ratio to the ideal the concurrency allows: ``threads / latency`` (32 / 0.020 s =
1,600 posts/s), then the CPU ceiling of this machine (the same fan-out with no latency) and the
ratio to the lower of the two. Asserts that every Page got exactly one post and that no Page ever
had two posts in flight.

The fake's listen backlog is 128 (tests/fakes/base.py; the default of 5 dropped connections and made
the figures swing). Each run also prints the client CPU per post (this process only: the fake is apart).

``--http`` compares HTTP clients on the post path instead (issue 15, item 3): client CPU per POST of a
photo post (multipart) and of a text post (form), sequential, no latency, for ``requests`` as the channel
uses it, ``requests`` with ``trust_env=False`` (no proxy/netrc/CA environment lookups per request) and
bare ``urllib3``; the same timeouts, no retries, the token in the body in every case.

    python bench/bench_facebook.py [--pages 1000] [--threads 32] [--latency 0.02] [--sweep] [--http]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fakes lives beside bot/, not in the installed package

from PIL import Image, ImageDraw  # noqa: E402

from bot.channels import ChannelContext, Post  # noqa: E402
from bot.channels.facebook import FacebookChannel, new_session  # noqa: E402
from bot.store import Channel  # noqa: E402
from tests.fakes.base import LISTEN_BACKLOG  # noqa: E402
from tests.fakes.graph_server import GraphFake  # noqa: E402

TEXT = (
    "Toàn tỉnh đã có 1.000 sáng kiến, đạt 33% chỉ tiêu. Tự hào trí tuệ lao động Việt Nam\n\n"
    "#1TrieuSangKien #TuHaoTriTueLaoDongVietNam"
)


def banner(path: Path) -> Path:
    img = Image.new("RGB", (1200, 630))
    draw = ImageDraw.Draw(img)
    for y in range(630):
        shade = int(0xB7 - (0xB7 - 0x7F) * y / 630)
        draw.line([(0, y), (1200, y)], fill=(shade, 0x1C * (630 - y) // 630, 0x1C * (630 - y) // 630))
    draw.rectangle([40, 480, 40 + 1120 * 33 // 100, 520], fill="#ffeb3b")
    for i in range(0, 1200, 120):  # some detail so the JPEG is banner-sized, not a flat colour
        draw.line([(i, 0), (1200 - i, 630)], fill=(255, 235, 59), width=2)
    img.save(path, "JPEG", quality=90)
    return path


def serve(conn, pages: int, latency: float) -> None:
    """The fake Graph server, in its own process (the real API does not share the bot's GIL)."""
    with GraphFake(latency=latency) as fake:
        conn.send((fake.base_url, fake.add_pages(pages)))
        conn.recv()  # the fan-out is done
        conn.send((fake.post_counts(), max(fake.max_in_flight.values(), default=0), list(fake.violations)))


def run(pages: int, threads: int, latency: float) -> dict[str, float]:
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(child, pages, latency), daemon=True)
    server.start()
    try:
        base_url, tokens = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            workspace = Path(tmp)
            image = banner(workspace / "moc-1000.jpg")
            session = new_session(pool_maxsize=threads)
            channels = []
            for i, (page_id, token) in enumerate(tokens.items()):
                env = {f"FB_TOKEN_{i}": token, "GRAPH_API_BASE": base_url}
                row = Channel(id=f"cs-{i}/facebook", unit_id=f"cs-{i}", platform="facebook", account_id=page_id,
                              token_env=f"FB_TOKEN_{i}")
                channels.append(FacebookChannel(row, ChannelContext(workspace=workspace, store=None, env=env,
                                                                    transport=session)))
            now = datetime.now(UTC)
            durations: list[float] = []

            def send(i: int) -> str:
                ch = channels[i]
                post = Post(delivery_id=i, content_id="milestone/moc-toan-tinh/1000", channel_id=ch.row.id,
                            unit_id=ch.row.unit_id, unit_name=f"CĐCS {i}", platform="facebook",
                            title="Mốc 1.000 sáng kiến", text=TEXT, body=TEXT, images=[image], first_attempt_at=now)
                started = time.perf_counter()
                published = ch.publish(post)
                durations.append(time.perf_counter() - started)
                return published.post_id

            started = time.perf_counter()
            cpu_started = time.process_time()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                ids = list(pool.map(send, range(pages)))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            session.close()
            image_kb = image.stat().st_size / 1024
        parent.send("done")
        counts, max_in_flight, violations = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()

    assert len(ids) == pages and len(set(ids)) == pages
    assert len(counts) == pages and set(counts.values()) == {1}, "every Page gets exactly one post"
    assert max_in_flight == 1, "at most one post in flight per Page"
    assert not violations
    rate = pages / elapsed
    ideal = threads / latency if latency else float("inf")
    durations.sort()
    return {
        "pages": pages,
        "threads": threads,
        "latency_ms": latency * 1000,
        "image_kb": image_kb,
        "elapsed_s": elapsed,
        "posts_per_s": rate,
        "ideal_per_s": ideal,
        "ratio": rate / ideal if latency else float("nan"),
        "cpu_ms_per_post": cpu / pages * 1000,
        "p50_ms": statistics.median(durations) * 1000,
        "p95_ms": durations[int(len(durations) * 0.95) - 1] * 1000,
    }


def serve_plain(conn, latency: float) -> None:
    """The fake with one Page, for the HTTP client comparison."""
    with GraphFake(latency=latency) as fake:
        conn.send((fake.base_url, fake.add_pages(1)))
        conn.recv()


def compare_http(posts: int) -> None:
    """Client CPU per POST: requests (as the channel uses it), requests without env lookups, urllib3."""
    import requests
    import urllib3

    parent, child = mp.Pipe()
    server = mp.Process(target=serve_plain, args=(child, 0.0), daemon=True)
    server.start()
    base_url, tokens = parent.recv()
    (page_id, token), = tokens.items()
    timeout = (5.0, 30.0)
    counter = iter(range(10**9))  # a new text each time: the fake (like Facebook) refuses repeats with #506
    with tempfile.TemporaryDirectory() as tmp:
        data = banner(Path(tmp) / "b.jpg").read_bytes()

        def with_requests(session: requests.Session):
            def photo() -> int:
                r = session.post(f"{base_url}/v24.0/{page_id}/photos", data={"caption": f"{TEXT} {next(counter)}", "access_token": token},
                                 files={"source": ("b.jpg", data, "image/jpeg")}, timeout=timeout)
                return r.status_code

            def text() -> int:
                r = session.post(f"{base_url}/v24.0/{page_id}/feed", data={"message": f"{TEXT} {next(counter)}", "access_token": token},
                                 timeout=timeout)
                return r.status_code
            return photo, text

        pool = urllib3.PoolManager(maxsize=4, retries=False, timeout=urllib3.Timeout(connect=5.0, read=30.0))

        def with_urllib3():
            def photo() -> int:
                r = pool.request("POST", f"{base_url}/v24.0/{page_id}/photos",
                                 fields={"caption": f"{TEXT} {next(counter)}", "access_token": token, "source": ("b.jpg", data, "image/jpeg")})
                return r.status

            def text() -> int:
                r = pool.request("POST", f"{base_url}/v24.0/{page_id}/feed", encode_multipart=False,
                                 fields={"message": f"{TEXT} {next(counter)}", "access_token": token})
                return r.status
            return photo, text

        plain = new_session(pool_maxsize=4)
        bare = new_session(pool_maxsize=4)
        bare.trust_env = False
        variants = {"requests": with_requests(plain), "requests trust_env=False": with_requests(bare),
                    "urllib3": with_urllib3()}
        print(f"client CPU per POST, {posts} sequential posts each, fake Graph with no latency "
              f"(photo {len(data) // 1024} KB multipart; text form-encoded)")
        print(f"  {'client':26} {'photo ms':>9} {'text ms':>8}")
        for name, (photo, text) in variants.items():
            figures = []
            for call in (photo, text):
                for _ in range(20):  # warm the pool
                    assert call() == 200
                cpu = time.process_time()
                for _ in range(posts):
                    call()
                figures.append((time.process_time() - cpu) / posts * 1000)
            print(f"  {name:26} {figures[0]:9.3f} {figures[1]:8.3f}")
    parent.send("done")
    server.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the fake waits before each answer")
    parser.add_argument("--sweep", action="store_true", help="also run with 4, 8 and 16 threads")
    parser.add_argument("--http", action="store_true", help="compare HTTP clients on the post path and stop")
    parser.add_argument("--posts", type=int, default=2000, help="posts per client in --http")
    args = parser.parse_args()
    if args.http:
        compare_http(args.posts)
        return
    r = run(args.pages, args.threads, args.latency)
    print(f"fan-out of one photo post ({r['image_kb']:.0f} KB banner) to {r['pages']} Pages, "
          f"{r['threads']} threads, fake latency {r['latency_ms']:.0f} ms, {os.cpu_count()} CPUs, "
          f"fake listen backlog {LISTEN_BACKLOG}")
    print(f"  elapsed        {r['elapsed_s']:.2f} s")
    print(f"  posts/second   {r['posts_per_s']:.0f}")
    print(f"  ideal          {r['ideal_per_s']:.0f} /s (threads / latency, one post in flight per Page)")
    print(f"  ratio          {r['ratio']:.2f}")
    print(f"  per post       p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
          f"client CPU {r['cpu_ms_per_post']:.2f} ms")
    # What the machine allows at all: the same fan-out with no latency (client and fake share the CPUs).
    c = run(args.pages, args.threads, 0.0)
    bound = min(r["ideal_per_s"], c["posts_per_s"])
    print(f"  CPU ceiling    {c['posts_per_s']:.0f} /s measured now with no latency "
          f"(client CPU {c['cpu_ms_per_post']:.2f} ms/post)")
    print(f"  min(ideal, CPU ceiling) {bound:.0f} /s; ratio {r['posts_per_s'] / bound:.2f}")
    if args.sweep:
        print("  threads  posts/s  ideal  ratio")
        for threads in (4, 8, 16, args.threads):
            s = run(args.pages, threads, args.latency)
            print(f"  {threads:7d}  {s['posts_per_s']:7.0f}  {s['ideal_per_s']:5.0f}  {s['ratio']:5.2f}")


if __name__ == "__main__":
    main()
