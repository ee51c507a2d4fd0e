"""Load: read and validate every file of the campaign folder.

The load is all-or-nothing: :func:`load_campaign` either returns a complete :class:`Campaign`
or raises :class:`LoadError` listing every problem (file, line, field, fix). Nothing touches
the store before the whole folder is valid, so a bad file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot import bounds as B
from bot.images import ImageProblem
from bot.vn import nfc
from bot.yamlfile import LoadError, Located, Problem, model_fields_vocabulary, parse_yaml, read_yaml, validate

__all__ = ["Campaign", "LoadError", "Problem", "Story", "load_campaign", "load_env", "resolve_workspace"]

KINDS = (
    "initiative_story",
    "good_practice",
    "commendation",
    "guide",
    "quote",
    "policy",
    "lessons",
    "difficulty",
    "news",
)
KIND_LABELS = {
    "initiative_story": "Câu chuyện sáng kiến",
    "good_practice": "Cách làm hay",
    "commendation": "Biểu dương",
    "guide": "Hướng dẫn",
    "quote": "Lời Bác dạy",
    "policy": "Chủ trương",
    "lessons": "Bài học kinh nghiệm",
    "difficulty": "Khó khăn – kiến nghị",
    "news": "Tin tức",
    "milestone": "Cột mốc",
    "slogan": "Khẩu hiệu",
}
LEVELS = ("province", "district", "sector", "civil_servants", "industrial_zone", "grassroots")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- config/campaign.yaml -------------------------------------------------------------------


class Phase(Strict):
    name: B.ShortText
    start: B.Day
    end: B.Day
    target: B.Target = None

    @model_validator(mode="after")
    def _order(self) -> Phase:
        if self.end < self.start:
            raise ValueError("ngày kết thúc trước ngày bắt đầu | fix: sửa 'end' thành một ngày sau 'start'")
        return self


EMAIL_RE = r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+"


def _emails(v: list[str]) -> list[str]:
    for addr in v:
        if not re.fullmatch(EMAIL_RE, addr):
            raise ValueError(f"'{addr}' không phải địa chỉ e-mail | fix: ghi như bantuyengiao@ldld.example.vn")
    return v


class AlertsConfig(Strict):
    """Who is told what (issue 11). ``to`` hears every kind of event; each kind may add its own list."""

    to: list[str] = Field(default_factory=list)
    folder: list[str] = Field(default_factory=list)  # the folder became invalid / valid again
    channel: list[str] = Field(default_factory=list)  # a channel was held / released
    failure: list[str] = Field(default_factory=list)  # a delivery failed for good
    milestone: list[str] = Field(default_factory=list)  # a milestone was announced
    metrics: list[str] = Field(default_factory=list)  # the metric source unreadable for a day

    _check = field_validator("to", "folder", "channel", "failure", "milestone", "metrics")(_emails)


class UnitAlerts(Strict):
    """A unit's own contacts for its channels' problems (held, released, failed for good)."""

    to: list[str] = Field(default_factory=list)

    _check = field_validator("to")(_emails)


class DigestConfig(Strict):
    """The weekly digest to each unit's contacts (issue 17). ``cron`` is read in the campaign's
    timezone; the thresholds decide who is lagging (nudged) and when the parent unit is told."""

    enabled: bool = True
    cron: Annotated[str, B.max_len(100, "biểu thức cron")] = "30 7 * * mon"
    behind_pace: float = Field(default=10.0, ge=0, le=100)  # points of % below where it should be by now
    quiet_days: int = Field(default=14, ge=1, le=366)  # no post sent for this many days
    escalate_after: int = Field(default=3, ge=1, le=52)  # weeks lagging without improvement → parent told
    summary_to: Annotated[list[str], B.max_len(B.LIST_MAX, "danh sách địa chỉ")] = Field(default_factory=list)  # + province summary

    _check = field_validator("summary_to")(_emails)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            if len(v.split()) != 5:
                raise ValueError(f"có {len(v.split())} trường")
            CronTrigger.from_crontab(v, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"biểu thức cron không hợp lệ '{v}': {exc} | fix: ví dụ \"30 7 * * mon\" (7:30 sáng thứ Hai)") from None
        return v


class Contact(Strict):
    """A person responsible for a unit's communications: gets the unit's weekly digest (issue 17).

    Unlike ``alerts.to`` (told at once when the unit's channels have a technical problem), contacts hear
    once a week how the unit is doing and what to do next. ``digest: false`` mutes this person."""

    name: B.Name
    role: B.OptName = None
    email: Annotated[str, B.max_len(254, "địa chỉ e-mail")]
    zalo_user_id: Annotated[str | None, B.max_len(B.ACCOUNT_ID_MAX, "mã người dùng Zalo")] = None
    digest: bool = True

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return _emails([v])[0].lower()

    @field_validator("zalo_user_id")
    @classmethod
    def _zalo(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9]{5,30}", v):
            raise ValueError(f"zalo_user_id '{v}' không hợp lệ | fix: ghi dãy số trong dấu ngoặc kép, ví dụ \"8412345678901234567\"")
        return v


class MetricConfig(Strict):
    """A metric the campaign counts (``metrics:`` in config/campaign.yaml), with the bounds of its readings."""

    name: B.Id
    label: B.ShortText
    max: float | None = Field(default=None, gt=0, le=B.METRIC_VALUE_MAX)  # no reading above this
    target_factor: float = Field(default=B.METRIC_TARGET_FACTOR, ge=1, le=1000)  # … nor above factor × target
    jump_factor: float = Field(default=B.METRIC_JUMP_FACTOR, ge=1.1, le=1000)  # a bigger rise waits for a person

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", v):
            raise ValueError(f"tên chỉ số '{v}' không hợp lệ | fix: chỉ dùng chữ thường không dấu, số, '-' và '_'")
        return v


DEFAULT_METRICS = [MetricConfig(name="initiatives", label="sáng kiến")]


class CorrectionsConfig(Strict):
    """What happens to posts already published when an approved item changes (issue 16).

    ``policy``: ``edit`` (change each post in place where the platform allows it), ``repost`` (remove
    the old post, then publish the new version) or ``leave`` (change nothing already published).
    ``kinds``: another policy for some kinds. ``image``: what an ``edit`` does when a Facebook photo
    changed (a photo cannot be replaced): ``repost`` or ``report`` (edit the text, tell a person).
    ``quiet_hours``: edits and removals wait for the end of quiet hours too (default: they do not).
    """

    policy: Literal["edit", "repost", "leave"] = "edit"
    kinds: dict[str, Literal["edit", "repost", "leave"]] = Field(default_factory=dict)
    image: Literal["repost", "report"] = "repost"
    quiet_hours: bool = False

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(KINDS))
        if unknown:
            raise ValueError(f"loại bài không có: {', '.join(unknown)} | fix: dùng một trong {', '.join(KINDS)}")
        return v

    def policy_for(self, kind: str) -> str:
        return self.kinds.get(kind, self.policy)


class CampaignConfig(Strict):
    id: B.Id
    name: B.Name
    timezone: str = "Asia/Ho_Chi_Minh"
    start: B.Day
    end: B.Day
    phases: Annotated[list[Phase], B.max_len(B.LIST_MAX, "danh sách giai đoạn")] = Field(default_factory=list)
    hashtags: Annotated[list[str], *B.short_list(B.LIST_MAX, B.TAG_MAX, "hashtag")] = Field(default_factory=list)
    slogans: Annotated[list[str], *B.short_list(B.SLOGANS_MAX, B.SHORT_TEXT_MAX, "khẩu hiệu")] = Field(default_factory=list)
    metrics: Annotated[list[MetricConfig], B.max_len(B.METRICS_MAX, "danh sách chỉ số")] = Field(default_factory=list)
    media: dict[str, Any] | None = None
    alerts: AlertsConfig | None = None
    corrections: CorrectionsConfig = Field(default_factory=CorrectionsConfig)  # issue 16
    digest: DigestConfig = Field(default_factory=DigestConfig)  # issue 17: weekly digest and nudges
    holidays: Annotated[list[B.Day], B.max_len(366, "danh sách ngày nghỉ")] = Field(default_factory=list)  # no digest

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"múi giờ không tồn tại: {v} | fix: dùng Asia/Ho_Chi_Minh") from None
        return v

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, v: list[str]) -> list[str]:
        return [h if h.startswith("#") else "#" + h for h in v]


class CampaignFile(Strict):
    campaign: CampaignConfig


# --- config/units.yaml ----------------------------------------------------------------------


class ChannelConfig(Strict):
    platform: Literal["facebook", "zalo"]
    page_id: B.AccountId = None
    oa_id: B.AccountId = None
    token_env: Annotated[str | None, B.max_len(B.ID_MAX * 2, "tên biến")] = None
    broadcast: bool = False

    @model_validator(mode="after")
    def _ids(self) -> ChannelConfig:
        if self.platform == "facebook" and not self.page_id:
            raise ValueError("kênh facebook thiếu page_id | fix: thêm page_id: \"<mã Trang>\" (ghi trong dấu ngoặc kép)")
        if self.platform == "zalo" and not self.oa_id:
            raise ValueError("kênh zalo thiếu oa_id | fix: thêm oa_id: \"<mã OA>\" (ghi trong dấu ngoặc kép)")
        if self.token_env and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", self.token_env):
            raise ValueError(
                f"token_env phải là TÊN biến môi trường, không phải token: {self.token_env[:6]}… "
                "| fix: ghi tên như FB_TOKEN_LDLD_TINH và đặt token trong tệp .env"
            )
        return self

    @property
    def account_id(self) -> str | None:
        return self.page_id if self.platform == "facebook" else self.oa_id


class UnitConfig(Strict):
    id: B.Id
    name: B.Name
    short_name: B.OptName = None
    level: Literal["province", "district", "sector", "civil_servants", "industrial_zone", "grassroots"]
    parent: B.OptId = None
    target: B.Target = None
    channels: Annotated[list[ChannelConfig], B.max_len(4, "danh sách kênh")] = Field(default_factory=list)
    alerts: UnitAlerts | None = None
    contacts: Annotated[list[Contact], B.max_len(20, "danh sách người phụ trách")] = Field(default_factory=list)
    digest: bool = True  # false: nobody of this unit gets the weekly digest

    @field_validator("id", "parent")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", v):
            raise ValueError(f"mã đơn vị '{v}' không hợp lệ | fix: chỉ dùng chữ thường không dấu, số và '-'")
        return v


class UnitsFile(Strict):
    units: Annotated[list[UnitConfig], B.max_len(B.UNITS_MAX, "danh sách đơn vị")]


# --- schedules/*.yaml -----------------------------------------------------------------------

UnitSelector = Literal["all"] | list[str] | dict[str, str]


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"\s*(?:(\d{1,4})\s*d)?\s*(?:(\d{1,5})\s*h)?\s*(?:(\d{1,6})\s*m(?:in)?)?\s*", text[:100])
    if not text.strip() or not m or not any(m.groups()):
        raise ValueError(f"khoảng thời gian không hợp lệ: '{text}' | fix: ghi như 30m, 2h, 1h30m hoặc 1d")
    d, h, mi = (int(g or 0) for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi)


class ScheduleConfig(Strict):
    id: B.Id
    cron: Annotated[str, B.max_len(100, "biểu thức cron")]
    kinds: list[Literal[KINDS]] = Field(default_factory=list)  # type: ignore[valid-type]
    slogan: bool = False
    units: UnitSelector = "all"
    platforms: list[Literal["facebook", "zalo"]] = Field(default_factory=lambda: ["facebook", "zalo"])
    grace: str = "1h"
    banner: B.OptId = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        if len(v.split()) != 5:
            raise ValueError(
                f"biểu thức cron phải có đúng 5 trường, có {len(v.split())}: '{v}' "
                "| fix: phút giờ ngày tháng thứ, ví dụ \"0 8 * * mon,wed,fri\""
            )
        try:
            CronTrigger.from_crontab(v, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"biểu thức cron không hợp lệ '{v}': {exc} | fix: ví dụ \"0 8 * * mon,wed,fri\"") from None
        gap = B.cron_min_gap(v)
        if gap is not None and gap < timedelta(minutes=B.SLOT_MIN_MINUTES):
            raise ValueError(
                f"lịch '{v}' đăng quá dày: hai khung giờ chỉ cách nhau {int(gap.total_seconds() // 60)} phút "
                f"(tối thiểu {B.SLOT_MIN_MINUTES} phút) | fix: mỗi kênh tối đa một khung giờ mỗi {B.SLOT_MIN_MINUTES} phút, "
                "ví dụ \"0 8 * * *\" hoặc \"0 8,17 * * mon-fri\""
            )
        return v

    @field_validator("grace")
    @classmethod
    def _grace(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("units")
    @classmethod
    def _units(cls, v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) != {"level"} or v["level"] not in LEVELS:
                raise ValueError(f"chọn đơn vị theo cấp phải là {{level: …}} với một trong {', '.join(LEVELS)}")
        return v

    @model_validator(mode="after")
    def _what(self) -> ScheduleConfig:
        if not self.kinds and not self.slogan:
            raise ValueError("lịch không nói đăng gì | fix: thêm 'kinds: [initiative_story, …]' hoặc 'slogan: true'")
        return self

    @property
    def grace_delta(self) -> timedelta:
        return parse_duration(self.grace)


class ScheduleSettings(Strict):
    quiet_hours: str | None = None
    daily_cap: B.DailyCap = None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d", v.replace(" ", "")):
            raise ValueError(f"giờ yên lặng không hợp lệ: '{v}' | fix: ghi như \"21:30-06:30\"")
        return v.replace(" ", "") if v else v

    def quiet_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        a, b = self.quiet_hours.split("-")
        return time.fromisoformat(a.zfill(5)), time.fromisoformat(b.zfill(5))


class SchedulesFile(Strict):
    schedules: Annotated[list[ScheduleConfig], B.max_len(B.SCHEDULES_MAX, "danh sách lịch")] = Field(default_factory=list)
    settings: ScheduleSettings | None = None


# --- config/milestones.yaml -----------------------------------------------------------------


class MetricSource(Strict):
    csv: B.OptRelPath = "data/"
    url: B.Url = None
    format: Literal["csv", "json"] | None = None
    every: str = "1m"
    token_env: str | None = None  # the variable holding a token for the URL (sent as "Authorization: Bearer …")

    @field_validator("every")
    @classmethod
    def _every(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://\S+", v):
            raise ValueError(f"địa chỉ số liệu không hợp lệ: '{v}' | fix: ghi đầy đủ, ví dụ https://example.vn/so-lieu.csv")
        return v

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", v):
            raise ValueError("token_env phải là TÊN biến môi trường, không phải token | fix: ghi như METRIC_TOKEN và đặt token trong .env")
        return v


class MilestoneConfig(Strict):
    id: B.Id
    metric: B.Id
    unit: B.OptId = None
    units: UnitSelector | None = None
    thresholds: Annotated[list[int | float | str], B.max_len(B.LIST_MAX, "danh sách ngưỡng")]
    announce_to: Literal["own", "cascade", "all"] | list[str] = "own"
    banner: B.OptId = "milestone"
    message: B.Message
    phase: B.OptShortText = None
    platforms: list[Literal["facebook", "zalo"]] = Field(default_factory=lambda: ["facebook", "zalo"])

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[Any]) -> list[Any]:
        for t in v:
            if isinstance(t, str) and not re.fullmatch(r"\d{1,9}(\.\d{1,6})?%", t.strip()):
                raise ValueError(f"ngưỡng '{t[:40]}' không hợp lệ | fix: ghi một số (1000) hoặc phần trăm chỉ tiêu (\"100%\")")
            number = float(t.strip()[:-1]) if isinstance(t, str) else t
            ceiling = B.PERCENT_MAX if isinstance(t, str) else B.THRESHOLD_MAX
            if not (number == number and 0 < number <= ceiling):  # also refuses NaN
                shown = str(t)[:20]
                raise ValueError(f"ngưỡng {shown} ngoài khoảng cho phép (lớn hơn 0, tối đa {ceiling:,})".replace(",", ".")
                                 + " | fix: ghi một ngưỡng hợp lý, ví dụ 1000 hoặc \"100%\"")
        return v

    @field_validator("message")
    @classmethod
    def _message(cls, v: str) -> str:
        from jinja2 import TemplateSyntaxError

        from bot.templating import env

        try:
            env().from_string(v)
        except TemplateSyntaxError as exc:
            raise ValueError(f"mẫu thông điệp lỗi: {exc.message} | fix: kiểm tra các cặp {{{{ … }}}}") from None
        return v

    @model_validator(mode="after")
    def _who(self) -> MilestoneConfig:
        if (self.unit is None) == (self.units is None):
            raise ValueError("cần đúng một trong 'unit' hoặc 'units' | fix: ghi unit: ldld-tinh hoặc units: {level: district}")
        return self


class MilestonesFile(Strict):
    metric_source: MetricSource = Field(default_factory=MetricSource)
    milestones: Annotated[list[MilestoneConfig], B.max_len(B.MILESTONES_MAX, "danh sách cột mốc")] = Field(
        default_factory=list)


# --- content/**/*.md ------------------------------------------------------------------------

DateOrTime = date | datetime


class StoryFront(Strict):
    title: B.Title
    kind: Literal[KINDS]  # type: ignore[valid-type]
    unit: B.Id
    audience: Literal["own", "cascade", "all"] | list[str] = "own"
    platforms: list[Literal["facebook", "zalo"]] = Field(default_factory=lambda: ["facebook", "zalo"])
    approved: bool = False
    approved_by: B.OptShortText = None
    approved_at: B.Moment = None
    not_before: B.Moment = None
    expires: B.Moment = None
    priority: B.Priority = 0
    image: B.OptRelPath = None
    images: Annotated[list[str], *B.short_list(10, B.PATH_MAX, "danh sách ảnh")] = Field(default_factory=list)
    banner: B.OptId = None
    link: Annotated[str, Field(pattern=r"^https?://\S+$"), B.max_len(B.URL_MAX, "địa chỉ")] | None = None
    tags: Annotated[list[str], *B.short_list(B.LIST_MAX, B.TAG_MAX, "thẻ")] = Field(default_factory=list)
    summary: B.Summary = None
    withdrawn: B.OptShortText = None  # issue 16: the reason; the item is removed everywhere and never planned again
    # issue 18: a video (a Reel when reel: true; video_frame: the thumbnail's second), a guide's PDF, a link post
    video: B.OptRelPath = None
    reel: bool = False
    video_frame: Annotated[float, Field(ge=0, le=14_400)] | None = None
    document: B.OptRelPath = None
    link_post: bool = False


@dataclass
class Story:
    id: str
    front: StoryFront
    body: str
    source: str  # relative path of the .md file
    images: list[str]  # workspace-relative paths of photos
    content_hash: str
    located: Located
    attachments: dict[str, Any] = field(default_factory=dict)  # issue 18: video, document, link post (bot.video)


# --- the whole campaign ---------------------------------------------------------------------


@dataclass
class Campaign:
    workspace: Path
    config: CampaignConfig
    units: list[UnitConfig]
    schedules: list[ScheduleConfig]
    settings: ScheduleSettings
    milestones: MilestonesFile
    stories: list[Story]
    banners: dict[str, Any]  # id -> bot.banners.BannerTemplate
    media: Any = None
    config_hash: str = ""
    warnings: list[Problem] = field(default_factory=list)  # files skipped with a word (a story saved as .txt)
    unit_by_id: dict[str, UnitConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.unit_by_id = {u.id: u for u in self.units}

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def local_datetime(self, value: date | datetime, end_of_day: bool = False) -> datetime:
        """A date or naive datetime read in the campaign's timezone, as an aware datetime."""
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.tz)
        moment = datetime.combine(value, time.min, self.tz)
        return moment + timedelta(days=1) if end_of_day else moment

    def phase_at(self, when: datetime) -> Phase | None:
        day = when.astimezone(self.tz).date()
        for phase in self.config.phases:
            if phase.start <= day <= phase.end:
                return phase
        return None


def resolve_workspace(path: str | os.PathLike[str] | None) -> Path:
    """``--workspace``, else ``CAMPAIGN_WORKSPACE``, else the current folder."""
    chosen = path or os.environ.get("CAMPAIGN_WORKSPACE") or "."
    return Path(chosen).expanduser().resolve()


def load_env(workspace: Path) -> dict[str, str]:
    """The process environment over the workspace's ``.env`` (real variables win).

    A ``.env`` that is not UTF-8 (saved by Notepad in ANSI) or absurdly large is a LoadError
    naming its line, not a traceback."""
    path = workspace / ".env"
    try:
        raw = path.read_bytes() if path.is_file() else b""
    except OSError as exc:
        raise LoadError([Problem(".env", None, None, f"không đọc được tệp .env ({exc.strerror})",
                                 "kiểm tra quyền đọc tệp .env")]) from None
    if len(raw) > B.ENV_FILE_BYTES_MAX:
        raise LoadError([Problem(".env", None, None, "tệp .env quá lớn", "chỉ ghi các biến TÊN=giá trị cần thiết")])
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError([Problem(".env", line, None, "tệp .env không phải UTF-8",
                                 "lưu lại tệp .env với mã hóa UTF-8 (không dấu hoặc UTF-8)")]) from None
    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    values.update(os.environ)
    return values


def _split_front_matter(text: str, rel: str) -> tuple[str, str, list[Problem]]:
    if not text.startswith("---"):
        return "", text, [
            Problem(rel, 1, None, "thiếu phần khai báo đầu bài (front matter)",
                    "bắt đầu tệp bằng dòng '---', các khóa title/kind/unit…, rồi một dòng '---'")
        ]
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]).strip() + "\n", []
    return "", "", [Problem(rel, 1, None, "phần khai báo đầu bài không có dòng '---' đóng", "thêm một dòng '---' sau các khóa")]


# (folder, the suffix that is read, the suffixes that belong there without being read)
READ_SUFFIXES = (("content", ".md", IMAGE_SUFFIXES | {".mp4", ".pdf"}), ("schedules", ".yaml", set()), ("banners", ".yaml", set()))


def skipped_files(workspace: Path) -> list[Problem]:
    """Files that look like campaign files but are not read (a story saved as ``.MD`` or ``.txt``, a
    schedule as ``.yml``): a warning each, so nothing is ignored without a word."""
    warnings: list[Problem] = []
    for folder, suffix, also in READ_SUFFIXES:
        root = workspace / folder
        if not root.is_dir():
            continue
        pattern = "**/*" if folder == "content" else "*"
        for path in sorted(root.glob(pattern)):
            if not path.is_file() or any(p.startswith(".") for p in path.relative_to(workspace).parts):
                continue
            if path.suffix == suffix or path.suffix.lower() in also or (folder == "banners" and "assets" in path.parts) \
                    or path.name == "LICENSE":  # issue 18: the licence note beside sample videos and documents
                continue
            rel = path.relative_to(workspace).as_posix()
            fix = f"đổi tên tệp thành {path.stem}{suffix}" if path.suffix.lower() in {".md", ".markdown", ".txt", ".yml", ".yaml"} \
                else f"tệp này không được đọc; bài viết phải là tệp {suffix}"
            if folder == "content" and path.suffix.lower() == ".txt":
                fix += " và thêm phần khai báo đầu bài (xem `campaign-bot new story`)"
            warnings.append(Problem(rel, None, None, f"tệp bị bỏ qua: đuôi '{path.suffix or '(không có)'}' không phải '{suffix}'", fix))
    return warnings


def _iter_files(folder: Path, pattern: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not any(part.startswith(".") for part in p.parts))


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _load_story(path: Path, workspace: Path, content_dir: Path) -> tuple[Story | None, list[Problem]]:
    rel = path.relative_to(workspace).as_posix()
    if not path.resolve().is_relative_to(workspace.resolve()):
        return None, [Problem(rel, None, None, "tệp bài là liên kết (symlink) tới một tệp ngoài thư mục chiến dịch",
                              "chép nội dung bài vào content/ thay cho liên kết")]
    if path.stat().st_size > B.STORY_FILE_BYTES_MAX:
        return None, [Problem(rel, None, None, f"tệp bài quá lớn (tối đa {B.STORY_FILE_BYTES_MAX // 1_000_000} MB)",
                              "rút gọn bài; ảnh đặt thành tệp riêng")]
    try:
        # a BOM (Notepad's "UTF-8 with BOM") would hide the opening '---'
        text = nfc(path.read_text(encoding="utf-8")).removeprefix("\ufeff").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        from bot.messages import utf8_problem

        return None, [Problem(rel, *utf8_problem(path.read_bytes(), exc))]
    front_text, body, problems = _split_front_matter(text, rel)
    if problems:
        return None, problems
    located, problems = parse_yaml(front_text, rel, line_offset=1)
    if located is None or problems:
        return None, problems
    if not isinstance(located.data, dict):
        return None, [Problem(rel, 2, None, "phần khai báo đầu bài phải là các cặp 'khóa: giá trị'", "xem ví dụ trong content/")]
    front, problems = validate(StoryFront, located.data, located, vocabulary=STORY_VOCAB)
    if front is None:
        return None, problems
    if not body.strip():
        problems.append(located.problem((), "bài viết không có nội dung", "viết nội dung bài sau dòng '---' thứ hai"))
    elif (too_long := B.body_problem(body)) is not None:
        problems.append(located.problem((), *too_long))
    images: list[str] = []
    for key, value in [("image", front.image)] + [(("images", i), v) for i, v in enumerate(front.images)]:
        if not value:
            continue
        target = (path.parent / value).resolve()
        fpath = key if isinstance(key, tuple) else (key,)
        if not target.is_relative_to(content_dir.resolve()):
            problems.append(located.problem(fpath, f"ảnh '{value}' nằm ngoài thư mục content/",
                                            "đặt ảnh trong content/ (ví dụ content/anh/) và ghi đường dẫn tương đối tới bài"))
        elif not target.is_file():
            problems.append(located.problem(fpath, f"không tìm thấy ảnh '{value}'",
                                            "kiểm tra tên tệp ảnh (phân biệt chữ hoa/thường) và đường dẫn tương đối tới bài"))
        elif target.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(located.problem(fpath, f"'{value}' không phải ảnh JPG/PNG/WebP", "dùng tệp .jpg, .png hoặc .webp"))
        elif isinstance(bad := _image_problem(target), ImageProblem):
            problems.append(located.problem(fpath, f"ảnh '{value}': {bad.message}", bad.fix))
        else:
            images.append(target.relative_to(workspace.resolve()).as_posix())
    from bot.video import story_attachments

    attachments, more, stamps = story_attachments(front, path, workspace, content_dir, located)
    problems += more
    story_id = path.relative_to(content_dir).with_suffix("").as_posix()
    # The photos' size and time too (issue 16): a photo replaced under the same name is a new version of the
    # story (bot.corrections compares the bytes themselves, only for stories whose hash changed).
    for rel_image in images:
        st = (workspace / rel_image).stat()
        stamps.append(f"{rel_image}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha256((text + "\n".join(stamps)).encode()).hexdigest()
    return Story(story_id, front, body, rel, images, digest, located, attachments), problems


def _load_banners(workspace: Path) -> tuple[dict[str, Any], dict[str, Located], list[Problem]]:
    banners: dict[str, Any] = {}
    where: dict[str, Located] = {}
    problems: list[Problem] = []
    files = _iter_files(workspace / "banners", "*.yaml")
    if not files:
        return banners, where, problems
    from bot.banners import BannerTemplate, template_assets

    vocab = model_fields_vocabulary(BannerTemplate)
    for path in files:
        located, errs = read_yaml(path, workspace)
        problems += errs
        if located is None:
            continue
        if not isinstance(located.data, dict) or set(located.data) != {"banner"}:
            problems.append(located.problem((), "tệp mẫu banner phải có đúng một khóa 'banner:'", "xem banners/story.yaml"))
            continue
        tpl, errs = validate(BannerTemplate, located.data["banner"], located, ("banner",), vocab)
        problems += errs
        if tpl is None:
            continue
        if tpl.id in banners:
            problems.append(located.problem(("banner", "id"), f"mẫu banner '{tpl.id}' đã có trong {where[tpl.id].file}",
                                            "đặt một id khác"))
            continue
        for asset in template_assets(tpl):
            target = (workspace / "banners" / asset).resolve()
            if not target.is_relative_to((workspace / "banners").resolve()) or not target.is_file():
                problems.append(located.problem(("banner",), f"không tìm thấy tệp '{asset}' của mẫu banner",
                                                "đặt tệp trong banners/assets/ và ghi đường dẫn như assets/logo.png"))
            elif isinstance(bad := _image_problem(target), ImageProblem):
                problems.append(located.problem(("banner",), f"ảnh '{asset}' của mẫu banner: {bad.message}", bad.fix))
        banners[tpl.id] = tpl
        where[tpl.id] = located
    return banners, where, problems


STORY_VOCAB = model_fields_vocabulary(StoryFront)


def _image_problem(path: Path) -> Any:
    """An :class:`bot.images.ImageProblem` if the image cannot be used (see bot.images)."""
    from bot.images import check_image

    return check_image(path)


def _crowded_channels(schedules: list[tuple[ScheduleConfig, Located, int]], units: list[UnitConfig],
                      timezone: str) -> list[Problem]:
    """Schedules that together give one channel more than one slot per bounds.SLOT_MIN_MINUTES on
    average over a day (each schedule alone keeps that gap: see ScheduleConfig._cron). Slots of
    several schedules at the same minute are allowed (the daily cap decides), as long as the day's
    total stays within 24 × 60 / SLOT_MIN_MINUTES."""
    if len(schedules) < 2 or len(schedules) > B.SCHEDULES_MAX:
        return []
    limit = 24 * 60 // B.SLOT_MIN_MINUTES
    channels = {(u.id, ch.platform) for u in units for ch in u.channels}

    def reach(sch: ScheduleConfig) -> set[tuple[str, str]]:
        sel = sch.units
        ids = ({u.id for u in units} if sel == "all" else set(sel) if isinstance(sel, list)
               else {u.id for u in units if isinstance(sel, dict) and u.level == sel.get("level")})
        return {(uid, p) for uid in ids for p in sch.platforms if (uid, p) in channels}

    per_day: list[dict[int, int]] = []
    for sch, _, _ in schedules:
        counts: dict[int, int] = {}
        for minute in B.cron_fire_minutes(sch.cron, timezone):
            counts[minute // 1440] = counts.get(minute // 1440, 0) + 1
        per_day.append(counts)
    signatures: dict[frozenset[int], tuple[str, str]] = {}  # the same set of schedules: checked once
    reached = [reach(sch) for sch, _, _ in schedules]
    for channel in sorted(channels):
        signatures.setdefault(frozenset(i for i, r in enumerate(reached) if channel in r), channel)
    out: list[Problem] = []
    for members, (uid, platform) in signatures.items():
        if len(members) < 2:
            continue
        totals: dict[int, int] = {}
        for i in members:
            for day, n in per_day[i].items():
                totals[day] = totals.get(day, 0) + n
        if totals and max(totals.values()) > limit:
            first = min(members)
            sch, loc, index = schedules[first]
            names = ", ".join(f"'{schedules[i][0].id}'" for i in sorted(members))
            out.append(loc.problem(("schedules", index, "cron"),
                                   f"các lịch {names} cho kênh {uid}/{platform} tới {max(totals.values())} khung giờ "
                                   f"một ngày (tối đa {limit}: một khung giờ mỗi {B.SLOT_MIN_MINUTES} phút)",
                                   "bớt khung giờ hoặc thu hẹp đơn vị (units:) của một số lịch"))
    return out


def _output_folder_problems(workspace: Path, campaign_file: Any) -> list[Problem]:
    """The folders a tick writes into (outbox/, a media folder inside the workspace) must not lead
    out of the workspace through a symlink: ``.gitignore``'s ``outbox/`` matches folders only, so
    such a link can arrive with a shared campaign repository (issue 12)."""
    from bot.files import escaping_link

    folders = [workspace / "outbox"]
    media = getattr(campaign_file.campaign, "media", None) if campaign_file is not None else None
    folder = media.get("folder") if isinstance(media, dict) else None
    if isinstance(folder, str) and folder and not Path(folder).expanduser().is_absolute():
        folders.append(workspace / folder)
    out: list[Problem] = []
    for path in folders:
        bad = escaping_link(path, workspace, depth=1)
        if bad is not None:
            try:
                rel = bad.relative_to(workspace).as_posix()
            except ValueError:
                rel = str(bad)
            out.append(Problem(rel, None, None, "là liên kết (symlink) trỏ ra ngoài thư mục chiến dịch — bot không ghi qua đó",
                               f"xóa liên kết {rel} (bot sẽ tạo một thư mục thật), hoặc dùng đường dẫn tuyệt đối cho media.folder"))
    return out


def metric_configs(config: CampaignConfig) -> list[MetricConfig]:
    """The metrics declared in config/campaign.yaml (``initiatives`` / "sáng kiến" when none are)."""
    return list(config.metrics) or list(DEFAULT_METRICS)


def load_campaign(workspace: Path) -> Campaign:
    """Read and validate the whole campaign folder, or raise LoadError with every problem."""
    workspace = workspace.resolve()
    problems: list[Problem] = []
    if not (workspace / "config").is_dir():
        raise LoadError([Problem(str(workspace), None, None, "không phải thư mục chiến dịch (không có config/)",
                                 "chạy trong thư mục chiến dịch hoặc chỉ ra nó bằng --workspace ĐƯỜNG_DẪN")])

    def one(rel: str, model: type[BaseModel], required: bool = True) -> tuple[Any, Located | None]:
        path = workspace / rel
        if not path.is_file():
            if required:
                problems.append(Problem(rel, None, None, "thiếu tệp", f"tạo {rel} theo mẫu của chiến dịch mẫu"))
            return None, None
        located, errs = read_yaml(path, workspace)
        problems.extend(errs)
        if located is None or errs:
            return None, located
        obj, errs = validate(model, located.data or {}, located)
        problems.extend(errs)
        return obj, located

    campaign_file, campaign_loc = one("config/campaign.yaml", CampaignFile)
    units_file, units_loc = one("config/units.yaml", UnitsFile)
    milestones_file, ms_loc = one("config/milestones.yaml", MilestonesFile, required=False)
    milestones_file = milestones_file or MilestonesFile(milestones=[])

    schedules: list[tuple[ScheduleConfig, Located, int]] = []
    settings = ScheduleSettings()
    settings_from: str | None = None
    for path in _iter_files(workspace / "schedules", "*.yaml"):
        located, errs = read_yaml(path, workspace)
        problems.extend(errs)
        if located is None or errs:
            continue
        sf, errs = validate(SchedulesFile, located.data or {}, located)
        problems.extend(errs)
        if sf is None:
            continue
        if sf.settings is not None:
            if settings_from:
                problems.append(located.problem(("settings",), f"'settings' đã có trong {settings_from}",
                                                "chỉ khai báo settings trong một tệp lịch"))
            settings, settings_from = sf.settings, located.file
        for i, sch in enumerate(sf.schedules):
            schedules.append((sch, located, i))

    stories: list[Story] = []
    content_dir = workspace / "content"
    for path in _iter_files(content_dir, "**/*.md"):
        if path.name.lower() == "readme.md":
            continue
        story, errs = _load_story(path, workspace, content_dir)
        problems.extend(errs)
        if story is not None:
            stories.append(story)

    if len(stories) > B.STORIES_MAX:
        problems.append(Problem("content", None, None, f"có {len(stories):,} bài, tối đa {B.STORIES_MAX:,}".replace(",", "."),
                                "chuyển các bài cũ đã đăng ra khỏi content/"))
    banners, _banner_loc, errs = _load_banners(workspace)
    problems.extend(errs)

    media = None
    if campaign_file is not None and campaign_file.campaign.media is not None and campaign_loc is not None:
        try:
            from bot.media import MediaSettings
        except ImportError:  # pragma: no cover - the media module ships with the Zalo channel
            media = campaign_file.campaign.media
        else:
            media, errs = validate(MediaSettings, campaign_file.campaign.media, campaign_loc, ("campaign", "media"))
            problems.extend(errs)
    for story in stories if media is None else []:  # issue 18: a guide's PDF is published on the media store
        if story.attachments.get("document"):
            problems.append(story.located.problem(("document",), "bài có tài liệu nhưng chưa cấu hình nơi đăng tệp (media:)",
                                                  "thêm khối media: (folder + base_url, hoặc s3 + base_url) vào config/campaign.yaml"))

    # --- cross-file checks --------------------------------------------------------------------
    unit_ids: set[str] = set()
    if units_file is not None and units_loc is not None:
        seen_channels: set[tuple[str, str]] = set()
        for i, u in enumerate(units_file.units):
            if u.id in unit_ids:
                problems.append(units_loc.problem(("units", i, "id"), f"mã đơn vị '{u.id}' bị trùng", "đặt một mã khác"))
            unit_ids.add(u.id)
            for j, ch in enumerate(u.channels):
                if (u.id, ch.platform) in seen_channels:
                    problems.append(units_loc.problem(("units", i, "channels", j), f"đơn vị đã có kênh {ch.platform}",
                                                      "mỗi đơn vị chỉ một kênh cho mỗi nền tảng"))
                seen_channels.add((u.id, ch.platform))
        parents = {u.id: u.parent for u in units_file.units}
        for i, u in enumerate(units_file.units):
            if u.parent is not None and u.parent not in unit_ids:
                problems.append(units_loc.problem(("units", i, "parent"), f"không có đơn vị cấp trên '{u.parent}'",
                                                  _suggest(u.parent, unit_ids)))
            seen = {u.id}
            p = u.parent
            while p is not None and p in parents:
                if p in seen:
                    problems.append(units_loc.problem(("units", i, "parent"), "cây đơn vị bị vòng lặp",
                                                      "kiểm tra lại 'parent' của các đơn vị này"))
                    break
                seen.add(p)
                p = parents[p]

    def check_selector(sel: Any, loc: Located, path: tuple[Any, ...]) -> None:
        if isinstance(sel, list):
            for k, uid in enumerate(sel):
                if uid not in unit_ids:
                    problems.append(loc.problem((*path, k), f"không có đơn vị '{uid}'", _suggest(uid, unit_ids)))

    if unit_ids:
        ids_seen: dict[str, str] = {}
        for sch, loc, i in schedules:
            if sch.id in ids_seen:
                problems.append(loc.problem(("schedules", i, "id"), f"lịch '{sch.id}' đã có trong {ids_seen[sch.id]}",
                                            "đặt một id khác"))
            ids_seen[sch.id] = loc.file
            check_selector(sch.units, loc, ("schedules", i, "units"))
            if sch.banner and banners and sch.banner not in banners:
                problems.append(loc.problem(("schedules", i, "banner"), f"không có mẫu banner '{sch.banner}'",
                                            _suggest(sch.banner, set(banners), "banners/")))
        if units_file is not None and campaign_file is not None and not problems:
            problems.extend(_crowded_channels(schedules, units_file.units, campaign_file.campaign.timezone))
        for story in stories:
            f, loc = story.front, story.located
            if f.unit not in unit_ids:
                problems.append(loc.problem(("unit",), f"không có đơn vị '{f.unit}'", _suggest(f.unit, unit_ids)))
            check_selector(f.audience, loc, ("audience",))
            if f.banner and f.banner not in banners:
                problems.append(loc.problem(("banner",), f"không có mẫu banner '{f.banner}'", _suggest(f.banner, set(banners), "banners/")))
            if f.approved and not f.approved_at:
                problems.append(loc.problem(("approved_at",), "bài đã duyệt cần ngày duyệt",
                                            "thêm approved_at: NĂM-THÁNG-NGÀY (ngày duyệt bài)"))
        if ms_loc is not None:
            declared = {m.name for m in metric_configs(campaign_file.campaign)} if campaign_file else set()
            for i, rule in enumerate(milestones_file.milestones):
                if declared and rule.metric not in declared:
                    problems.append(ms_loc.problem(("milestones", i, "metric"), f"không có chỉ số '{rule.metric}'",
                                                   _suggest(rule.metric, declared, "metrics: của config/campaign.yaml")))
                if rule.unit and rule.unit not in unit_ids:
                    problems.append(ms_loc.problem(("milestones", i, "unit"), f"không có đơn vị '{rule.unit}'",
                                                   _suggest(rule.unit, unit_ids)))
                check_selector(rule.units, ms_loc, ("milestones", i, "units"))
                check_selector(rule.announce_to, ms_loc, ("milestones", i, "announce_to"))
                if rule.banner and banners and rule.banner not in banners:
                    problems.append(ms_loc.problem(("milestones", i, "banner"), f"không có mẫu banner '{rule.banner}'",
                                                   _suggest(rule.banner, set(banners), "banners/")))
                if rule.phase and campaign_file and rule.phase not in {p.name for p in campaign_file.campaign.phases}:
                    problems.append(ms_loc.problem(("milestones", i, "phase"), f"không có giai đoạn '{rule.phase}'",
                                                   "ghi đúng tên một giai đoạn trong config/campaign.yaml"))

    problems.extend(_output_folder_problems(workspace, campaign_file))

    if problems or campaign_file is None or units_file is None:
        raise LoadError(problems)

    hashed = [workspace / "config" / n for n in ("campaign.yaml", "units.yaml", "milestones.yaml")]
    hashed += _iter_files(workspace / "schedules", "*.yaml") + _iter_files(workspace / "banners", "*.yaml")
    config_hash = _hash_files([p for p in hashed if p.is_file()])
    config_hash = hashlib.sha256((config_hash + json.dumps(sorted(s.content_hash for s in stories))).encode()).hexdigest()
    return Campaign(
        workspace=workspace,
        config=campaign_file.campaign,
        units=units_file.units,
        schedules=[s for s, _, _ in schedules],
        settings=settings,
        milestones=milestones_file,
        stories=stories,
        banners=banners,
        media=media,
        config_hash=config_hash,
        warnings=skipped_files(workspace),
    )


def _suggest(value: str, known: set[str], where: str = "config/units.yaml") -> str:
    import difflib

    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.5)
    return f"có phải ý bạn là '{close[0]}'?" if close else f"dùng một mã có trong {where}"
