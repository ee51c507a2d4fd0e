"""Vietnamese conventions: NFC text, numbers (1.000.000), dates (24/11/2026), Asia/Ho_Chi_Minh."""

from __future__ import annotations

import re
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



def lam_tron_phan_tram(value: float | None) -> float | None:
    """A percentage rounded by the one rule used everywhere (status, banners, posts, report, preview).

    Half up to one decimal (108,85 → 108,9: Python's round() rounds half to even and binary floats drift, so this
    goes through Decimal on the shortest repr). One exception keeps milestones honest: below 100 it never gives 100
    (99,96 → 99,9), because "100%" means the target is reached. None when the value is unknown or not finite.
    """
    if value is None:
        return None
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    try:
        exact = Decimal(repr(float(value)))
    except (TypeError, ValueError, InvalidOperation):
        return None
    if not exact.is_finite():
        return None
    rounded = exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if exact < 100 <= rounded:
        rounded = Decimal("99.9")
    return float(rounded)


def phan_tram_so(value: float | None) -> str:
    """The number of a percentage, "108,9" or "130" (",0" dropped); empty when unknown. See lam_tron_phan_tram."""
    rounded = lam_tron_phan_tram(value)
    if rounded is None:
        return ""
    return so(rounded, 0 if rounded.is_integer() else 1)


def phan_tram(value: float | None) -> str:
    """A percentage with its sign, "108,9%" (rounded by :func:`lam_tron_phan_tram`); empty when unknown."""
    number = phan_tram_so(value)
    return f"{number}%" if number else ""


# --- one rule for dates typed by people, and for file names ---------------------------------

_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T,]+(\d{1,2})[:h](\d{2}))?")


def parse_moment(text: str, tz: ZoneInfo = TZ) -> datetime:
    """A moment typed by a person: ``24/11/2026 08:00``, ``24/11/2026``, or ISO ``2026-11-24T08:00``.

    Every command reads dates through this one function, so what works for ``report`` works for
    ``tick --now`` too. A date without a time is midnight; a time without zone is the campaign's.
    Raises ValueError with a Vietnamese message (an impossible date names what is wrong).
    """
    value = nfc(text).strip()
    m = _DMY.fullmatch(value)
    try:
        if m:
            d, mo, y, hh, mm = m.groups()
            moment = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0))
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        if m or re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value):
            raise ValueError(f"'{value}' không phải một ngày có thật ({date_reason(exc)}); "
                             "ghi như 24/11/2026 08:00 hoặc 2026-11-24T08:00") from None
        raise ValueError(f"'{value}' không phải thời điểm; ghi như 24/11/2026 08:00 hoặc 2026-11-24T08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def date_reason(exc: Exception) -> str:
    """Python's reason for an impossible date, in Vietnamese."""
    text = str(exc)
    if "day is out of range" in text:
        return "tháng đó không có ngày này"
    if "month must be" in text:
        return "tháng phải từ 1 đến 12"
    if "hour must be" in text:
        return "giờ phải từ 0 đến 23"
    if "minute must be" in text:
        return "phút phải từ 0 đến 59"
    if "year" in text:
        return "năm không hợp lệ"
    return "ngày hoặc giờ không hợp lệ"


def khong_dau(text: str) -> str:
    """Vietnamese without tones: 'Sáng kiến Đồng Nai' → 'Sang kien Dong Nai' (đ is not a combining mark)."""
    text = nfc(text).replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def slug(text: str, limit: int = 60, default: str = "bai") -> str:
    """A file name from any text: transliterated, lower case, '-' between words ('sang-kien-dong-nai')."""
    return re.sub(r"[^a-z0-9]+", "-", khong_dau(text).lower()).strip("-")[:limit].strip("-") or default
