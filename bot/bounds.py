"""Every limit on what the campaign files, metric data, images and options may hold — declared once.

Why: staff edit these files by hand and a campaign repository may be shared, so a careless or
hostile value must be refused at load (``campaign-bot check``) with a Vietnamese message naming the
file, the line and the fix — never discovered later by ``sync`` or a tick (an ``OverflowError`` on
a year 9999, ``ENAMETOOLONG`` on a 300-character unit id, 1 GB of memory for a 100 KB title).
Whatever passes these bounds must pass ``sync`` and every tick: the property test in
``tests/test_hostile.py`` generates campaigns at the edges of each bound and runs them.

The pydantic types below carry their Vietnamese message in the ``message | fix: …`` form that
``bot.yamlfile`` turns into a :class:`~bot.yamlfile.Problem`.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from bot.vn import so

# --- text lengths (characters, after NFC) ---------------------------------------------------

ID_MAX = 64  # unit, schedule, milestone, banner ids: file names under outbox/ and in URLs
NAME_MAX = 200  # unit and campaign names
SHORT_TEXT_MAX = 300  # titles, slogans, phase names, hashtags, approved_by
SUMMARY_MAX = 1_000  # a story's summary (drawn on its banner)
BODY_MAX = 20_000  # a post's text; Facebook accepts 63.206 characters, Zalo articles less
MESSAGE_MAX = 2_000  # a milestone message template
TAG_MAX = 50
PATH_MAX = 200  # a relative path written in a file (images, the metric folder)
URL_MAX = 2_000
ACCOUNT_ID_MAX = 64  # page_id, oa_id
LIST_MAX = 50  # hashtags, tags, images, phases, thresholds, kinds per item
SLOGANS_MAX = 200

# --- counts per campaign ----------------------------------------------------------------------

UNITS_MAX = 5_000
SCHEDULES_MAX = 200
STORIES_MAX = 20_000
MILESTONES_MAX = 500
METRICS_MAX = 50

# --- numbers ------------------------------------------------------------------------------------

TARGET_MAX = 1_000_000_000  # a unit's target (well inside SQLite's 64-bit INTEGER)
PRIORITY_MIN, PRIORITY_MAX = -1_000, 1_000
THRESHOLD_MAX = 1_000_000_000  # an absolute milestone threshold
PERCENT_MAX = 10_000  # "10000%" of a target
DAILY_CAP_MAX = 50

# --- dates ----------------------------------------------------------------------------------------
# Wide enough for any real campaign, narrow enough that "+ 1 day" or a timezone shift never
# leaves Python's date range (the year 9999 crashed every tick).

DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2100, 12, 31)

# --- files ------------------------------------------------------------------------------------

YAML_FILE_BYTES_MAX = 5_000_000  # a federation's thousand-unit units.yaml is about 300 KB
STORY_FILE_BYTES_MAX = 1_000_000
YAML_DEPTH_MAX = 40  # nesting of mappings and lists
YAML_NODES_MAX = 500_000
YAML_ALIAS_BUDGET = 10_000  # extra nodes that aliases (*name) may add when expanded
ENV_FILE_BYTES_MAX = 1_000_000

# --- metric data ----------------------------------------------------------------------------------

CSV_FILE_BYTES_MAX = 20_000_000
CSV_LINE_MAX = 4_096  # characters in one line of a metric CSV
CSV_ROWS_MAX = 200_000
JSON_DEPTH_MAX = 20
METRIC_VALUE_MAX = 1_000_000_000  # absolute ceiling of any reading, whatever the campaign says
METRIC_TARGET_FACTOR = 10.0  # default: a reading above 10 × the unit's target is refused
METRIC_JUMP_FACTOR = 3.0  # default: a reading above 3 × the unit's last one is held for a person
METRIC_JUMP_MIN = 50.0  # … unless it rises by less than this (small numbers jump easily)
METRIC_FUTURE_TOLERANCE = timedelta(hours=1)  # clocks differ a little; a reading dated 2099 does not count now

# --- images ---------------------------------------------------------------------------------------

IMAGE_BYTES_MAX = 20_000_000
IMAGE_SIDE_MAX = 10_000  # pixels, either side
IMAGE_PIXELS_MAX = 40_000_000  # width × height; Pillow's decompression-bomb limit is set to this
IMAGE_REDUCE_SIDE = 1_600  # larger logos and backgrounds are reduced once to this and cached
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")

# --- schedules and reports ---------------------------------------------------------------------

SLOT_MIN_MINUTES = 60  # at most one slot per channel per hour
PREVIEW_DAYS_MAX = 62
REPORT_DAYS_MAX = 1_100  # a three-year programme


def _too_long(what: str, limit: int, length: int) -> ValueError:
    return ValueError(f"{what} dài {so(length)} ký tự, tối đa {so(limit)} | fix: rút gọn {what} còn tối đa {so(limit)} ký tự")


def max_len(limit: int, what: str) -> AfterValidator:
    """A string (or list) of at most ``limit`` characters (items)."""

    def check(v: Any) -> Any:
        if v is not None and len(v) > limit:
            if isinstance(v, list):
                raise ValueError(f"{what} có {len(v)} mục, tối đa {limit} | fix: bớt còn tối đa {limit} mục")
            raise _too_long(what, limit, len(v))
        return v

    return AfterValidator(check)


def _each_len(limit: int, what: str) -> AfterValidator:
    def check(v: list[Any] | None) -> list[Any] | None:
        for item in v or []:
            if isinstance(item, str) and len(item) > limit:
                raise _too_long(what, limit, len(item))
        return v

    return AfterValidator(check)


def int_range(lo: int, hi: int, what: str) -> AfterValidator:
    def check(v: int | None) -> int | None:
        if v is not None and not lo <= v <= hi:
            shown = so(v) if abs(v) < 10**18 else f"{str(v)[:12]}… ({len(str(v))} chữ số)"
            raise ValueError(
                f"{what} {shown} ngoài khoảng cho phép ({so(lo)} – {so(hi)}) | fix: ghi {what} trong khoảng {so(lo)} đến {so(hi)}"
            )
        return v

    return AfterValidator(check)


def _strict_int(v: Any) -> Any:
    """Refuse 1e30 (a float) and "10" before pydantic coerces them; big ints are refused by the range."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("số không hợp lệ | fix: ghi một số nguyên, ví dụ 3000")
    return v


def date_range(what: str) -> AfterValidator:
    def check(v: date | datetime | None) -> date | datetime | None:
        if v is None:
            return v
        day = v.date() if isinstance(v, datetime) else v
        if not DATE_MIN <= day <= DATE_MAX:
            raise ValueError(
                f"{what} {day.strftime('%d/%m/%Y') if day.year >= 1000 else day.isoformat()} ngoài khoảng cho phép "
                f"({DATE_MIN:%d/%m/%Y} – {DATE_MAX:%d/%m/%Y}) | fix: kiểm tra lại năm, ví dụ 2026-12-01"
            )
        return v

    return AfterValidator(check)


# Ready-made field types for bot.load's models.
Id = Annotated[str, max_len(ID_MAX, "mã")]
OptId = Annotated[str | None, max_len(ID_MAX, "mã")]
Name = Annotated[str, max_len(NAME_MAX, "tên")]
OptName = Annotated[str | None, max_len(NAME_MAX, "tên")]
ShortText = Annotated[str, max_len(SHORT_TEXT_MAX, "nội dung")]
Title = Annotated[str, max_len(SHORT_TEXT_MAX, "tiêu đề")]
OptShortText = Annotated[str | None, max_len(SHORT_TEXT_MAX, "nội dung")]
Summary = Annotated[str | None, max_len(SUMMARY_MAX, "tóm tắt")]
Message = Annotated[str, max_len(MESSAGE_MAX, "lời nhắn")]
RelPath = Annotated[str, max_len(PATH_MAX, "đường dẫn")]
OptRelPath = Annotated[str | None, max_len(PATH_MAX, "đường dẫn")]
Url = Annotated[str | None, max_len(URL_MAX, "địa chỉ")]
AccountId = Annotated[str | None, max_len(ACCOUNT_ID_MAX, "mã tài khoản")]
Target = Annotated[int | None, BeforeValidator(_strict_int), int_range(0, TARGET_MAX, "chỉ tiêu")]
Priority = Annotated[int, BeforeValidator(_strict_int), int_range(PRIORITY_MIN, PRIORITY_MAX, "độ ưu tiên")]
DailyCap = Annotated[int | None, BeforeValidator(_strict_int), int_range(1, DAILY_CAP_MAX, "số bài tối đa mỗi ngày")]
Day = Annotated[date, date_range("ngày")]
Moment = Annotated[date | datetime | None, date_range("ngày")]


def short_list(limit: int, item_limit: int, what: str) -> tuple[AfterValidator, AfterValidator]:
    """Validators for a list of at most ``limit`` strings of at most ``item_limit`` characters."""
    return max_len(limit, what), _each_len(item_limit, what)


def body_problem(body: str) -> tuple[str, str] | None:
    """(message, fix) if a story's text is too long."""
    length = len(body.strip())
    if length > BODY_MAX:
        return (
            f"nội dung bài dài {so(length)} ký tự, tối đa {so(BODY_MAX)}",
            "rút gọn bài hoặc tách thành nhiều bài",
        )
    return None


def cron_min_gap(expr: str) -> timedelta | None:
    """The shortest time between two slots of a 5-field cron expression (None: at most one a day).

    Only the minute and hour fields decide how close two slots of one day can be, so two days of
    a daily version are enough (the second catches 23:50 → 00:10); stops at the first gap too small,
    so ``* * * * *`` costs two steps, not 1.440."""
    from datetime import UTC

    from apscheduler.triggers.cron import CronTrigger

    minute, hour = expr.split()[:2]
    trigger = CronTrigger.from_crontab(f"{minute} {hour} * * *", timezone="UTC")
    start = datetime(2026, 1, 5, tzinfo=UTC)
    end = start + timedelta(days=2)
    shortest: timedelta | None = None
    previous = None
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment < end:
        if previous is not None:
            gap = moment - previous
            shortest = gap if shortest is None else min(shortest, gap)
            if shortest < timedelta(minutes=SLOT_MIN_MINUTES):
                break
        previous = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return shortest


def cron_fire_minutes(expr: str, timezone: str, days: int = 35) -> list[int]:
    """The slots of a cron expression over ``days`` days from a fixed Monday, as minutes since
    then (sorted): enough to compare two schedules that post to the same channel."""
    from datetime import UTC

    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expr, timezone=timezone)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    end = start + timedelta(days=days)
    out: list[int] = []
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment < end and len(out) < days * 24 * 60 // SLOT_MIN_MINUTES + 1:
        out.append(int((moment - start).total_seconds() // 60))
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return out


def closest(a: list[int], b: list[int]) -> int | None:
    """The smallest distance between a value of ``a`` and one of ``b`` (both sorted)."""
    best: int | None = None
    i = j = 0
    while i < len(a) and j < len(b):
        gap = abs(a[i] - b[j])
        best = gap if best is None else min(best, gap)
        if a[i] < b[j]:
            i += 1
        else:
            j += 1
    return best
