"""The report's tables as files people open: CSV for a Vietnamese-locale Excel, and one ``.xlsx`` workbook.

CSV: Excel on a Vietnamese Windows uses "," as the decimal separator and therefore ";" as the list
separator, so a comma-separated file opens in a single column. The files are ``;``-separated, UTF-8
with a BOM (without it Excel reads the accents as cp1258/cp1252 mojibake), CRLF line ends; decimals
are written with a comma (12,5) and integers without grouping (1250), dates as 24/11/2026 08:00.
LibreOffice asks for the separator and reads the same files.

XLSX (openpyxl): one sheet per table, Vietnamese headers in bold, frozen header row, auto-filter,
real numbers (``#,##0``, percentages ``0.0%``) and real dates (``dd/mm/yyyy hh:mm``) that Excel shows
in the reader's locale, so they sort and sum.

Formula injection: a title or a platform's error text comes from people and platforms. A cell whose
text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a formula by
Excel or LibreOffice (``=HYPERLINK(…)``, ``=cmd|…``), so such text is prefixed with ``'`` in every
CSV and XLSX cell (OWASP "CSV injection"); numbers are typed values and are never touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.files import atomic_write, atomic_write_text
from bot.vn import TZ, lam_tron_phan_tram, ngay, ngay_gio, phan_tram

CSV_DELIMITER = ";"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_NAME = "bao-cao.xlsx"


@dataclass(frozen=True)
class Pct:
    """A percentage (108.9 means 108,9 %): text "108,9%" in a CSV, the number 1.089 shown as 108.9% in XLSX."""

    value: float | None


@dataclass
class Table:
    """One table of the report: its CSV file name, its sheet title (≤ 31 characters), a description for the
    page, the Vietnamese header and the rows (str, int, float, Pct, datetime, date or None per cell)."""

    file: str
    sheet: str
    description: str
    header: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)


def neutralise(text: str) -> str:
    """``'`` before text that a spreadsheet would run as a formula (see the module docstring)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _decimal(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def csv_cell(value: Any, tz: ZoneInfo = TZ) -> str:
    """A cell as Vietnamese-locale Excel reads it: 1250, 12,5, 45,5%, 24/11/2026 08:00; text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, Pct):
        return phan_tram(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else _decimal(value)
    if isinstance(value, datetime):
        return ngay_gio(value, tz)
    if isinstance(value, date):
        return ngay(value)
    return neutralise(str(value))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], tz: ZoneInfo = TZ) -> None:
    """``;``-separated, UTF-8 with a BOM, CRLF (see the module docstring)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([csv_cell(h, tz) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v, tz) for v in row])
    atomic_write_text(path, "\ufeff" + buf.getvalue())


def write_xlsx(path: Path, tables: Sequence[Table], tz: ZoneInfo = TZ, title: str = "") -> None:
    """All tables in one workbook, a sheet each (see the module docstring)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    if title:
        book.properties.title = title
    book.properties.creator = "campaign-bot"
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="8E0000")
    for table in tables:
        sheet = book.create_sheet(_sheet_title(table.sheet, book.sheetnames))
        sheet.append([neutralise(str(h)) for h in table.header])
        widths = [len(str(h)) for h in table.header]
        for row in table.rows:
            values: list[Any] = []
            formats: list[str | None] = []
            for value in row:
                cell_value, number_format = _xlsx_value(value, tz)
                values.append(cell_value)
                formats.append(number_format)
            sheet.append(values)
            r = sheet.max_row
            for index, (cell_value, number_format) in enumerate(zip(values, formats, strict=True), start=1):
                cell = sheet.cell(row=r, column=index)
                if isinstance(cell_value, str):
                    cell.data_type = "s"  # never a formula, whatever the text
                if number_format:
                    cell.number_format = number_format
                shown = len(str(cell_value)) if cell_value is not None else 0
                if index <= len(widths):
                    widths[index - 1] = max(widths[index - 1], min(shown, 60))
        for index, cell in enumerate(sheet[1], start=1):
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="center", wrap_text=True)
            sheet.column_dimensions[get_column_letter(index)].width = max(10, min(60, widths[index - 1] + 2))
        sheet.freeze_panes = "A2"
        if table.rows:
            sheet.auto_filter.ref = sheet.dimensions
    if not book.sheetnames:
        book.create_sheet("Trống")
    buf = io.BytesIO()
    book.save(buf)
    atomic_write(path, buf.getvalue())


def _xlsx_value(value: Any, tz: ZoneInfo) -> tuple[Any, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("có" if value else "không"), None
    if isinstance(value, Pct):
        rounded = lam_tron_phan_tram(value.value)
        return (None, None) if rounded is None else (rounded / 100.0, "0.0%")
    if isinstance(value, int):
        return value, "#,##0"
    if isinstance(value, float):
        return value, "#,##0" if value.is_integer() else "#,##0.00"
    if isinstance(value, datetime):
        local = value.astimezone(tz) if value.tzinfo else value
        return local.replace(tzinfo=None), "dd/mm/yyyy hh:mm"  # Excel has no time zones: campaign time
    if isinstance(value, date):
        return value, "dd/mm/yyyy"
    return neutralise(str(value)), None


def _sheet_title(title: str, taken: list[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique."""
    clean = "".join("-" if ch in "[]:*?/\\" else ch for ch in title).strip()[:31] or "Bảng"
    candidate, n = clean, 2
    while candidate in taken:
        suffix = f" ({n})"
        candidate, n = clean[: 31 - len(suffix)] + suffix, n + 1
    return candidate
