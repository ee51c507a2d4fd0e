"""Importing readings from CSV or JSON files and URLs: every row checked on its own."""

from __future__ import annotations

import bisect
import csv
import difflib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot import bounds
from bot.errors import BotError
from bot.load import Campaign, MetricConfig
from bot.metrics.values import (
    STATUS_HELD,
    STATUS_OK,
    _utc,
    main_metric,
    metric_configs,
)
from bot.store.models import MetricReading
from bot.vn import nfc, ngay_gio, so

# --- importing readings ---------------------------------------------------------------------
#
# A reading is one row ``unit,metric,value,at``: the unit's OWN count as of ``at`` (the units
# below it have rows of their own). Every row is checked on its own: a bad row is reported with
# its file and line and skipped, the good rows of the same file are kept. Readings are unique per
# (unit, metric, at), so importing the same file again changes nothing; a row with the same key
# and another value corrects the stored one.
#
# Bounds (bot.bounds): a value is finite, not negative, at most the metric's ``max`` and
# ``target_factor`` × the unit's target; a time is not in the future beyond a small tolerance. A
# value more than ``jump_factor`` × the unit's last reading is stored as ``held``: it counts for
# nothing until a person runs `campaign-bot metrics confirm` (or `metrics drop`).

REQUIRED_COLUMNS = ("unit", "value", "at")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?")  # the text is cut to 200 characters first
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
    held: list[RowProblem] = field(default_factory=list)  # stored, waiting for `metrics confirm`
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
        if self.held:
            parts.append(f"{so(len(self.held))} dòng tăng đột biến chờ xác nhận")
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
            "held": [p.as_dict() for p in self.held],
            "unchanged_file": self.skipped_unchanged_file,
        }


@dataclass(frozen=True)
class Row:
    line: int | None  # line in a CSV file; for JSON the item's number (1-based)
    data: dict[str, Any]


def parse_timestamp(text: str, tz: ZoneInfo) -> datetime | None:
    """ISO 8601 (2026-11-20T17:00:00+07:00, 2026-11-20 17:00, 2026-11-20) or Vietnamese
    (20/11/2026 17:00). Times without a zone are in ``tz``. None if it is not a time."""
    text = text.strip()[:64]
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
    if when is None or not (bounds.DATE_MIN.year <= when.year <= bounds.DATE_MAX.year):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(UTC)


def parse_value(raw: Any) -> tuple[float | None, str | None, str | None]:
    """(value, problem, fix) of a metric value: a finite, non-negative number below the absolute
    ceiling of bot.bounds (the campaign's own ceilings are checked by :func:`check_row`)."""
    if isinstance(raw, bool):
        return None, f"giá trị không phải là số: {raw!r}", "ghi một số, ví dụ 120"
    if isinstance(raw, int | float):
        try:
            number = float(raw)
        except OverflowError:  # a JSON integer with hundreds of digits
            number = math.inf
    else:
        text = str(raw if raw is not None else "")[:200].strip().replace(" ", "").replace("\u00a0", "")
        if not text:
            return None, "thiếu giá trị", "ghi số (ví dụ 120) vào cột value"
        if re.fullmatch(r"\d{1,3}([.,]\d{3})+", text) or re.fullmatch(r"\d+,\d+", text):
            return (
                None,
                f"số '{text}' không rõ nghĩa (dấu chấm/phẩy là phân cách hàng nghìn hay phần thập phân?)",
                "ghi số không có dấu phân cách hàng nghìn, ví dụ 1200 (phần thập phân nếu có dùng dấu chấm: 12.5)",
            )
        if not _NUMBER.fullmatch(text):
            return None, f"giá trị không phải là số: '{text[:40]}'", "ghi một số, ví dụ 120"
        number = float(text)
    if not math.isfinite(number):
        return None, f"giá trị không hợp lệ: {str(raw)[:40]!r}", "ghi một số, ví dụ 120"
    if number < 0:
        return None, f"giá trị âm: {so(number)}", "số liệu không thể âm; kiểm tra lại dòng này"
    if number > bounds.METRIC_VALUE_MAX:
        return (
            None,
            f"giá trị quá lớn: {str(raw)[:40]} (tối đa {so(bounds.METRIC_VALUE_MAX)})",
            "kiểm tra lại số liệu (có thể thừa chữ số)",
        )
    return number, None, None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1258", errors="replace")  # Excel on a Vietnamese Windows


def parse_csv_text(text: str, source: str) -> tuple[list[Row], list[RowProblem]]:
    """Rows of a CSV text with header ``unit,metric,value,at`` (any order, extra columns ignored;
    ``,`` ``;`` or tab separated, as spreadsheets export).

    Each line is parsed on its own (a metric row never spans lines), so an unclosed quote or an
    overlong field is that row's error and the rows after it are still read — a whole-file reader
    swallowed the rest of the file into one field and aborted the tick with ``_csv.Error``."""
    text = nfc(text.lstrip("\ufeff"))
    lines = text.splitlines()
    problems: list[RowProblem] = []
    if len(lines) > bounds.CSV_ROWS_MAX + 1:
        problems.append(RowProblem(source, bounds.CSV_ROWS_MAX + 2,
                                   f"tệp có {so(len(lines))} dòng, chỉ đọc {so(bounds.CSV_ROWS_MAX)} dòng đầu",
                                   "tách số liệu thành nhiều tệp"))
        lines = lines[: bounds.CSV_ROWS_MAX + 1]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return [], [
            RowProblem(
                source, None, "tệp trống", "dòng đầu là tiêu đề unit,metric,value,at, mỗi dòng sau là một số liệu"
            )
        ]
    header_line = lines[first][: bounds.CSV_LINE_MAX]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    header: list[str] | None = None
    rows: list[Row] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if len(raw) > bounds.CSV_LINE_MAX:
            problems.append(RowProblem(source, number, f"dòng dài {so(len(raw))} ký tự (tối đa {so(bounds.CSV_LINE_MAX)})",
                                       "mỗi dòng chỉ gồm unit,metric,value,at; kiểm tra dấu ngoặc kép bị thiếu"))
            continue
        try:
            record = next(csv.reader([raw], delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration) as exc:
            problems.append(RowProblem(source, number, f"dòng CSV không đọc được ({exc})",
                                       "kiểm tra dấu ngoặc kép: mỗi dấu \" mở phải có dấu \" đóng trên cùng dòng"))
            continue
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                return [], [
                    RowProblem(
                        source,
                        number,
                        f"thiếu cột {', '.join(missing)} ở dòng tiêu đề",
                        "dòng đầu phải là: unit,metric,value,at",
                    )
                ]
            continue
        if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
            problems.append(
                RowProblem(
                    source,
                    number,
                    f"dòng có {len(record)} cột, tiêu đề có {len(header)}",
                    "kiểm tra dấu phẩy thừa (số có phần thập phân ghi bằng dấu chấm)",
                )
            )
            continue
        rows.append(Row(number, {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}))
    return rows, problems


def _json_depth_ok(text: str) -> bool:
    """Nesting of brackets stays within bounds (json.loads recurses: a deep file is a RecursionError)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > bounds.JSON_DEPTH_MAX:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_json_text(text: str, source: str) -> tuple[list[Row], list[RowProblem]]:
    """Readings as JSON: a list of {unit, metric, value, at} or {"readings": [...]}."""
    if not _json_depth_ok(text):
        return [], [RowProblem(source, None, f"JSON lồng nhau quá sâu (hơn {bounds.JSON_DEPTH_MAX} tầng)",
                               "trả về một danh sách phẳng các {unit, metric, value, at}")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [RowProblem(source, exc.lineno, f"JSON không hợp lệ: {exc.msg}", None)]
    except (ValueError, RecursionError) as exc:  # an integer of more than 4.300 digits
        return [], [RowProblem(source, None, f"JSON không đọc được: {str(exc)[:100]}", None)]
    if isinstance(data, dict):
        data = next((data[k] for k in ("readings", "data", "items") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        return [], [RowProblem(source, None, "JSON phải là một danh sách các {unit, metric, value, at}", None)]
    rows, problems = [], []
    for i, item in enumerate(data[: bounds.CSV_ROWS_MAX], start=1):
        if not isinstance(item, dict):
            problems.append(RowProblem(source, i, "mục không phải là {unit, metric, value, at}", None))
            continue
        rows.append(Row(i, {str(k).strip().lower()[:40]: v for k, v in list(item.items())[:20]}))
    return rows, problems


def ceiling(campaign: Campaign, config: MetricConfig | None, unit_id: str) -> tuple[float, str]:
    """The largest plausible reading of a unit, and where that limit comes from (for the message).

    ``target_factor`` × the unit's target (or its nearest ancestor's), never above the metric's
    ``max`` nor the absolute bound."""
    limit, why = float(bounds.METRIC_VALUE_MAX), f"giới hạn chung {so(bounds.METRIC_VALUE_MAX)}"
    if config is not None and config.max is not None and config.max < limit:
        limit, why = config.max, f"max: {so(config.max)} của chỉ số {config.name}"
    factor = config.target_factor if config is not None else bounds.METRIC_TARGET_FACTOR
    uid: str | None = unit_id
    seen: set[str] = set()
    while uid is not None and uid in campaign.unit_by_id and uid not in seen:
        seen.add(uid)
        unit = campaign.unit_by_id[uid]
        if unit.target:
            by_target = unit.target * factor
            if by_target < limit:
                where = "đơn vị" if uid == unit_id else f"đơn vị cấp trên {uid}"
                limit, why = by_target, f"{so(factor, 1 if factor % 1 else 0)} × chỉ tiêu {so(unit.target)} của {where}"
            break
        uid = unit.parent
    return limit, why


def check_row(
    campaign: Campaign, row: Row, now: datetime | None, default_metric: str, declared: dict[str, MetricConfig]
) -> tuple[tuple[str, str, datetime, float] | None, tuple[str, str | None] | None]:
    """((unit, metric, at, value), None) for a good row, (None, (problem, fix)) for a bad one."""
    d = row.data
    unit = nfc(str(d.get("unit") or "")[:200].strip())
    metric = nfc(str(d.get("metric") or "")[:200].strip()) if "metric" in d else default_metric
    if not unit:
        return None, ("thiếu mã đơn vị", "ghi mã đơn vị như trong config/units.yaml vào cột unit")
    if unit not in campaign.unit_by_id:
        close = difflib.get_close_matches(unit.lower()[: bounds.ID_MAX], sorted(campaign.unit_by_id), n=1, cutoff=0.6)
        return None, (
            f"không có đơn vị '{unit[:80]}'",
            f"có phải ý bạn là '{close[0]}'?" if close else "dùng một mã có trong config/units.yaml",
        )
    if not metric:
        return None, ("thiếu tên chỉ số", f"ghi tên chỉ số vào cột metric, ví dụ {default_metric}")
    if declared and metric not in declared:
        close = difflib.get_close_matches(metric.lower()[: bounds.ID_MAX], sorted(declared), n=1, cutoff=0.5)
        return None, (
            f"không có chỉ số '{metric[:80]}'",
            f"có phải ý bạn là '{close[0]}'?" if close
            else f"dùng một chỉ số khai báo trong metrics: của config/campaign.yaml ({', '.join(sorted(declared))})",
        )
    value, message, fix = parse_value(d.get("value"))
    if value is None:
        return None, (message or "giá trị không hợp lệ", fix)
    limit, why = ceiling(campaign, declared.get(metric), unit)
    if value > limit:
        return None, (
            f"giá trị {so(value)} vượt mức hợp lý ({why})",
            "kiểm tra lại số liệu; nếu đúng, tăng target_factor hoặc max của chỉ số trong config/campaign.yaml",
        )
    raw_at = d.get("at")
    when = parse_timestamp(str(raw_at), campaign.tz) if isinstance(raw_at, str) and raw_at.strip() else None
    if when is None:
        shown = str(raw_at)[:40]
        return None, (
            f"thời điểm không hợp lệ: '{shown}'" if raw_at not in (None, "") else "thiếu thời điểm",
            "ghi như 2026-11-20T17:00:00+07:00, 2026-11-20 17:00 hoặc 20/11/2026 17:00 (giờ Việt Nam)",
        )
    if now is not None and when > now + bounds.METRIC_FUTURE_TOLERANCE:
        return None, (
            f"thời điểm {ngay_gio(when, campaign.tz)} nằm trong tương lai",
            "số liệu chỉ ghi cho thời điểm đã qua; kiểm tra lại năm, tháng, ngày",
        )
    return (unit, metric, when, value), None


def validate_rows(
    campaign: Campaign, rows: list[Row], source: str, now: datetime | None
) -> tuple[dict[tuple[str, str, datetime], tuple[float, int | None]], list[RowProblem], int]:
    """The good readings (key → value, line), the problems, and the number of exact repeats."""
    default_metric = main_metric(campaign)
    declared = metric_configs(campaign)
    valid: dict[tuple[str, str, datetime], tuple[float, int | None]] = {}
    problems: list[RowProblem] = []
    repeats = 0
    for row in rows:
        good, problem = check_row(campaign, row, now, default_metric, declared)
        if good is None:
            assert problem is not None
            problems.append(RowProblem(source, row.line, *problem))
            continue
        unit, metric, when, value = good
        key = (unit, metric, when)
        if key in valid:
            earlier_value, earlier_line = valid[key]
            if earlier_value != value:
                problems.append(
                    RowProblem(
                        source,
                        row.line,
                        f"trùng đơn vị, chỉ số và thời điểm với dòng {earlier_line} nhưng khác số liệu",
                        "giữ một dòng cho mỗi đơn vị và thời điểm",
                    )
                )
            else:
                repeats += 1
            continue
        valid[key] = (value, row.line)
    return valid, problems, repeats


def _jump(
    timeline: list[tuple[datetime, float]], when: datetime, value: float, factor: float
) -> float | None:
    """The previous counted reading if ``value`` jumps suspiciously above it, else None."""
    i = bisect.bisect_left(timeline, (when, -math.inf))
    if i == 0:
        return None
    previous = timeline[i - 1][1]
    if previous > 0 and value > previous * factor and value - previous >= bounds.METRIC_JUMP_MIN:
        return previous
    return None


def import_rows(s: Session, campaign: Campaign, rows: list[Row], source: str, now: datetime | None = None) -> ImportResult:
    """Check every row and store the valid ones (in the caller's transaction; never commits)."""
    result = ImportResult(source=source, rows=len(rows))
    valid, problems, result.unchanged = validate_rows(campaign, rows, source, now)
    result.problems.extend(problems)
    if not valid:
        return result
    declared = metric_configs(campaign)
    stored: dict[tuple[str, str, datetime], MetricReading] = {}
    timelines: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    units = sorted({k[0] for k in valid})
    metrics = sorted({k[1] for k in valid})
    for i in range(0, len(units), 500):
        for reading in s.exec(
            select(MetricReading).where(
                col(MetricReading.unit_id).in_(units[i : i + 500]), col(MetricReading.metric).in_(metrics)
            )
        ).all():
            key = (reading.unit_id, reading.metric, _utc(reading.at))
            stored[key] = reading
            if reading.status == STATUS_OK and math.isfinite(reading.value):
                timelines[(reading.unit_id, reading.metric)].append((key[2], reading.value))
    for timeline in timelines.values():
        timeline.sort()
    stamp = datetime.now(UTC)  # the real moment of the import (also under simulated time)
    for (unit, metric, when), (value, line) in sorted(valid.items()):
        existing = stored.get((unit, metric, when))
        if existing is not None and existing.value == value:
            result.unchanged += 1  # also a dropped reading stays dropped
            continue
        config = declared.get(metric)
        timeline = timelines[(unit, metric)]
        previous = _jump(timeline, when, value, config.jump_factor if config else bounds.METRIC_JUMP_FACTOR)
        status, note = STATUS_OK, None
        if previous is not None:
            status = STATUS_HELD
            note = f"tăng đột biến từ {so(previous)} lên {so(value)}"
            local = when.astimezone(campaign.tz).strftime("%Y-%m-%dT%H:%M")
            result.held.append(
                RowProblem(
                    source,
                    line,
                    f"{unit}: {note} — chưa tính, chờ người xác nhận",
                    f"nếu đúng: campaign-bot metrics confirm {unit} {local} --metric {metric}; "
                    f"nếu sai: sửa tệp hoặc campaign-bot metrics drop {unit} {local} --metric {metric}",
                )
            )
        else:
            bisect.insort(timeline, (when, value))
        if existing is None:
            s.add(MetricReading(unit_id=unit, metric=metric, value=value, at=when, source=source,
                                imported_at=stamp, status=status, note=note))
            result.imported += 1
        else:
            existing.value, existing.source, existing.imported_at = value, source, stamp
            existing.status, existing.note, existing.reviewed_by, existing.reviewed_at = status, note, None, None
            s.add(existing)
            result.corrected += 1
    s.flush()
    return result


def file_label(path: Path, workspace: Path) -> str:
    """The path as the staff know it: relative to the campaign folder when inside it."""
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return str(path)


def read_source_file(path: Path, label: str) -> tuple[bytes | None, RowProblem | None]:
    """The bytes of a metric file, refused when over the size bound (read no further)."""
    try:
        with path.open("rb") as f:
            data = f.read(bounds.CSV_FILE_BYTES_MAX + 1)
    except OSError as exc:
        return None, RowProblem(label, None, f"không đọc được tệp: {exc.strerror or type(exc).__name__}")
    if len(data) > bounds.CSV_FILE_BYTES_MAX:
        return None, RowProblem(label, None, f"tệp quá lớn (tối đa {so(bounds.CSV_FILE_BYTES_MAX // 1_000_000)} MB)",
                                "tách số liệu thành nhiều tệp")
    return data, None


def parse_file(path: Path, label: str, data: bytes) -> tuple[list[Row], list[RowProblem]]:
    text = _decode(data)
    if path.suffix.lower() == ".json":
        return parse_json_text(text, label)
    return parse_csv_text(text, label)


def import_csv(
    s: Session, campaign: Campaign, path: Path, label: str | None = None, data: bytes | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import one CSV file (or a ``.json`` file of readings); ``data`` is its content if already read."""
    label = label or file_label(path, campaign.workspace)
    if data is None:
        data, problem = read_source_file(path, label)
        if data is None:
            return ImportResult(source=label, problems=[problem] if problem else [])
    rows, problems = parse_file(path, label, data)
    result = import_rows(s, campaign, rows, label, now)
    result.problems = sorted(problems + result.problems, key=lambda p: p.line or 0)
    return result


def check_files(campaign: Campaign, paths: list[Path], now: datetime | None = None) -> list[RowProblem]:
    """What `campaign-bot check` says about the metric files: every row checked, nothing stored."""
    out: list[RowProblem] = []
    for path in paths:
        label = file_label(path, campaign.workspace)
        if not path.resolve().is_relative_to(campaign.workspace.resolve()):
            out.append(RowProblem(label, None, "tệp số liệu là liên kết tới ngoài thư mục chiến dịch",
                                  "chép tệp vào data/ thay cho liên kết"))
            continue
        data, problem = read_source_file(path, label)
        if data is None:
            out.extend([problem] if problem else [])
            continue
        rows, problems = parse_file(path, label, data)
        _valid, more, _ = validate_rows(campaign, rows, label, now)
        out.extend(sorted(problems + more, key=lambda p: p.line or 0))
    return out


class FetchError(BotError):
    """The metric URL could not be read (the message is Vietnamese, without secrets)."""


def fetch_url(url: str, *, fmt: str | None = None, token: str | None = None, timeout: float = 15.0) -> tuple[str, str]:
    """GET the metric URL; return (text, "csv" | "json"). Raises :class:`FetchError`.
    The body is read up to the size bound of a metric file, no further."""
    import requests

    headers = {"Accept": "text/csv, application/json;q=0.9, */*;q=0.1", "User-Agent": "campaign-bot"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    shown = url.split("?", 1)[0]
    try:
        with requests.get(url, headers=headers, timeout=(min(timeout, 5.0), timeout), stream=True) as response:
            if response.status_code != 200:
                raise FetchError(f"{shown} trả về mã HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > bounds.CSV_FILE_BYTES_MAX:
                    raise FetchError(f"{shown} trả về quá nhiều dữ liệu (hơn {so(bounds.CSV_FILE_BYTES_MAX // 1_000_000)} MB)")
            ctype = response.headers.get("Content-Type", "").lower()
    except requests.Timeout:
        raise FetchError(f"quá thời gian chờ khi đọc {shown} ({so(timeout)} giây)") from None
    except requests.RequestException as exc:
        raise FetchError(f"không kết nối được {shown}: {type(exc).__name__}") from None
    text = _decode(b"".join(chunks))
    if fmt is None:
        head = text.lstrip()[:1]
        fmt = "json" if "json" in ctype or head in ("[", "{") else "csv"
    return text, fmt


def parse_text(text: str, fmt: str, source: str) -> tuple[list[Row], list[RowProblem]]:
    return parse_json_text(text, source) if fmt == "json" else parse_csv_text(text, source)


