"""The dashboard's preview calendar and report in headless Chromium: a district's reviewer logs in and each
page passes axe-core (no serious or critical violation) at phone and desktop widths, never scrolls sideways,
loads nothing the CSP refuses (a refusal is a console error, which fails the page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import browser  # noqa: F401  (the shared Chromium fixture)
from tests.web.conftest import PASSWORD, start, stop
from tests.web.test_browser_web import check_page, watch

pytestmark = pytest.mark.browser


def test_dashboard_pages_pass_axe(browser: Any, sample: Path) -> None:  # noqa: F811
    s = start(sample)
    try:
        r = s.cli("users", "add", "phanrang", "--unit", "ldld-phan-rang", "--password-stdin", stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN",
                                  timezone_id="Asia/Ho_Chi_Minh")
        page = ctx.new_page()
        problems = watch(page)
        page.goto(s.base + "/dashboard/preview", wait_until="networkidle")
        assert page.url.endswith("/login")  # not logged in yet
        page.fill("#name", "phanrang")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/review")
        for path, name in (("/dashboard", "dashboard-branch"), ("/dashboard/preview?ngay=14", "dashboard-preview"),
                           ("/dashboard/report", "dashboard-report")):
            page.goto(s.base + path, wait_until="networkidle")
            assert "LĐLĐ huyện Bác Ái" not in page.inner_text("main"), path
            check_page(page, name, problems)
        page.goto(s.base + "/dashboard/preview", wait_until="networkidle")
        page.select_option("#ngay", "3")
        page.click("main button[type=submit]")
        page.wait_for_url("**/dashboard/preview?ngay=3")
        assert "(3 ngày)" in page.inner_text("main")
        ctx.close()
    finally:
        stop(s)
