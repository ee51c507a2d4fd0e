"""The preview and the report in headless Chromium (Debian's `chromium`, driven by playwright).

Skipped, with the reason, where /usr/bin/chromium or playwright is missing, unless
CAMPAIGN_REQUIRE_BROWSER=1 (CI), where that is a failure. Never downloads a browser. The pages
are served by a local http.server on 127.0.0.1 (a 404 counts as a failed request) and must load
without console errors or failed requests; screenshots are saved under the test's tmp_path.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write
from tests.test_reports import START, XSS_STORY, XSS_TITLE, played_workspace, run

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("CAMPAIGN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium); .ci/run does"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("CAMPAIGN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CAMPAIGN_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(folder) -> the base URL of a local HTTP server for that folder."""
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class Visit:
    page: Any
    problems: list[str] = field(default_factory=list)


def visit(browser: Any, url: str, width: int = 1400) -> Visit:
    page = browser.new_page(viewport={"width": width, "height": 1000}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    v = Visit(page)
    page.on("console", lambda m: v.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: v.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: v.problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: v.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    page.evaluate("document.fonts.ready")
    return v


def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    return [b for b in (el.bounding_box() for el in page.query_selector_all(selector)) if b is not None]


def test_preview_in_chromium(browser: Any, serve: Any, sample: Path, tmp_path: Path) -> None:
    write(sample, "content/sang-kien/thu-xss.md", XSS_STORY)
    out = tmp_path / "preview"
    run(sample, "preview", "--from", START, "--days", "7", "--out", str(out))
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    planned = data["posts"]
    assert planned

    v = visit(browser, serve(out) + "index.html")
    page = v.page
    page.screenshot(path=str(tmp_path / "preview.png"))
    page.screenshot(path=str(tmp_path / "preview-full.png"), full_page=True, timeout=180_000)  # a tall page on a busy machine
    assert v.problems == []

    # the calendar shows the planned posts: one card per delivery, each in the grid too
    assert page.locator("article.post-card").count() == len(planned)
    assert page.locator("table.grid a.chip").count() == len(planned)
    cards = {(el.get_attribute("data-content"), el.get_attribute("data-channel"), el.get_attribute("data-due"))
             for el in page.query_selector_all("article.post-card")}
    assert cards == {(p["content_id"], p["channel_id"], p["due_at"]) for p in planned}
    assert page.locator("table.grid span.chip.empty").count() == len(data["empty"])
    # every image (banner or photo) loaded and is drawn
    images = page.query_selector_all("img.post-image")
    assert images
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    first = images[0]
    first.scroll_into_view_if_needed()
    box = first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50
    # the font is the local Be Vietnam Pro
    assert page.evaluate("document.fonts.check('16px \"Be Vietnam Pro\"')")

    # escaped content shows as text and never runs
    assert page.evaluate("typeof window.__pwned") == "undefined"
    text = page.inner_text("main")
    assert "<SCRIPT>WINDOW.__PWNED=1</SCRIPT>" in text
    assert '<img src=x onerror="window.__pwned=2">' in text
    xss_card = page.locator('article.post-card[data-content="sang-kien/thu-xss"]').first
    assert xss_card.locator("img.post-image").get_attribute("alt") == "Banner: " + XSS_TITLE
    xss_card.screenshot(path=str(tmp_path / "preview-xss-card.png"))

    # the filter (inline script allowed by its hash) shows one unit's posts only
    assert page.locator("#bo-loc").is_visible()
    page.select_option("#loc-don-vi", "ldld-bac-ai")
    visible = page.locator("article.post-card:visible").count()
    assert visible == sum(1 for p in planned if p["unit"] == "ldld-bac-ai") > 0
    assert page.inner_text("#loc-dem") == str(visible)
    page.select_option("#loc-don-vi", "")
    page.select_option("#loc-nen-tang", "zalo")
    assert page.locator("article.post-card:visible").count() == sum(1 for p in planned if p["platform"] == "zalo")
    page.select_option("#loc-nen-tang", "")

    # printing: no filters or navigation, the cards are there
    page.emulate_media(media="print")
    assert not page.locator("#bo-loc").is_visible()
    assert not page.locator("nav.toc").is_visible()
    page.pdf(path=str(tmp_path / "preview.pdf"), format="A4")
    assert (tmp_path / "preview.pdf").stat().st_size > 10_000
    assert v.problems == []
    page.close()


def test_report_in_chromium(browser: Any, serve: Any, sample: Path, tmp_path: Path) -> None:
    facts = played_workspace(sample, days=7)
    out = tmp_path / "report"
    run(sample, "report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(out))

    v = visit(browser, serve(out) + "index.html")
    page = v.page
    page.screenshot(path=str(tmp_path / "report.png"))
    page.screenshot(path=str(tmp_path / "report-full.png"), full_page=True, timeout=180_000)  # a tall page on a busy machine
    page.locator("#tien-do").screenshot(path=str(tmp_path / "report-charts.png"))
    assert v.problems == []

    # the charts are drawn: a line per chart, a bar per unit with a target, all with real boxes
    series = boxes(page, "svg path.series")
    assert len(series) >= 8 and all(b["width"] > 50 and b["height"] >= 0 for b in series)
    assert any(b["height"] > 2 for b in series), "the metric rises somewhere"
    assert all(b["width"] > 0 and b["height"] > 0 for b in boxes(page, "svg .plot-bg"))
    bars = boxes(page, "svg rect.bar-fill")
    c = facts["campaign"]
    with_target = [u for u in c.units if u.target]  # type: ignore[attr-defined]
    assert len(bars) == len(with_target) and all(b["width"] > 0 and b["height"] > 5 for b in bars)
    targets = boxes(page, "svg line.target")
    assert targets and all(b["width"] > 50 for b in targets)

    # every unit, the milestones, the reasons; content escaped and inert
    text = page.inner_text("main")
    for u in c.units:  # type: ignore[attr-defined]
        assert page.locator(f"#dv-{u.id}").is_visible()
    assert page.locator("tr.firing").count() == len(facts["firings"])  # type: ignore[arg-type]
    assert "Token của Trang đã hết hạn (mã lỗi 190)" in text
    assert "<script>window.__pwned=1</script> Sáng kiến thử" in text
    assert '<img src=x onerror="window.__pwned=3">' in text
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 0

    # the CSV files the page links to are served
    hrefs = [link.get_attribute("href") for link in page.query_selector_all("#tep a")]
    assert hrefs[0] == "bao-cao.xlsx" and len(hrefs) == 9
    for href in hrefs:
        assert href and href.endswith((".csv", ".xlsx")) and (out / href).is_file()

    page.emulate_media(media="print")
    assert not page.locator("nav.toc").is_visible()
    assert page.locator("svg path.series").first.is_visible()
    page.pdf(path=str(tmp_path / "report.pdf"), format="A4")
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
    assert v.problems == []
    page.close()


def test_problems_page_in_chromium(browser: Any, serve: Any, mini: Path, tmp_path: Path) -> None:
    (mini / "schedules/lich.yaml").write_text(
        (mini / "schedules/lich.yaml").read_text(encoding="utf-8").replace('cron: "0 8 * * *"', 'cron: "0 8 * *"'),
        encoding="utf-8",
    )
    out = tmp_path / "preview"
    run(mini, "preview", "--out", str(out), code=1)
    v = visit(browser, serve(out) + "index.html", width=1000)
    v.page.screenshot(path=str(tmp_path / "problems.png"), full_page=True, timeout=180_000)  # a tall page on a busy machine
    assert v.problems == []
    rows = v.page.locator("tr.problem")
    assert rows.count() >= 1
    assert "schedules/lich.yaml" in rows.first.inner_text() and "cron" in rows.first.inner_text()
    v.page.close()


# ---------------------------------------------------------------------------------------------------------------
# Pages everyone can read (issue 13): axe-core in Chromium at desktop and phone widths, no sideways scrolling.
# axe-core comes with the axe-playwright-python package from PyPI (its axe.min.js; pip install -e '.[test]').

ARTEFACTS = Path(__file__).resolve().parent / "artefacts" / "pages"  # gitignored: screenshots to look at
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three pages, built once: the preview and the report of a played sample (a held channel, failures with
    reasons, hostile titles, milestones), and the problems page of a broken folder."""
    from click.testing import CliRunner

    from bot.cli import cli
    from tests.test_reports import sample_copy

    root = tmp_path_factory.mktemp("pages")
    ws = sample_copy(root / "ws")
    played_workspace(ws, days=7)
    run(ws, "report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(root / "report"))
    # the week after the play: posts still to come, one channel held, milestone news, empty slots
    run(ws, "preview", "--from", "2026-11-30T07:00", "--days", "7", "--out", str(root / "preview"))
    assert json.loads((root / "preview" / "data.json").read_text(encoding="utf-8"))["posts"]
    schedule = ws / "schedules/bai-dinh-ky.yaml"
    broken = schedule.read_text(encoding="utf-8").replace('cron: "0 8 * * mon,wed,fri"', 'cron: "0 8 * mon,wed,fri"')
    schedule.write_text(broken, encoding="utf-8")  # four fields: the folder does not load
    result = CliRunner().invoke(cli, ["--workspace", str(ws), "preview", "--out", str(root / "problems")])
    assert result.exit_code == 1, result.output
    return {"preview": root / "preview", "report": root / "report", "problems": root / "problems"}


def audit(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each with a few offending elements."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    out = []
    for v in results.response["violations"]:
        if v["impact"] in ("serious", "critical"):
            targets = [" ".join(map(str, n["target"])) for n in v["nodes"][:3]]
            out.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} phần tử): {targets}")
    return out


@pytest.mark.parametrize("width_name", list(WIDTHS))
@pytest.mark.parametrize("name", ["preview", "report", "problems"])
def test_pages_pass_axe_and_fit_a_phone(
    browser: Any, serve: Any, pages: dict[str, Path], name: str, width_name: str
) -> None:
    width = WIDTHS[width_name]
    v = visit(browser, serve(pages[name]) + "index.html", width=width)
    page = v.page
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}-{width_name}.png"), full_page=width_name == "phone")
    assert v.problems == []
    from axe_playwright_python.base import AXE_SCRIPT

    assert "axe v4." in AXE_SCRIPT[:40]
    assert audit(page) == []
    # never sideways on a phone: wide tables scroll inside their own region, which a keyboard can reach
    scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert scroll_width <= inner_width, f"{name} is {scroll_width - inner_width} px wider than the screen"
    for region in page.query_selector_all(".table-wrap, .grid-wrap"):
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
        assert region.get_attribute("aria-label")
    text = page.inner_text("body")
    assert "CAMPAIGN-BOT" not in text and "PREVIEW" not in text.upper().replace("CAMPAIGN-BOT PREVIEW", "")
    page.close()


def test_the_audit_finds_what_it_should(browser: Any, serve: Any, tmp_path: Path) -> None:
    """The control: the same audit on a page with the faults the issue found (low contrast, an unreachable
    scrolling region, a page wider than a phone) reports each of them."""
    folder = tmp_path / "xau"
    folder.mkdir()
    (folder / "index.html").write_text(
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Thử</title>'
        '<meta name="viewport" content="width=device-width,initial-scale=1"></head><body><main>'
        '<h1>Trang thử</h1><p style="color:#9fa3a9;background:#fff">chữ nhạt khó đọc</p>'
        '<div style="overflow:auto;width:200px;height:60px"><p style="width:900px">bảng rộng cuộn ngang '
        + "rất dài " * 40 + '</p></div><div style="width:700px">khối rộng hơn màn hình điện thoại</div>'
        "</main></body></html>",
        encoding="utf-8",
    )
    v = visit(browser, serve(folder) + "index.html", width=390)
    found = " ".join(audit(v.page))
    assert "color-contrast" in found and "scrollable-region-focusable" in found
    scroll_width, inner_width = v.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert scroll_width > inner_width
    v.page.close()
