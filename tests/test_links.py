"""Link posts (issue 18): `link:` checked at load; `check --check-links` fetches each link from a real
local HTTPS-less test server and reports 4xx/5xx and a missing preview."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.links import check_links, fetch_link, link_problem
from bot.load import LoadError, load_campaign
from tests.conftest import story, write

PAGES = {
    "/ok": (200, '<html><head><meta property="og:title" content="Tin bài"><meta property="og:image" '
                 'content="https://x.example.vn/a.jpg"></head><body>…</body></html>'),
    "/no-og": (200, "<html><head><title>Không có og</title></head><body>…</body></html>"),
    "/late-og": (200, "<html><head></head><body><meta property='og:title' content='muộn'></body></html>"),
    "/gone": (404, "không có"),
    "/boom": (500, "lỗi"),
    "/huge": (200, "<html><head>" + "<!-- x -->" * 300_000),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path == "/redirect":
            self.send_response(301)
            self.send_header("Location", "/ok")
            self.end_headers()
            return
        status, body = PAGES.get(self.path, (404, ""))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("url", "needle"), [
    ("http://congdoan.example.vn/a", "http://"),
    ("ftp://congdoan.example.vn/a", "https://"),
    ("https://", "thiếu tên trang web"),
    ("https://congdoan/a", "không đúng dạng"),
    ("https://user:pw@congdoan.example.vn/", "mật khẩu"),
    ("https://congdoan.example.vn:99999/", "không đúng dạng"),
])
def test_bad_links(url: str, needle: str) -> None:
    bad = link_problem(url)
    assert bad is not None and needle in bad[0], bad


def test_good_links() -> None:
    for url in ("https://congdoan-ninhthuan.example.vn/tin-tuc/a?x=1#b", "https://127.0.0.1:8443/a"):
        assert link_problem(url) is None


def test_load_refuses_an_http_link_at_its_line(mini: Path) -> None:
    write(mini, "content/lk.md", story(link="http://congdoan.example.vn/a"))
    with pytest.raises(LoadError) as info:
        load_campaign(mini)
    (p,) = [p for p in info.value.problems if p.file == "content/lk.md"]
    assert p.line == 9 and "http://" in p.message and "https://" in (p.fix or "")


def test_link_post_needs_a_link(mini: Path) -> None:
    write(mini, "content/lk.md", story(link_post="true"))
    with pytest.raises(LoadError) as info:
        load_campaign(mini)
    assert any("link_post" in str(p) and p.line == 9 for p in info.value.problems)


def test_fetch_reports_status_and_preview(site: str) -> None:
    ok = fetch_link(f"{site}/redirect")
    assert ok.status == 200 and ok.og_title == "Tin bài" and ok.og_image and ok.problems == []
    assert ok.final_url.endswith("/ok")
    assert fetch_link(f"{site}/gone").problems == ["trang trả về HTTP 404 (không tìm thấy)"]
    assert "HTTP 500" in fetch_link(f"{site}/boom").problems[0]
    no_og = fetch_link(f"{site}/no-og").problems
    assert len(no_og) == 2 and "og:title" in no_og[0] and "og:image" in no_og[1]
    assert fetch_link(f"{site}/late-og").og_title is None  # only the <head> counts
    assert "chuyển hướng" in fetch_link(f"{site}/loop").problems[0]
    huge = fetch_link(f"{site}/huge")  # read at most READ_MAX bytes, then stop
    assert huge.status == 200 and huge.og_title is None
    down = fetch_link("http://127.0.0.1:9/")
    assert "không kết nối được" in down.problems[0]


def test_check_links_groups_stories_by_url(site: str) -> None:
    reports = check_links([(f"{site}/ok", "content/a.md:9"), (f"{site}/gone", "content/b.md:9"),
                           (f"{site}/ok", "content/c.md:9")])
    assert [r.url.rsplit("/", 1)[1] for r in reports] == ["ok", "gone"]
    assert reports[0].where == ["content/a.md:9", "content/c.md:9"] and reports[1].status == 404


def test_cli_check_links(mini: Path, site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stories need https; the local server speaks http, so the test maps https to it."""
    import requests

    write(mini, "content/a.md", story(link="https://tin.example.vn/ok"))
    write(mini, "content/b.md", story(link="https://tin.example.vn/gone"))
    real = requests.Session.get

    def to_local(self: requests.Session, url: str, **kw: object) -> requests.Response:
        return real(self, url.replace("https://tin.example.vn", site), **kw)

    monkeypatch.setattr(requests.Session, "get", to_local)
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "check", "--check-links"])
    assert result.exit_code == 1, result.output
    assert "content/b.md:9" in result.output and "HTTP 404" in result.output
    assert "2 đường dẫn" in result.output and "1 đường dẫn có vấn đề" in result.output
    plain = CliRunner().invoke(cli, ["--workspace", str(mini), "check"])
    assert plain.exit_code == 0 and "HTTP 404" not in plain.output
