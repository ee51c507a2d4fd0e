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
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.files import FILE_MODE, TEMP_PREFIX
from bot.vn import TZ, lam_tron_phan_tram, ngay, ngay_gio, phan_tram

CSV_DELIMITER = ";"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_NAME = "bao-cao.xlsx"
WIDTH_SAMPLE = 200  # rows read before a sheet is written, to size its columns


@dataclass(frozen=True)
class Pct:
    """A percentage (108.9 means 108,9 %): text "108,9%" in a CSV, the number 1.089 shown as 108.9% in XLSX."""

    value: float | None


@dataclass
class Table:
    """One table of the report: its CSV file name, its sheet title (≤ 31 characters), a description for the
    page, the Vietnamese header and the rows (str, int, float, Pct, datetime, date or None per cell).

    ``rows`` is a list, or a function that gives the rows afresh each time it is called: the long lists
    are read from the store while the files are written (once for the CSV, once for the workbook)."""

    file: str
    sheet: str
    description: str
    header: Sequence[str]
    rows: list[Sequence[Any]] | Callable[[], Iterable[Sequence[Any]]] = field(default_factory=list)

    def iter_rows(self) -> Iterable[Sequence[Any]]:
        return self.rows() if callable(self.rows) else self.rows


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


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A file written a piece at a time that appears whole or not at all (a temporary file renamed,
    as bot.files.atomic_write does), readable by a web server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], tz: ZoneInfo = TZ) -> None:
    """``;``-separated, UTF-8 with a BOM, CRLF (see the module docstring); streamed: rows are written
    as they come, never all held in memory."""
    with _atomic_file(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
        text.write("\ufeff")
        writer = csv.writer(text, delimiter=CSV_DELIMITER, lineterminator="\r\n")
        writer.writerow([csv_cell(h, tz) for h in header])
        for row in rows:
            writer.writerow([csv_cell(v, tz) for v in row])
        text.flush()
        text.detach()


def write_xlsx(path: Path, tables: Sequence[Table], tz: ZoneInfo = TZ, title: str = "") -> None:
    """All tables in one workbook, a sheet each (see the module docstring). openpyxl's write-only mode
    streams each row to the file: column widths therefore come from the header and the first rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    if title:
        book.properties.title = title
    book.properties.creator = "campaign-bot"
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="8E0000")
    header_align = Alignment(vertical="center", wrap_text=True)
    taken: list[str] = []
    for table in tables:
        taken.append(_sheet_title(table.sheet, taken))
        sheet = book.create_sheet(taken[-1])
        rows = iter(table.iter_rows())
        first = list(itertools.islice(rows, WIDTH_SAMPLE))  # widths are set before any row is written
        widths = [len(str(h)) for h in table.header]
        for row in first:
            for index, value in enumerate(row[: len(widths)]):
                shown = _xlsx_value(value, tz)[0]
                widths[index] = max(widths[index], min(len(str(shown)) if shown is not None else 0, 60))
        for index, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = max(10, min(60, width + 2))
        sheet.freeze_panes = "A2"
        head = []
        for h in table.header:
            cell = WriteOnlyCell(sheet, value=neutralise(str(h)))
            cell.font, cell.fill, cell.alignment = header_font, header_fill, header_align
            head.append(cell)
        sheet.append(head)
        count = 0
        for row in itertools.chain(first, rows):
            cells: list[Any] = []
            for value in row:
                cell_value, number_format = _xlsx_value(value, tz)
                if number_format:
                    cell = WriteOnlyCell(sheet, value=cell_value)
                    cell.number_format = number_format
                    cells.append(cell)
                else:  # text is neutralised (never starts like a formula), so it is written as text
                    cells.append(cell_value)
            sheet.append(cells)
            count += 1
        if count:
            sheet.auto_filter.ref = f"A1:{get_column_letter(max(1, len(table.header)))}{count + 1}"
    if not tables:
        book.create_sheet("Trống")
    with _atomic_file(path) as f:
        book.save(f)


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
