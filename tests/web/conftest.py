"""`campaign-bot serve` started for real (its own process, uvicorn on 127.0.0.1 and a free port) over a
copy of the sample campaign, and an HTTP client that keeps its Secure cookies over plain loopback http."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.store import Store, open_store
from tests.smtp_server import free_port

KEY = "mot-khoa-bi-mat-du-dai-cho-thu-nghiem-2026"
PASSWORD = "mat-khau-that-dai-2026"


@dataclass
class Served:
    base: str
    ws: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def store(self) -> Store:
        return open_store(f"sqlite:///{self.ws / '.campaign' / 'campaign.db'}")

    def alive(self) -> bool:
        return self.proc.poll() is None and requests.get(self.base + "/healthz", timeout=10).ok

    def client(self) -> requests.Session:
        return client()

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "--workspace", str(self.ws), *args], input=stdin,
                              capture_output=True, text=True, env=self.env, timeout=120)


def client() -> requests.Session:
    return requests.Session()


@pytest.fixture(autouse=True)
def _secure_cookies_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server sets its session cookie Secure, as in production behind HTTPS; here it is plain http on
    127.0.0.1, which browsers treat as a secure context. requests does not (and copies its cookie jar into
    fresh jars with the default policy on every request), so the test client is told to send them."""
    original = http.cookiejar.DefaultCookiePolicy.return_ok_secure

    def loopback_ok(self: Any, cookie: Any, request: Any) -> bool:
        if request.type == "http" and request.host.split(":")[0] == "127.0.0.1":
            return True
        return original(self, cookie, request)

    monkeypatch.setattr(http.cookiejar.DefaultCookiePolicy, "return_ok_secure", loopback_ok)


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def start(ws: Path, extra_env: dict[str, str] | None = None, *args: str) -> Served:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGN_", "ZALO_", "FB_"))}
    env.update(CAMPAIGN_SECRET_KEY=KEY, CAMPAIGN_WORKSPACE=str(ws), PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    log = ws.parent / f"serve-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), *args], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve stopped: {log.read_text(encoding='utf-8', errors='replace')[-2000:]}")
        try:
            if requests.get(base + "/healthz", timeout=2).ok:
                return Served(base, ws, proc, env, log)
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve did not start in 60 s")


def stop(served: Served) -> None:
    served.proc.send_signal(signal.SIGINT)
    try:
        served.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait()


@pytest.fixture
def served(sample: Path) -> Iterator[Served]:
    s = start(sample)
    r = s.cli("users", "add", "tinh", "--unit", "ldld-tinh", "--display-name", "Ban Tuyên giáo LĐLĐ tỉnh",
              "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    yield s
    stop(s)


def login(s: Served, name: str = "tinh", password: str = PASSWORD) -> requests.Session:
    c = s.client()
    page = c.get(s.base + "/login")
    r = c.post(s.base + "/login", data={"name": name, "password": password, "csrf": csrf(page.text)},
               allow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return c


def jpeg(width: int = 800, height: int = 600, exif_gps: bool = False) -> bytes:
    import io

    from PIL import Image

    img = Image.new("RGB", (width, height), (200, 30, 30))
    out = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = (11.0, 34.0, 0.0)
        img.save(out, "JPEG", exif=exif)
    else:
        img.save(out, "JPEG")
    return out.getvalue()


def form(**over: Any) -> dict[str, Any]:
    data = {"title": "Sáng kiến máy cắt gạch của tổ bảo trì",
            "body": "Anh Nguyễn Văn An, tổ bảo trì, đã cải tiến máy cắt gạch giúp tăng năng suất gấp đôi và an toàn hơn.",
            "unit": "ldld-phan-rang", "author_name": "Nguyễn Văn An", "author_role": "công nhân tổ bảo trì",
            "contact": "an@example.vn", "consent": "yes"}
    data.update(over)
    return data
