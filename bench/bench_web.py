"""Benchmark of `campaign-bot serve`: submissions per second with photos, and the server's memory while 50
uploads run at once.

A copy of the sample campaign is served by a real `campaign-bot serve` process on 127.0.0.1 (loopback only;
the rate limit per address is raised for the run). Phase 1 sends ``--count`` submissions, each with
``--photos`` photos (``--side``×¾ pixels of noise, so the JPEGs are as heavy as phone photos), from
``--clients`` threads, and reports submissions per second and the median and worst time of one. Phase 2
starts ``--burst`` uploads at the same moment and samples the server's resident memory every 50 ms; it
reports the resident memory before, the peak during (VmHWM of the process) and after. Every submission is
checked to have been answered with its thanks page. All loops are bounded.

    python bench/bench_web.py [--count 40] [--clients 4] [--photos 2] [--side 2400] [--burst 50]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from tests.web.conftest import start, stop  # noqa: E402


def photo(side: int, seed: int) -> bytes:
    w, h = side, side * 3 // 4
    noise = Image.frombytes("RGB", (w // 4, h // 4), os.urandom((w // 4) * (h // 4) * 3)).resize((w, h))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def memory_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def submit(base: str, i: int, photos: list[bytes]) -> float:
    with requests.Session() as s:
        page = s.get(base + "/submit", timeout=60)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        data = {"csrf": token, "title": f"Sáng kiến đo tải số {i}", "unit": "ldld-phan-rang", "consent": "yes",
                "body": f"Bài đo tải số {i}: tổ sản xuất cải tiến quy trình, tiết kiệm thời gian và vật tư cho nhà máy.",
                "author_name": "Người đo tải", "author_role": "kỹ thuật", "contact": f"do-tai-{i}@example.vn"}
        files = [("photos", (f"anh-{k}.jpg", p, "image/jpeg")) for k, p in enumerate(photos)]
        t0 = time.perf_counter()
        # the session cookie is Secure (production); over loopback http it is sent by hand
        cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
        r = requests.post(base + "/submit", data=data, files=files, headers={"cookie": cookie}, timeout=300,
                          allow_redirects=False)
        elapsed = time.perf_counter() - t0
    if r.status_code != 303:
        raise SystemExit(f"submission {i} refused: HTTP {r.status_code} {r.text[:300]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--photos", type=int, default=2)
    ap.add_argument("--side", type=int, default=2400)
    ap.add_argument("--burst", type=int, default=50)
    a = ap.parse_args()
    a.count, a.burst, a.photos = min(a.count, 1000), min(a.burst, 200), min(a.photos, 5)
    photos = [photo(a.side, k) for k in range(a.photos)]
    print(f"photos: {a.photos} × {sum(map(len, photos)) // len(photos) // 1000} KB ({a.side}×{a.side * 3 // 4})")
    root = Path(tempfile.mkdtemp(prefix="bench-web-"))
    ws = root / "ws"
    ws.mkdir()
    for part in ("config", "content", "schedules", "banners", "data"):
        shutil.copytree(ROOT / part, ws / part)
    served = start(ws, {"CAMPAIGN_SUBMIT_RATE": "100000/60"})
    pid = served.proc.pid
    try:
        submit(served.base, -1, photos)  # warm up (imports, templates, the first store connection)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.clients) as pool:
            times = list(pool.map(lambda i: submit(served.base, i, photos), range(a.count)))
        wall = time.perf_counter() - t0
        print(f"phase 1: {a.count} submissions with {a.photos} photos from {a.clients} clients in {wall:.1f} s: "
              f"{a.count / wall:.2f} submissions/s; one took median {statistics.median(times):.2f} s, "
              f"worst {max(times):.2f} s")

        before = memory_kb(pid, "VmRSS")
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(memory_kb(pid, "VmRSS"))
                time.sleep(0.05)

        threading.Thread(target=sample, daemon=True).start()
        big = photos + [photos[0]] * max(0, 5 - len(photos))  # five photos each: the heaviest allowed form
        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.burst) as pool:
            burst = list(pool.map(lambda i: submit(served.base, 10_000 + i, big), range(a.burst)))
        wall = time.perf_counter() - t0
        done.set()
        after = memory_kb(pid, "VmRSS")
        print(f"phase 2: {a.burst} uploads of {len(big)} photos ({len(big) * len(photos[0]) // 1_000_000} MB each) at once: "
              f"all answered in {wall:.1f} s (slowest {max(burst):.1f} s)")
        print(f"server memory: {before // 1024} MB before, peak {max(samples or [0]) // 1024} MB sampled "
              f"(VmHWM {memory_kb(pid, 'VmHWM') // 1024} MB), {after // 1024} MB after")
    finally:
        stop(served)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
