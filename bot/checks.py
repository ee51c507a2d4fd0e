"""The checks that span several files of the campaign folder (issue 14: out of bot.load).

Each file alone is validated by its model (bot.config, bot.content); what only the whole folder can
tell is here: a story's unit exists, schedule ids are unique across files, a milestone's metric and
phase exist, schedules together do not crowd one channel. Each check appends Vietnamese problems
(file, line, fix) to :class:`Files`, the folder as its files gave it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot import bounds as B
from bot.config import (
    CampaignFile,
    MilestonesFile,
    ScheduleConfig,
    ScheduleSettings,
    UnitConfig,
    UnitsFile,
    metric_configs,
)
from bot.content import Story
from bot.yamlfile import Located, Problem


@dataclass
class Files:
    """What each file of the folder gave on its own, before the checks across files."""

    campaign: CampaignFile | None = None
    campaign_loc: Located | None = None
    units: UnitsFile | None = None
    units_loc: Located | None = None
    milestones: MilestonesFile = field(default_factory=lambda: MilestonesFile(milestones=[]))
    milestones_loc: Located | None = None
    schedules: list[tuple[ScheduleConfig, Located, int]] = field(default_factory=list)
    settings: ScheduleSettings = field(default_factory=ScheduleSettings)
    stories: list[Story] = field(default_factory=list)
    banners: dict[str, Any] = field(default_factory=dict)
    media: Any = None
    problems: list[Problem] = field(default_factory=list)


def check_units(files: Files) -> set[str]:
    """Unit ids unique, one channel per platform and unit, every parent known, no loop in the tree.
    Returns the unit ids (empty when config/units.yaml did not load)."""
    unit_ids: set[str] = set()
    if files.units is None or files.units_loc is None:
        return unit_ids
    loc, problems = files.units_loc, files.problems
    seen_channels: set[tuple[str, str]] = set()
    for i, u in enumerate(files.units.units):
        if u.id in unit_ids:
            problems.append(loc.problem(("units", i, "id"), f"mã đơn vị '{u.id}' bị trùng", "đặt một mã khác"))
        unit_ids.add(u.id)
        for j, ch in enumerate(u.channels):
            if (u.id, ch.platform) in seen_channels:
                problems.append(loc.problem(("units", i, "channels", j), f"đơn vị đã có kênh {ch.platform}",
                                            "mỗi đơn vị chỉ một kênh cho mỗi nền tảng"))
            seen_channels.add((u.id, ch.platform))
    parents = {u.id: u.parent for u in files.units.units}
    for i, u in enumerate(files.units.units):
        if u.parent is not None and u.parent not in unit_ids:
            problems.append(loc.problem(("units", i, "parent"), f"không có đơn vị cấp trên '{u.parent}'",
                                        suggest(u.parent, unit_ids)))
        seen = {u.id}
        p = u.parent
        while p is not None and p in parents:
            if p in seen:
                problems.append(loc.problem(("units", i, "parent"), "cây đơn vị bị vòng lặp",
                                            "kiểm tra lại 'parent' của các đơn vị này"))
                break
            seen.add(p)
            p = parents[p]
    return unit_ids


def check_selector(problems: list[Problem], sel: Any, unit_ids: set[str], loc: Located, path: tuple[Any, ...]) -> None:
    """A list of unit ids (``units:``, ``audience:``, ``announce_to:``) names only units that exist."""
    if isinstance(sel, list):
        for k, uid in enumerate(sel):
            if uid not in unit_ids:
                problems.append(loc.problem((*path, k), f"không có đơn vị '{uid}'", suggest(uid, unit_ids)))


def check_schedules(files: Files, unit_ids: set[str]) -> None:
    """Schedule ids unique across files; their units and banner templates exist."""
    ids_seen: dict[str, str] = {}
    for sch, loc, i in files.schedules:
        if sch.id in ids_seen:
            files.problems.append(loc.problem(("schedules", i, "id"), f"lịch '{sch.id}' đã có trong {ids_seen[sch.id]}",
                                              "đặt một id khác"))
        ids_seen[sch.id] = loc.file
        check_selector(files.problems, sch.units, unit_ids, loc, ("schedules", i, "units"))
        if sch.banner and files.banners and sch.banner not in files.banners:
            files.problems.append(loc.problem(("schedules", i, "banner"), f"không có mẫu banner '{sch.banner}'",
                                              suggest(sch.banner, set(files.banners), "banners/")))
    if files.units is not None and files.campaign is not None and not files.problems:
        files.problems.extend(crowded_channels(files.schedules, files.units.units, files.campaign.campaign.timezone))


def check_stories(files: Files, unit_ids: set[str]) -> None:
    """Each story's unit, audience and banner exist; an approved story says when it was approved."""
    for story in files.stories:
        f, loc = story.front, story.located
        if f.unit not in unit_ids:
            files.problems.append(loc.problem(("unit",), f"không có đơn vị '{f.unit}'", suggest(f.unit, unit_ids)))
        check_selector(files.problems, f.audience, unit_ids, loc, ("audience",))
        if f.banner and f.banner not in files.banners:
            files.problems.append(loc.problem(("banner",), f"không có mẫu banner '{f.banner}'",
                                              suggest(f.banner, set(files.banners), "banners/")))
        if f.approved and not f.approved_at:
            files.problems.append(loc.problem(("approved_at",), "bài đã duyệt cần ngày duyệt",
                                              "thêm approved_at: NĂM-THÁNG-NGÀY (ngày duyệt bài)"))


def check_documents(files: Files) -> None:
    """A story with a document (a guide's PDF, issue 18) needs ``media:``: the PDF is published there."""
    if files.media is not None:
        return
    for story in files.stories:
        if story.attachments.get("document"):
            files.problems.append(story.located.problem(("document",), "bài có tài liệu nhưng chưa cấu hình nơi đăng tệp (media:)",
                                                        "thêm khối media: (folder + base_url, hoặc s3 + base_url) vào config/campaign.yaml"))


def check_milestones(files: Files, unit_ids: set[str]) -> None:
    """Each milestone's metric, units, banner template and phase exist."""
    loc, campaign = files.milestones_loc, files.campaign
    if loc is None:
        return
    problems = files.problems
    declared = {m.name for m in metric_configs(campaign.campaign)} if campaign else set()
    for i, rule in enumerate(files.milestones.milestones):
        if declared and rule.metric not in declared:
            problems.append(loc.problem(("milestones", i, "metric"), f"không có chỉ số '{rule.metric}'",
                                        suggest(rule.metric, declared, "metrics: của config/campaign.yaml")))
        if rule.unit and rule.unit not in unit_ids:
            problems.append(loc.problem(("milestones", i, "unit"), f"không có đơn vị '{rule.unit}'",
                                        suggest(rule.unit, unit_ids)))
        check_selector(problems, rule.units, unit_ids, loc, ("milestones", i, "units"))
        check_selector(problems, rule.announce_to, unit_ids, loc, ("milestones", i, "announce_to"))
        if rule.banner and files.banners and rule.banner not in files.banners:
            problems.append(loc.problem(("milestones", i, "banner"), f"không có mẫu banner '{rule.banner}'",
                                        suggest(rule.banner, set(files.banners), "banners/")))
        if rule.phase and campaign and rule.phase not in {p.name for p in campaign.campaign.phases}:
            problems.append(loc.problem(("milestones", i, "phase"), f"không có giai đoạn '{rule.phase}'",
                                        "ghi đúng tên một giai đoạn trong config/campaign.yaml"))


def crowded_channels(schedules: list[tuple[ScheduleConfig, Located, int]], units: list[UnitConfig],
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


def suggest(value: str, known: set[str], where: str = "config/units.yaml") -> str:
    import difflib

    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.5)
    return f"có phải ý bạn là '{close[0]}'?" if close else f"dùng một mã có trong {where}"


_suggest = suggest  # the old name (the CLI imports it from bot.load)
