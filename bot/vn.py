"""Vietnamese conventions: NFC text, numbers (1.000.000), dates (24/11/2026), Asia/Ho_Chi_Minh."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ_NAME = "Asia/Ho_Chi_Minh"
TZ = ZoneInfo(TZ_NAME)

WEEKDAYS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]


def nfc(text: str) -> str:
    """Every text is normalized to NFC at the boundary (NFD breaks basic text layout)."""
    return unicodedata.normalize("NFC", text)


def so(value: object, decimals: int = 0) -> str:
    """Format a number the Vietnamese way: 1.000.000 and 12,5."""
    if value is None or value == "":
        return ""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if decimals == 0 and abs(number - round(number)) < 1e-9:
        return f"{round(number):,}".replace(",", ".")
    places = decimals or 1
    text = f"{number:,.{places}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def ngay(value: date | datetime | None, tz: ZoneInfo = TZ) -> str:
    """24/11/2026."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(tz) if value.tzinfo else value
        return value.strftime("%d/%m/%Y")
    return value.strftime("%d/%m/%Y")


def ngay_gio(value: datetime | None, tz: ZoneInfo = TZ) -> str:
    """08:00 24/11/2026, in the campaign's timezone."""
    if value is None:
        return ""
    local = value.astimezone(tz) if value.tzinfo else value
    return local.strftime("%H:%M %d/%m/%Y")


def thu(value: date | datetime) -> str:
    """The weekday's Vietnamese name."""
    return WEEKDAYS[value.weekday()]
