"""Vietnamese conventions: numbers, dates, NFC."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import pytest

from bot.templating import render_text
from bot.vn import nfc, ngay, ngay_gio, so, thu


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1000000, "1.000.000"), (0, "0"), (999, "999"), (1250.0, "1.250"), (12.5, "12,5"), (-3000, "-3.000"),
     ("2500", "2.500"), (None, ""), ("abc", "abc")],
)
def test_so_formats_numbers_the_vietnamese_way(value, expected) -> None:
    assert so(value) == expected


def test_dates_in_vietnamese_style_and_timezone() -> None:
    assert ngay(date(2026, 11, 24)) == "24/11/2026"
    # 20:00 UTC is already the next day in Asia/Ho_Chi_Minh
    assert ngay(datetime(2026, 11, 24, 20, 0, tzinfo=UTC)) == "25/11/2026"
    assert ngay_gio(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) == "08:00 24/11/2026"
    assert thu(date(2026, 11, 29)) == "Chủ Nhật"


def test_templates_use_so_filter_and_nfc() -> None:
    text = render_text("Toàn tỉnh đã có {{ value | so }} sáng kiến", {"value": 1234567})
    assert text == "Toàn tỉnh đã có 1.234.567 sáng kiến"
    decomposed = unicodedata.normalize("NFD", "Tự hào trí tuệ")
    assert nfc(decomposed) == "Tự hào trí tuệ" and render_text(decomposed, {}) == "Tự hào trí tuệ"
