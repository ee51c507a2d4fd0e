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


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24/11/2026 08:00", (2026, 11, 24, 8, 0)), ("24/11/2026", (2026, 11, 24, 0, 0)), ("2026-11-24T08:00", (2026, 11, 24, 8, 0)),
     ("1/2/2027 7h30", (2027, 2, 1, 7, 30)), ("2026-11-24 08:00", (2026, 11, 24, 8, 0))],
)
def test_parse_moment_reads_vietnamese_and_iso_dates(text: str, expected: tuple[int, ...]) -> None:
    from bot.vn import TZ, parse_moment

    moment = parse_moment(text)
    assert moment == datetime(*expected, tzinfo=TZ)


@pytest.mark.parametrize(("text", "needle"), [("31/11/2026", "tháng đó không có ngày này"), ("2026-13-01", "tháng phải từ 1 đến 12"),
                                              ("24/11/2026 25:00", "giờ phải từ 0 đến 23"), ("ngày mai", "24/11/2026 08:00")])
def test_parse_moment_says_why_in_vietnamese(text: str, needle: str) -> None:
    from bot.vn import parse_moment

    with pytest.raises(ValueError, match=needle):
        parse_moment(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("sang-kien/bằng-tài-phân-loại", "sang-kien-bang-tai-phan-loai"), ("Đồng Nai đứng đầu", "dong-nai-dung-dau"),
     ("Quỹ “Mái ấm Công đoàn”", "quy-mai-am-cong-doan"), ("!!!", "bai"),
     (unicodedata.normalize("NFD", "Sáng kiến"), "sang-kien")],
)
def test_slug_transliterates_vietnamese(text: str, expected: str) -> None:
    from bot.vn import slug

    assert slug(text) == expected


def test_outbox_file_names_are_transliterated() -> None:
    from bot.channels.outbox import _slug

    assert _slug("sang-kien/sáng-kiến-bằng-tài-phân-loại") == "sang-kien-sang-kien-bang-tai-phan-loai"
