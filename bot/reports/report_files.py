"""The report written: ``index.html``, a CSV file per table (for a Vietnamese-locale Excel) and all the
tables in one workbook. The long lists (posts not sent, engagement per post) are streamed from the
store into the files, a chunk at a time, so that writing them does not grow with the history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.reports import atomic_write_text, copy_static, environment, kind_label, level_label, platform_label
from bot.reports import report_queries as rq
from bot.reports.exports import XLSX_NAME, Pct, Table, write_xlsx
from bot.reports.exports import write_csv as write_table_csv
from bot.reports.report import ENGAGEMENT_FIELDS, QUIET_DAYS, STATES, ReportData, engagement_from_row, issue_from_row


def _streamed(r: ReportData, query: Callable[..., Iterator[dict[str, Any]]], make: Callable[[Any], Any],
              shown: list[Any]) -> Callable[[], Iterator[Any]]:
    """Rows read from the store each time the files ask for them (CSV, then XLSX); the rows the page
    already holds when the report has no store (built by hand in a test)."""
    def rows() -> Iterator[Any]:
        if r.store is None or r.period is None:
            yield from shown
            return
        with rq.lean_session(r.store.engine) as s:
            for row in query(s, r.period.start, r.period.end):
                yield make(row)
    return rows


def _n(value: float | None) -> Any:
    """A number for a CSV cell: integers without separators (spreadsheets read them as numbers)."""
    if value is None:
        return ""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def issue_cells(i: Any) -> list[Any]:
    return [i.unit, platform_label(i.platform), i.title, i.content_id, i.state_label, i.reason, i.due_at, i.when]


def engagement_cells(e: Any) -> list[Any]:
    return [e.unit, platform_label(e.platform), e.title, e.content_id, e.sent_at, e.post_id or "",
            *(_n(e.values[k]) for k in ENGAGEMENT_FIELDS), e.read_at]


def report_tables(r: ReportData) -> list[Table]:
    """The report's tables with typed cells (numbers, Pct, datetimes): the CSV files and the XLSX sheets are both
    written from these, so they always hold the same rows."""
    label = r.metric_label
    c = r.campaign
    names = {u.id: u.short_name or u.name for u in c.units}
    return [
        Table("theo-cap.csv", "Theo cấp", "Theo cấp: bài đăng, tương tác, tiến độ",
              ["Cấp", "Số đơn vị", "Đã đăng", "Chờ đăng", "Tạm giữ", "Lỗi", "Bỏ qua", "Bày tỏ cảm xúc", "Bình luận",
               "Chia sẻ", "Lượt xem", f"Số {label}", "Chỉ tiêu", "% chỉ tiêu", "Đơn vị im lặng"],
              [[t.label, t.units, *(t.counts[k] for k in STATES), *(t.engagement[k] for k in ENGAGEMENT_FIELDS),
                _n(t.value), _n(t.target), Pct(t.percent), t.quiet] for t in r.tiers]),
        Table("theo-don-vi.csv", "Theo đơn vị", "Theo đơn vị: bài đăng, tương tác, tiến độ, im lặng",
              ["Mã đơn vị", "Đơn vị", "Cấp", "Đơn vị cấp trên", "Kênh", "Đã đăng", "Chờ đăng", "Tạm giữ", "Lỗi",
               "Bỏ qua", "Bài gần nhất", "Bày tỏ cảm xúc", "Bình luận", "Chia sẻ", "Lượt xem", f"Số {label}",
               "Chỉ tiêu", "% chỉ tiêu", "Số liệu cập nhật", f"Im lặng {QUIET_DAYS} ngày"],
              [[st.unit.id, st.unit.name, level_label(st.unit.level), st.unit.parent or "",
                ", ".join(platform_label(p) for p in st.platforms), *(st.counts[k] for k in STATES),
                st.last_sent, *(st.engagement[k] for k in ENGAGEMENT_FIELDS), _n(st.value),
                _n(st.unit.target), Pct(st.percent), st.reading_at, "có" if st.quiet else ""]
               for st in r.units]),
        Table("theo-kenh.csv", "Theo kênh", "Theo kênh (Trang Facebook, Zalo OA)",
              ["Kênh", "Đơn vị", "Nền tảng", "Đã đăng", "Chờ đăng", "Tạm giữ", "Lỗi", "Bỏ qua", "Kênh bị tạm giữ vì"],
              [[c["channel"], c["unit"], platform_label(c["platform"]), *(c["counts"][k] for k in STATES),
                c["reason"] or ""] for c in r.channels]),
        Table("loi-va-tam-giu.csv", "Lỗi và tạm giữ", "Bài lỗi, bỏ qua, chờ thử lại, tạm giữ — kèm lý do",
              ["Đơn vị", "Nền tảng", "Bài", "Mã bài", "Trạng thái", "Lý do", "Hạn đăng", "Cập nhật"],
              _streamed(r, rq.issues, lambda row: issue_cells(issue_from_row(c, row)), [issue_cells(i) for i in r.issues])),
        Table("tuong-tac.csv", "Tương tác", "Tương tác của từng bài đã đăng (lần đọc mới nhất)",
              ["Đơn vị", "Nền tảng", "Bài", "Mã bài", "Đăng lúc", "Mã bài trên nền tảng", "Bày tỏ cảm xúc",
               "Bình luận", "Chia sẻ", "Lượt xem", "Đọc lúc"],
              _streamed(r, rq.engagement_rows, lambda row: engagement_cells(engagement_from_row(c, row)),
                        [engagement_cells(e) for e in r.engagement])),
        Table("chi-so.csv", "Chỉ số theo thời gian", f"Số {label} theo thời gian: tỉnh và các đơn vị trực thuộc",
              ["Mã đơn vị", "Đơn vị", "Giai đoạn", "Thời điểm", f"Số {label} (cả nhánh)", "Chỉ tiêu", "% chỉ tiêu"],
              [[uid, names.get(uid, uid), phase, t, _n(v), _n(target), Pct(v * 100.0 / target if target else None)]
               for uid, phase, t, v, target in r.series]),
        Table("don-vi-can-nhac.csv", "Đơn vị cần nhắc", "Đơn vị chậm tiến độ và đơn vị im lặng",
              ["Mã đơn vị", "Đơn vị", "Cấp", "Lý do", f"Số {label}", "Chỉ tiêu", "% chỉ tiêu", "Bài gần nhất"],
              [[st.unit.id, st.unit.name, level_label(st.unit.level), "chậm tiến độ", _n(st.value),
                _n(st.unit.target), Pct(st.percent), st.last_sent] for st in r.lagging]
              + [[st.unit.id, st.unit.name, level_label(st.unit.level), f"không đăng bài {QUIET_DAYS} ngày",
                  _n(st.value), _n(st.unit.target), Pct(st.percent), st.last_sent or "chưa từng"]
                 for st in r.quiet]),
        Table("cot-moc.csv", "Cột mốc", "Các cột mốc đã đạt",
              ["Thời điểm", "Mã đơn vị", "Đơn vị", "Quy tắc", "Ngưỡng", f"Số {label}", "% chỉ tiêu", "Giai đoạn",
               "Đã thông báo", "Bài thông báo", "Số kênh đã đăng", "Số kênh cần đăng"],
              [[f.fired_at, f.unit_id, f.unit, f.rule_id, f.threshold, _n(f.value), Pct(f.percent),
                f.phase or "", "có" if f.announced else "không (vượt cùng lúc mốc cao hơn)", f.title or "",
                f.sent if f.planned else None, f.planned or None] for f in r.firings]),
    ]


def write_csvs(r: ReportData, out: Path) -> list[tuple[str, str]]:
    """Every table as a CSV file (for a Vietnamese-locale Excel, see bot.reports.exports) and all of them in one
    workbook; returns (file, description) for the page's list of files, the workbook first."""
    tz = r.campaign.tz
    tables = report_tables(r)
    for table in tables:
        write_table_csv(out / table.file, table.header, table.iter_rows(), tz)
    write_xlsx(out / XLSX_NAME, tables, tz, title=f"Báo cáo {r.campaign.config.name}")
    return [(XLSX_NAME, "Tất cả các bảng trong một tệp Excel (mỗi bảng một trang tính)")] + [
        (t.file, t.description) for t in tables
    ]


def write_report(r: ReportData, out: Path, notice: list[str] | None = None, alerts: dict | None = None) -> Path:
    """``index.html`` and the CSV files into ``out``. ``notice``: the folder's errors when the report runs on the
    last good version; ``alerts``: bot.alerts.alerts_data, shown in their own section (issue 11)."""
    from bot.alerts import STATE_LABELS, TYPE_LABELS

    out.mkdir(parents=True, exist_ok=True)
    copy_static(out)
    r.files = write_csvs(r, out)
    html = environment(r.campaign.tz).get_template("report.html").render(
        r=r, c=r.campaign.config, quiet_days=QUIET_DAYS, states=STATES, kind_label=kind_label,
        folder_notice=notice or [], **({"alerts": alerts} if alerts is not None else {}),
        alert_types=TYPE_LABELS, alert_states=STATE_LABELS,
    )
    atomic_write_text(out / "index.html", html)
    return out / "index.html"
