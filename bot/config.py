"""The campaign's configuration files as pydantic models: what each key of config/*.yaml and
schedules/*.yaml may hold, with Vietnamese errors that say the fix.

Split out of bot.load (issue 14) so that the models can be read, imported and tested without the
loader itself: bot.load reads the files and runs the checks that span several files, bot.content
parses the stories. Each model here validates one file; nothing here touches the disk.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bot import bounds as B

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


def platform_names() -> tuple[str, ...]:
    """The platforms ``platform:`` and ``platforms:`` may name: those registered in bot.channels.spec
    (Facebook and Zalo, and any other a plug-in or a test registers), read at each validation."""
    from bot.channels import spec

    return spec.names()


def _platform(name: str) -> str:
    known = platform_names()
    if name in known:
        return name
    import difflib

    listed = ", ".join(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    fix = f"có phải ý bạn là '{close[0]}'? (các nền tảng: {listed})" if close else f"dùng một trong: {listed}"
    raise ValueError(f"nền tảng không có: '{name[:B.ID_MAX]}' | fix: {fix}")


Platform = Annotated[str, B.max_len(B.ID_MAX, "tên nền tảng"), AfterValidator(_platform)]
# ``platforms:`` of a schedule, a milestone or a story; left out: every registered platform.
Platforms = Annotated[list[Platform], B.max_len(B.LIST_MAX, "danh sách nền tảng")]


def all_platforms() -> list[str]:
    return list(platform_names())


_closed_models: dict[type[BaseModel], type[BaseModel]] = {}


def _closed(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` refusing unknown keys: a platform's account model may ignore them, but in units.yaml a
    misspelt ``pageid:`` must be an error that suggests ``page_id``, not a silently missing id."""
    if model not in _closed_models:
        _closed_models[model] = type(model.__name__, (model,), {"model_config": ConfigDict(extra="forbid"),
                                                                "__module__": model.__module__})
    return _closed_models[model]


class ChannelConfig(Strict):
    """One channel of a unit. ``platform:`` names a registered platform (bot.channels.spec); the other
    keys are its account fields (``page_id`` for Facebook, ``oa_id`` and ``broadcast`` for Zalo…),
    checked by that platform's own account model, each error at its own line."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    platform: Platform
    token_env: Annotated[str | None, B.max_len(B.ID_MAX * 2, "tên biến")] = None
    _account: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _account_fields(self) -> ChannelConfig:
        from bot.channels import spec

        # the platform's errors (pydantic's, raised here) are reported under this channel, each at its line
        self._account = _closed(spec.get(self.platform).account).model_validate(dict(self.__pydantic_extra__ or {}))
        if self.token_env and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", self.token_env):
            raise ValueError(
                f"token_env phải là TÊN biến môi trường, không phải token: {self.token_env[:6]}… "
                "| fix: ghi tên như FB_TOKEN_LDLD_TINH và đặt token trong tệp .env"
            )
        return self

    @property
    def account(self) -> Any:
        """The account fields as the platform's model validated them."""
        return self._account

    @property
    def account_id(self) -> str | None:
        from bot.channels import spec

        value = getattr(self._account, spec.get(self.platform).account_field, None)
        return str(value) if value is not None else None

    @property
    def broadcast(self) -> bool:
        """Zalo's "also send to followers" (False on a platform without it)."""
        return bool(getattr(self._account, "broadcast", False))


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
    platforms: Platforms = Field(default_factory=all_platforms)
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
    platforms: Platforms = Field(default_factory=all_platforms)

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
        from bot.templating import check_text  # the staff sandbox: syntax, filters, what it refuses

        return check_text(v, "mẫu thông điệp")

    @model_validator(mode="after")
    def _who(self) -> MilestoneConfig:
        if (self.unit is None) == (self.units is None):
            raise ValueError("cần đúng một trong 'unit' hoặc 'units' | fix: ghi unit: ldld-tinh hoặc units: {level: district}")
        return self


class MilestonesFile(Strict):
    metric_source: MetricSource = Field(default_factory=MetricSource)
    milestones: Annotated[list[MilestoneConfig], B.max_len(B.MILESTONES_MAX, "danh sách cột mốc")] = Field(
        default_factory=list)



def metric_configs(config: CampaignConfig) -> list[MetricConfig]:
    """The metrics declared in config/campaign.yaml (``initiatives`` / "sáng kiến" when none are)."""
    return list(config.metrics) or list(DEFAULT_METRICS)
