"""The dashboard's preview calendar and report (issue 19, item 5) over real HTTP against `campaign-bot serve`:
a district's reviewer sees only their branch (no other branch's unit names, no contacts), the preview leaves
the store unchanged, ?ngay is bounded, and nobody reaches either page without logging in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.load import load_campaign
from bot.store import ChannelState, ContentItem, Delivery
from bot.web.dashboard_pages import PREVIEW_DAYS_MAX, preview_days
from bot.web.forms import subtree
from tests.web.conftest import PASSWORD, Served, login, start, stop

PAGES = ("/dashboard/preview", "/dashboard/report")
DISTRICT = "ldld-phan-rang"


@pytest.fixture
def branches(sample: Path) -> Iterator[Served]:
    s = start(sample)
    for name, unit in (("tinh", "ldld-tinh"), ("phanrang", DISTRICT)):
        r = s.cli("users", "add", name, "--unit", unit, "--password-stdin", stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    yield s
    stop(s)


def outside_names(ws: Path, root: str) -> list[str]:
    """The names (full and short) of every unit outside ``root``'s branch."""
    campaign = load_campaign(ws)
    scope = subtree(campaign, root)
    return [n for u in campaign.units if u.id not in scope for n in (u.name, u.short_name) if n]


def store_counts(s: Served) -> tuple[int, int, int]:
    store = s.store()
    try:
        with store.session() as db:
            return (db.exec(select(func.count()).select_from(Delivery)).one(),
                    db.exec(select(func.count()).select_from(ContentItem)).one(),
                    db.exec(select(func.count()).select_from(ChannelState)).one())
    finally:
        store.close()


def test_anonymous_is_sent_to_login(served: Served) -> None:
    c = served.client()
    for path in PAGES:
        r = c.get(served.base + path, allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/login"), path


def test_district_reviewer_sees_only_its_branch(branches: Served) -> None:
    before = store_counts(branches)
    others = outside_names(branches.ws, DISTRICT)
    assert "LĐLĐ huyện Bác Ái" in others
    district = login(branches, "phanrang")
    province = login(branches, "tinh")

    page = district.get(branches.base + "/dashboard/preview?ngay=14")
    assert page.status_code == 200
    assert "content-security-policy" in page.headers and "unsafe-inline" not in page.headers["content-security-policy"]
    html = page.text
    assert 'class="card"' in html and "LĐLĐ TP. Phan Rang – Tháp Chàm" in html  # the branch's own cards
    assert [n for n in others if n in html] == []
    assert "@" not in html.split("<main", 1)[1] and "8412345678901234001" not in html  # no contacts

    whole = province.get(branches.base + "/dashboard/preview?ngay=14").text  # the filter is what hides them
    assert "LĐLĐ huyện Bác Ái" in whole and whole.count('class="card"') > html.count('class="card"')

    report = district.get(branches.base + "/dashboard/report")
    assert report.status_code == 200
    assert "LĐLĐ TP. Phan Rang – Tháp Chàm" in report.text
    assert [n for n in others if n in report.text] == []
    assert "LĐLĐ huyện Bác Ái" in province.get(branches.base + "/dashboard/report").text

    assert store_counts(branches) == before  # the preview planned in a rolled-back transaction


def test_preview_days_are_bounded(served: Served) -> None:
    assert preview_days(None) == 7 and preview_days("abc") == 7 and preview_days("0") == 1
    assert preview_days("99999") == PREVIEW_DAYS_MAX and preview_days("-5") == 1
    c = login(served)
    r = c.get(served.base + "/dashboard/preview?ngay=9999")
    assert r.status_code == 200 and f"({PREVIEW_DAYS_MAX} ngày)" in r.text
    assert c.get(served.base + "/dashboard/preview?ngay=%3Cscript%3E").status_code == 200
