"""A story's ``link:``: checked at load (well-formed, https), fetched by ``check --check-links``.

Why: a link post on Facebook shows a preview card built from the page's ``og:title`` and ``og:image``;
a broken address or a page without those tags gives a bare, unclickable-looking post, found only
after it is published to every tier. The form is checked on every load (cheap, offline); fetching
every link is slow and needs the network, so it runs only when asked (``campaign-bot check
--check-links``), bounded: a few requests at once, a timeout each, at most :data:`READ_MAX` bytes
of each page read, at most :data:`REDIRECTS_MAX` redirects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from bot.bounds import URL_MAX

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
READ_MAX = 1_000_000  # the <head> of any real page is far smaller
REDIRECTS_MAX = 5
WORKERS = 4
USER_AGENT = "campaign-bot link check (+https://github.com/)"


def link_problem(url: str) -> tuple[str, str] | None:
    """Why ``url`` cannot be a story's link, as (message, fix); None when it is fine."""
    fix = "ghi địa chỉ đầy đủ bắt đầu bằng https://, ví dụ https://congdoan.example.vn/tin-tuc/bai-viet"
    if len(url) > URL_MAX:
        return f"địa chỉ dài quá {URL_MAX} ký tự", "dùng địa chỉ ngắn hơn của trang"
    if any(c.isspace() for c in url) or any(ord(c) < 32 for c in url):
        return "địa chỉ có khoảng trắng hoặc ký tự điều khiển", fix
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "địa chỉ không đúng dạng", fix
    if parts.scheme == "http":
        return "địa chỉ dùng http://, không an toàn (trình duyệt và Zalo cảnh báo người đọc)", \
            "đổi thành https:// (hỏi người quản trị trang web nếu trang chưa có https)"
    if parts.scheme != "https":
        return f"địa chỉ phải bắt đầu bằng https:// (đang là '{parts.scheme or url[:10]}')", fix
    if parts.username or parts.password:
        return "địa chỉ chứa tên đăng nhập/mật khẩu", "bỏ phần 'tên:mật-khẩu@' khỏi địa chỉ"
    host = parts.hostname or ""
    if not host:
        return "địa chỉ thiếu tên trang web", fix
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if not is_ip and ("." not in host or host.startswith(".") or host.endswith(".") or ".." in host):
        return f"tên trang web '{host}' không đúng dạng", fix
    if port is not None and not 0 < port < 65536:
        return "cổng trong địa chỉ không hợp lệ", fix
    return None


@dataclass
class LinkReport:
    url: str
    where: list[str] = field(default_factory=list)  # "content/…md:12" of every story naming it
    status: int | None = None
    final_url: str | None = None
    og_title: str | None = None
    og_image: str | None = None
    error: str | None = None  # a network problem, in Vietnamese

    @property
    def problems(self) -> list[str]:
        """What is wrong, in Vietnamese; empty when the link works and has a preview."""
        if self.error:
            return [self.error]
        out: list[str] = []
        if self.status is not None and self.status >= 400:
            out.append(f"trang trả về HTTP {self.status}" + (" (không tìm thấy)" if self.status == 404 else ""))
            return out
        if not self.og_title:
            out.append("trang thiếu og:title (Facebook không có tiêu đề cho khung xem trước)")
        if not self.og_image:
            out.append("trang thiếu og:image (khung xem trước trên Facebook/Zalo không có ảnh)")
        return out


class _OpenGraph(HTMLParser):
    """Collects ``<meta property="og:…" content="…">`` until ``</head>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.done = True
        if tag != "meta" or self.done:
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        name = (a.get("property") or a.get("name") or "").strip().lower()
        if name in ("og:title", "og:image", "og:image:url", "og:image:secure_url") and a.get("content", "").strip():
            key = "og:image" if name.startswith("og:image") else name
            self.found.setdefault(key, a["content"].strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.done = True


def fetch_link(url: str, session: Any = None) -> LinkReport:
    """GET one link (redirects followed up to :data:`REDIRECTS_MAX`) and read its Open Graph tags."""
    import requests

    report = LinkReport(url)
    own = session is None
    s = session or requests.Session()
    s.max_redirects = REDIRECTS_MAX
    try:
        with s.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                   headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.5"}) as resp:
            report.status = resp.status_code
            report.final_url = resp.url
            ctype = resp.headers.get("Content-Type", "")
            if resp.status_code < 400 and "html" in ctype.lower():
                parser = _OpenGraph()
                read = 0
                for chunk in resp.iter_content(16_384):
                    read += len(chunk)
                    parser.feed(chunk.decode(resp.encoding or "utf-8", "replace"))
                    if parser.done or read >= READ_MAX:
                        break
                report.og_title = parser.found.get("og:title")
                report.og_image = parser.found.get("og:image")
    except requests.exceptions.TooManyRedirects:
        report.error = f"chuyển hướng quá {REDIRECTS_MAX} lần"
    except requests.exceptions.Timeout:
        report.error = "trang không trả lời kịp (quá thời gian chờ)"
    except requests.exceptions.SSLError:
        report.error = "chứng chỉ https của trang không hợp lệ"
    except requests.exceptions.ConnectionError:
        report.error = "không kết nối được tới trang (sai tên miền, hoặc máy chủ tắt)"
    except requests.exceptions.RequestException as exc:
        report.error = f"lỗi khi tải trang ({type(exc).__name__})"
    finally:
        if own:
            s.close()
    return report


def check_links(links: Iterable[tuple[str, str]], session_factory: Any = None) -> list[LinkReport]:
    """Fetch every distinct link of ``links`` (url, where) a few at a time; one report per url, in order."""
    reports: dict[str, LinkReport] = {}
    for url, where in links:
        reports.setdefault(url, LinkReport(url)).where.append(where)

    def one(url: str) -> LinkReport:
        session = session_factory() if session_factory else None
        try:
            return fetch_link(url, session)
        finally:
            if session is not None:
                session.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        fetched = list(pool.map(one, list(reports)))
    for got in fetched:
        got.where = reports[got.url].where
        reports[got.url] = got
    return list(reports.values())


def campaign_links(campaign: Any) -> list[tuple[str, str]]:
    """(url, "file:line") of every story's link."""
    out = []
    for story in campaign.stories:
        if story.front.link:
            line = story.located.line(("link",)) if story.located is not None else None
            out.append((story.front.link, f"{story.source}:{line}" if line else story.source))
    return out


def echo_link_reports(campaign: Any) -> bool:
    """``check --check-links``: fetch every story's link and print what is wrong. True when all are fine."""
    import click

    from bot.vn import so

    links = campaign_links(campaign)
    if not links:
        click.echo("  Không bài nào có đường dẫn (link:).")
        return True
    reports = check_links(links)
    bad = [r for r in reports if r.problems]
    click.echo(f"  Đã tải thử {so(len(reports))} đường dẫn của {so(len(links))} bài.")
    for r in bad:
        click.secho(f"✗ {r.url}", fg="red")
        for where in r.where:
            click.echo(f"    {where}")
        for problem in r.problems:
            click.echo(f"    {problem}")
        click.echo("    → cách sửa: sửa link: trong bài, hoặc báo người quản trị trang web thêm thẻ og:title/og:image")
    if bad:
        click.secho(f"✗ {so(len(bad))} đường dẫn có vấn đề.", fg="red")
        return False
    click.secho("✓ Mọi đường dẫn đều mở được và có ảnh xem trước.", fg="green")
    return True
