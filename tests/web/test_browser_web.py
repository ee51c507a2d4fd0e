"""`campaign-bot serve` in headless Chromium: a member on a phone submits a story with two photos; a reviewer
logs in, edits and approves it; the file is in content/, `check` passes and the next tick posts it. Every page
passes axe-core (no serious or critical violation) at phone and desktop widths and never scrolls sideways."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.store import Delivery
from bot.store.intake import Submission
from tests.test_browser import ARTEFACTS, WIDTHS, audit, browser  # noqa: F401  (the shared Chromium fixture)
from tests.web.conftest import PASSWORD, Served, jpeg, start, stop

pytestmark = pytest.mark.browser


@pytest.fixture
def site(sample: Path) -> Any:
    shutil.rmtree(sample / "content")  # only the submitted story competes for the next slot
    (sample / "content").mkdir()
    s = start(sample)
    r = s.cli("users", "add", "tinh", "--unit", "ldld-tinh", "--display-name", "Ban Tuyên giáo LĐLĐ tỉnh",
              "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    yield s
    stop(s)


def check_page(page: Any, name: str, problems: list[str]) -> None:
    """axe at both widths, no sideways scroll, no console error or failed request so far."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for width_name, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        assert audit(page) == [], f"{name} ({width_name})"
        scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        assert scroll_width <= inner_width, f"{name} is wider than a {width_name}"
        page.screenshot(path=str(ARTEFACTS / f"web-{name}-{width_name}.png"), full_page=True)
    assert problems == [], problems


def watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return problems


def test_phone_submission_review_and_approval(browser: Any, site: Served, tmp_path: Path) -> None:  # noqa: F811
    photos = []
    for i, size in enumerate(((1200, 900), (900, 1600))):
        p = tmp_path / f"anh-{i}.jpg"
        p.write_bytes(jpeg(*size, exif_gps=True))
        photos.append(str(p))

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    page = phone.new_page()
    problems = watch(page)
    page.goto(site.base + "/submit", wait_until="networkidle")
    check_page(page, "submit", problems)
    page.set_viewport_size({"width": 390, "height": 844})
    page.fill("#title", "Sáng kiến xe đẩy hàng gấp gọn")
    page.fill("#body", "Chị Trần Thị Bích, tổ đóng gói, làm xe đẩy hàng gấp gọn bằng vật liệu tận dụng, giúp tổ bớt "
                       "một nửa thời gian chuyển hàng.\n\nSáng kiến đã được áp dụng ở cả ba phân xưởng.")
    page.fill("#unit", "LĐLĐ thành phố Phan Rang – Tháp Chàm (ldld-phan-rang)")
    page.fill("#author_name", "Trần Thị Bích")
    page.fill("#author_role", "công nhân tổ đóng gói")
    page.fill("#contact", "0912 345 678")
    page.set_input_files("#photos", photos)
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_url("**/thanks")
    ref = page.inner_text("#ma-bai")
    assert ref.startswith("GY-")
    check_page(page, "thanks", problems)
    # a refused form shows its errors accessibly too
    page.goto(site.base + "/submit", wait_until="networkidle")
    page.fill("#title", "Ngắn")
    page.evaluate("document.querySelector('form.stack').noValidate = true")
    page.click("button[type=submit]")
    page.wait_for_selector("#loi")
    problems.clear()  # the 400 of the refused form is expected
    check_page(page, "submit-errors", problems)
    phone.close()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    page = desk.new_page()
    problems = watch(page)
    page.goto(site.base + "/login", wait_until="networkidle")
    check_page(page, "login", problems)
    page.fill("#name", "tinh")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/review")
    check_page(page, "review", problems)
    page.click("text=Sáng kiến xe đẩy hàng gấp gọn")
    page.wait_for_selector("#kind")
    assert page.locator(".photos img").count() == 2
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert "0912" not in page.inner_text("body")  # the contact stays hidden
    check_page(page, "review-item", problems)
    page.fill("#title", "Xe đẩy hàng gấp gọn: sáng kiến của tổ đóng gói")
    page.select_option("#kind", "good_practice")
    page.select_option("#audience", "cascade")
    page.uncheck("#pf-zalo")
    page.click("button[value=approve]")
    page.wait_for_selector("#tep-bai")
    check_page(page, "approved", problems)
    story_path = page.inner_text("#tep-bai")
    page.goto(site.base + "/dashboard", wait_until="networkidle")
    check_page(page, "dashboard", problems)
    desk.close()

    text = (site.ws / story_path).read_text(encoding="utf-8")
    assert "title: 'Xe đẩy hàng gấp gọn: sáng kiến của tổ đóng gói'" in text or "Xe đẩy hàng gấp gọn" in text
    assert "kind: good_practice" in text and "platforms: [facebook]" in text and "0912" not in text
    images = sorted((site.ws / story_path).parent.glob("anh/*.jpg"))
    assert len(images) == 2
    r = site.cli("check")
    assert r.returncode == 0, r.stdout + r.stderr
    r = site.cli("tick", "--now", "2026-12-02T08:00")
    assert r.returncode == 0, r.stdout + r.stderr
    store = site.store()
    with store.session() as db:
        sub = db.exec(select(Submission)).one()
        sent = db.exec(select(Delivery).where(Delivery.content_id == sub.content_id, Delivery.state == "sent")).all()
    store.close()
    assert sub.ref == ref and sent and {d.platform for d in sent} == {"facebook"}
    assert list((site.ws / "outbox").rglob("*.json")) or list((site.ws / "outbox").rglob("*"))
