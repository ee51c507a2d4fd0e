"""Metric readings and their values over the unit tree.

A unit's value is its own latest reading plus the latest readings of every unit below it.
Readings come from CSV files (``unit,metric,value,at``) or a URL returning CSV or JSON; see
:func:`import_csv`, :func:`import_rows` and :func:`fetch_url`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.load import Campaign
from bot.store.models import MetricReading
from bot.vn import nfc, so


def latest_own(s: Session, metric: str, at: datetime | None = None) -> dict[str, float]:
    """Each unit's own latest reading of ``metric`` (at or before ``at``)."""
    sub = select(MetricReading.unit_id, func.max(MetricReading.at).label("at")).where(MetricReading.metric == metric)
    if at is not None:
        sub = sub.where(col(MetricReading.at) <= at)
    sub = sub.group_by(MetricReading.unit_id).subquery()
    rows = s.exec(
        select(MetricReading.unit_id, MetricReading.value)
        .join(sub, (MetricReading.unit_id == sub.c.unit_id) & (MetricReading.at == sub.c.at))
        .where(MetricReading.metric == metric)
    ).all()
    return {uid: float(v) for uid, v in rows}


def subtree_values(s: Session, campaign: Campaign, metric: str, at: datetime | None = None) -> dict[str, float]:
    """Every unit's value: its own latest reading plus those of all units below it."""
    own = latest_own(s, metric, at)
    children: dict[str, list[str]] = defaultdict(list)
    for u in campaign.units:
        if u.parent:
            children[u.parent].append(u.id)
    totals: dict[str, float] = {}

    def total(uid: str) -> float:
        if uid not in totals:
            totals[uid] = own.get(uid, 0.0) + sum(total(c) for c in children.get(uid, []))
        return totals[uid]

    for u in campaign.units:
        total(u.id)
    return totals


def metric_names(campaign: Campaign) -> list[str]:
    names = {rule.metric for rule in campaign.milestones.milestones}
    return sorted(names) or ["initiatives"]


def subtree_readings(
    s: Session, campaign: Campaign, metric: str, at: datetime | None = None
) -> dict[str, tuple[float, datetime | None]]:
    """Every unit's subtree value and the time of the newest reading that went into it."""
    own = latest_own_with_time(s, metric, at)
    children: dict[str, list[str]] = defaultdict(list)
    for u in campaign.units:
        if u.parent:
            children[u.parent].append(u.id)
    out: dict[str, tuple[float, datetime | None]] = {}

    def total(uid: str) -> tuple[float, datetime | None]:
        if uid not in out:
            value, when = own.get(uid, (0.0, None))
            for c in children.get(uid, []):
                cv, cw = total(c)
                value += cv
                if cw is not None and (when is None or cw > when):
                    when = cw
            out[uid] = (value, when)
        return out[uid]

    for u in campaign.units:
        total(u.id)
    return out


def latest_own_with_time(s: Session, metric: str, at: datetime | None = None) -> dict[str, tuple[float, datetime]]:
    """Like :func:`latest_own`, with the time of each unit's latest reading."""
    sub = select(MetricReading.unit_id, func.max(MetricReading.at).label("at")).where(MetricReading.metric == metric)
    if at is not None:
        sub = sub.where(col(MetricReading.at) <= at)
    sub = sub.group_by(MetricReading.unit_id).subquery()
    rows = s.exec(
        select(MetricReading.unit_id, MetricReading.value, MetricReading.at)
        .join(sub, (MetricReading.unit_id == sub.c.unit_id) & (MetricReading.at == sub.c.at))
        .where(MetricReading.metric == metric)
    ).all()
    return {uid: (float(v), _utc(when)) for uid, v, when in rows}


def main_metric(campaign: Campaign) -> str:
    """The metric that targets are set for: ``initiatives`` if any rule uses it, else the first."""
    names = metric_names(campaign)
    return "initiatives" if "initiatives" in names else names[0]


METRIC_LABELS = {"initiatives": "sáng kiến"}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# --- importing readings ---------------------------------------------------------------------
#
# A reading is one row ``unit,metric,value,at``: the unit's OWN count as of ``at`` (the units
# below it have rows of their own). Every row is checked on its own: a bad row is reported with
# its file and line and skipped, the good rows of the same file are kept. Readings are unique per
# (unit, metric, at), so importing the same file again changes nothing; a row with the same key
# and another value corrects the stored one.

REQUIRED_COLUMNS = ("unit", "value", "at")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_VN_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%H:%M %d/%m/%Y", "%d/%m/%Y", "%d-%m-%Y")


@dataclass(frozen=True)
class RowProblem:
    """A row (or a whole file) that could not be imported, with where it is and what to do."""

    file: str
    line: int | None
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.message}" + (f" → {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message, "fix": self.fix}


@dataclass
class ImportResult:
    source: str
    rows: int = 0  # data rows read (blank lines not counted)
    imported: int = 0  # new readings
    corrected: int = 0  # same unit, metric and time as a stored reading, another value: the stored one is corrected
    unchanged: int = 0  # already stored exactly so
    problems: list[RowProblem] = field(default_factory=list)
    skipped_unchanged_file: bool = False  # the file's content was imported before

    @property
    def skipped(self) -> int:
        return len([p for p in self.problems if p.line is not None])

    @property
    def changed(self) -> bool:
        return bool(self.imported or self.corrected)

    def summary(self) -> str:
        """One Vietnamese line: what was imported from where."""
        if self.skipped_unchanged_file:
            return f"{self.source}: không thay đổi từ lần nhập trước"
        parts = [f"{so(self.imported)} dòng mới"]
        if self.corrected:
            parts.append(f"{so(self.corrected)} dòng sửa số liệu cũ")
        if self.unchanged:
            parts.append(f"{so(self.unchanged)} dòng đã có")
        if self.problems:
            parts.append(f"{so(len(self.problems))} lỗi (bỏ qua)")
        return f"{self.source}: " + ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "imported": self.imported,
            "corrected": self.corrected,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "problem_count": len(self.problems),
            "problems": [p.as_dict() for p in self.problems],
            "unchanged_file": self.skipped_unchanged_file,
        }


@dataclass(frozen=True)
class Row:
    line: int | None  # line in a CSV file; for JSON the item's number (1-based)
    data: dict[str, Any]


def parse_timestamp(text: str, tz: ZoneInfo) -> datetime | None:
    """ISO 8601 (2026-11-20T17:00:00+07:00, 2026-11-20 17:00, 2026-11-20) or Vietnamese
    (20/11/2026 17:00). Times without a zone are in ``tz``. None if it is not a time."""
    text = text.strip()
    if not text:
        return None
    when: datetime | None = None
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        for fmt in _VN_FORMATS:
            try:
                when = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if when is None or not (2000 <= when.year <= 2100):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(UTC)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_value(raw: Any) -> tuple[float | None, str | None, str | None]:
    """(value, problem, fix) of a metric value."""
    if isinstance(raw, bool):
        return None, f"giá trị không phải là số: {raw!r}", "ghi một số, ví dụ 120"
    if isinstance(raw, int | float):
        number = float(raw)
    else:
        text = str(raw if raw is not None else "").strip().replace(" ", "").replace("\u00a0", "")
        if not text:
            return None, "thiếu giá trị", "ghi số (ví dụ 120) vào cột value"
        if re.fullmatch(r"\d{1,3}([.,]\d{3})+", text) or re.fullmatch(r"\d+,\d+", text):
            return (
                None,
                f"số '{text}' không rõ nghĩa (dấu chấm/phẩy là phân cách hàng nghìn hay phần thập phân?)",
                "ghi số không có dấu phân cách hàng nghìn, ví dụ 1200 (phần thập phân nếu có dùng dấu chấm: 12.5)",
            )
        if not _NUMBER.fullmatch(text):
            return None, f"giá trị không phải là số: '{text}'", "ghi một số, ví dụ 120"
        number = float(text)
    if not math.isfinite(number):
        return None, f"giá trị không hợp lệ: {raw!r}", "ghi một số, ví dụ 120"
    if number < 0:
        return None, f"giá trị âm: {so(number)}", "số liệu không thể âm; kiểm tra lại dòng này"
    return number, None, None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1258", errors="replace")  # Excel on a Vietnamese Windows


def parse_csv_text(text: str, source: str) -> tuple[list[Row], list[RowProblem]]:
    """Rows of a CSV text with header ``unit,metric,value,at`` (any order, extra columns ignored;
    ``,`` ``;`` or tab separated, as spreadsheets export)."""
    text = nfc(text.lstrip("\ufeff"))
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return [], [
            RowProblem(
                source, None, "tệp trống", "dòng đầu là tiêu đề unit,metric,value,at, mỗi dòng sau là một số liệu"
            )
        ]
    header_line = lines[first]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[Row] = []
    problems: list[RowProblem] = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                return [], [
                    RowProblem(
                        source,
                        line,
                        f"thiếu cột {', '.join(missing)} ở dòng tiêu đề",
                        "dòng đầu phải là: unit,metric,value,at",
                    )
                ]
            continue
        if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
            problems.append(
                RowProblem(
                    source,
                    line,
                    f"dòng có {len(record)} cột, tiêu đề có {len(header)}",
                    "kiểm tra dấu phẩy thừa (số có phần thập phân ghi bằng dấu chấm)",
                )
            )
            continue
        rows.append(Row(line, {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}))
    return rows, problems


def parse_json_text(text: str, source: str) -> tuple[list[Row], list[RowProblem]]:
    """Readings as JSON: a list of {unit, metric, value, at} or {"readings": [...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [RowProblem(source, exc.lineno, f"JSON không hợp lệ: {exc.msg}", None)]
    if isinstance(data, dict):
        data = next((data[k] for k in ("readings", "data", "items") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        return [], [RowProblem(source, None, "JSON phải là một danh sách các {unit, metric, value, at}", None)]
    rows, problems = [], []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            problems.append(RowProblem(source, i, "mục không phải là {unit, metric, value, at}", None))
            continue
        rows.append(Row(i, {str(k).strip().lower(): v for k, v in item.items()}))
    return rows, problems


def import_rows(s: Session, campaign: Campaign, rows: list[Row], source: str) -> ImportResult:
    """Check every row and store the valid ones (in the caller's transaction; never commits)."""
    result = ImportResult(source=source, rows=len(rows))
    default_metric = main_metric(campaign)
    tz = campaign.tz
    valid: dict[tuple[str, str, datetime], tuple[float, int | None]] = {}
    for row in rows:
        d = row.data
        unit = nfc(str(d.get("unit") or "").strip())
        metric = nfc(str(d.get("metric") or "").strip()) if "metric" in d else default_metric
        problem: tuple[str, str | None] | None = None
        if not unit:
            problem = ("thiếu mã đơn vị", "ghi mã đơn vị như trong config/units.yaml vào cột unit")
        elif unit not in campaign.unit_by_id:
            close = difflib.get_close_matches(unit.lower(), sorted(campaign.unit_by_id), n=1, cutoff=0.6)
            problem = (
                f"không có đơn vị '{unit}'",
                f"có phải ý bạn là '{close[0]}'?" if close else "dùng một mã có trong config/units.yaml",
            )
        elif not metric:
            problem = ("thiếu tên chỉ số", f"ghi tên chỉ số vào cột metric, ví dụ {default_metric}")
        if problem is None:
            value, message, fix = parse_value(d.get("value"))
            if value is None:
                problem = (message or "giá trị không hợp lệ", fix)
        if problem is None:
            raw_at = d.get("at")
            when = parse_timestamp(str(raw_at), tz) if isinstance(raw_at, str) and raw_at.strip() else None
            if when is None:
                problem = (
                    f"thời điểm không hợp lệ: '{raw_at}'" if raw_at not in (None, "") else "thiếu thời điểm",
                    "ghi như 2026-11-20T17:00:00+07:00, 2026-11-20 17:00 hoặc 20/11/2026 17:00 (giờ Việt Nam)",
                )
        if problem is not None:
            result.problems.append(RowProblem(source, row.line, *problem))
            continue
        key = (unit, metric, when)  # type: ignore[arg-type]
        if key in valid:
            earlier_value, earlier_line = valid[key]
            if earlier_value != value:
                result.problems.append(
                    RowProblem(
                        source,
                        row.line,
                        f"trùng đơn vị, chỉ số và thời điểm với dòng {earlier_line} nhưng khác số liệu",
                        "giữ một dòng cho mỗi đơn vị và thời điểm",
                    )
                )
            else:
                result.unchanged += 1
            continue
        valid[key] = (value, row.line)  # type: ignore[assignment]

    if not valid:
        return result
    stored: dict[tuple[str, str, datetime], MetricReading] = {}
    units = sorted({k[0] for k in valid})
    metrics = sorted({k[1] for k in valid})
    for i in range(0, len(units), 500):
        for reading in s.exec(
            select(MetricReading).where(
                col(MetricReading.unit_id).in_(units[i : i + 500]), col(MetricReading.metric).in_(metrics)
            )
        ).all():
            stored[(reading.unit_id, reading.metric, _utc(reading.at))] = reading
    stamp = datetime.now(UTC)  # the real moment of the import (also under simulated time)
    for (unit, metric, when), (value, _line) in valid.items():
        existing = stored.get((unit, metric, when))
        if existing is None:
            s.add(MetricReading(unit_id=unit, metric=metric, value=value, at=when, source=source, imported_at=stamp))
            result.imported += 1
        elif existing.value != value:
            existing.value, existing.source, existing.imported_at = value, source, stamp
            s.add(existing)
            result.corrected += 1
        else:
            result.unchanged += 1
    s.flush()
    return result


def file_label(path: Path, workspace: Path) -> str:
    """The path as the staff know it: relative to the campaign folder when inside it."""
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return str(path)


def import_csv(
    s: Session, campaign: Campaign, path: Path, label: str | None = None, data: bytes | None = None
) -> ImportResult:
    """Import one CSV file (or a ``.json`` file of readings); ``data`` is its content if already read."""
    label = label or file_label(path, campaign.workspace)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return ImportResult(source=label, problems=[RowProblem(label, None, f"không đọc được tệp: {exc.strerror}")])
    text = _decode(data)
    if path.suffix.lower() == ".json":
        rows, problems = parse_json_text(text, label)
    else:
        rows, problems = parse_csv_text(text, label)
    result = import_rows(s, campaign, rows, label)
    result.problems = sorted(problems + result.problems, key=lambda p: p.line or 0)
    return result


class FetchError(Exception):
    """The metric URL could not be read (the message is Vietnamese, without secrets)."""


def fetch_url(url: str, *, fmt: str | None = None, token: str | None = None, timeout: float = 15.0) -> tuple[str, str]:
    """GET the metric URL; return (text, "csv" | "json"). Raises :class:`FetchError`."""
    import requests

    headers = {"Accept": "text/csv, application/json;q=0.9, */*;q=0.1", "User-Agent": "campaign-bot"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    shown = url.split("?", 1)[0]
    try:
        response = requests.get(url, headers=headers, timeout=(min(timeout, 5.0), timeout))
    except requests.Timeout:
        raise FetchError(f"quá thời gian chờ khi đọc {shown} ({so(timeout)} giây)") from None
    except requests.RequestException as exc:
        raise FetchError(f"không kết nối được {shown}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise FetchError(f"{shown} trả về mã HTTP {response.status_code}")
    text = _decode(response.content)
    if fmt is None:
        ctype = response.headers.get("Content-Type", "").lower()
        head = text.lstrip()[:1]
        fmt = "json" if "json" in ctype or head in ("[", "{") else "csv"
    return text, fmt


def parse_text(text: str, fmt: str, source: str) -> tuple[list[Row], list[RowProblem]]:
    return parse_json_text(text, source) if fmt == "json" else parse_csv_text(text, source)
