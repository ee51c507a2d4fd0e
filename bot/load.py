"""Load: read and validate every file of the campaign folder.

The load is all-or-nothing: :func:`load_campaign` either returns a complete :class:`Campaign`
or raises :class:`LoadError` listing every problem (file, line, field, fix). Nothing touches
the store before the whole folder is valid, so a bad file changes nothing.

The work is split by role (issue 14): the models of the YAML files are in bot.config, the stories
(front matter, photos) in bot.content, the checks that span several files (a unit named by a story
exists, a schedule's banner template exists…) in bot.checks, the memory of what each file gave last
time in bot.reload. This module reads the files in order, runs the checks and builds the
:class:`Campaign`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dotenv import dotenv_values
from pydantic import BaseModel

from bot import bounds as B
from bot.channels import spec
from bot.checks import (  # noqa: F401 - _suggest: re-exported for the CLI
    Files,
    _suggest,
    check_documents,
    check_milestones,
    check_schedules,
    check_stories,
    check_units,
)
from bot.config import (  # noqa: F401 - re-exported: other modules import these from bot.load
    KIND_LABELS,
    KINDS,
    LEVELS,
    CampaignConfig,
    CampaignFile,
    MetricConfig,
    MilestoneConfig,
    MilestonesFile,
    Phase,
    ScheduleConfig,
    ScheduleSettings,
    SchedulesFile,
    UnitConfig,
    UnitsFile,
    metric_configs,
    parse_duration,
)
from bot.content import STORY_VOCAB, Story, StoryFront, load_story, skipped_files  # noqa: F401
from bot.images import ImageProblem
from bot.reload import Reloader, Scan, reloader
from bot.yamlfile import LoadError, Located, Problem, model_fields_vocabulary, read_yaml, validate

__all__ = ["Campaign", "LoadError", "Problem", "Story", "load_campaign", "load_env", "resolve_workspace"]

# --- the whole campaign ---------------------------------------------------------------------


@dataclass
class Campaign:
    """The whole campaign folder, valid: what every other part of the bot works from (read-only: the
    loader may hand the same object to the next tick when nothing changed, see bot.reload)."""

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


_last_env: dict[Path, dict[str, str]] = {}


def reload_env(workspace: Path, previous: dict[str, str] | None) -> tuple[dict[str, str], list[Problem]]:
    """The environment for the next pass of `run`: ``.env`` read again, so that a token put there
    while the bot runs is used at the next minute — or, when it no longer reads (not UTF-8, too
    large), the last environment that did (else ``previous``), with the problems to tell, like a
    broken folder."""
    key = workspace.resolve()
    try:
        env = load_env(workspace)
    except LoadError as exc:
        kept = _last_env.get(key, previous)
        if kept is None:
            raise
        return kept, exc.problems
    _last_env[key] = env
    return env, []

# --- reading each file ----------------------------------------------------------------------


def _image_problem(path: Path) -> tuple[str, str | None] | None:
    """Why the image cannot be used (message, fix), or None if it can (see bot.images)."""
    from bot.images import check_image

    bad = check_image(path)
    return (bad.message, bad.fix) if isinstance(bad, ImageProblem) else None


def _read_yaml(path: Path, workspace: Path, memo: Reloader, scan: Scan, model: type[BaseModel] | None,
               vocabulary: set[str] | None = None) -> tuple[Any, Located | None, list[Problem]]:
    """One YAML file, validated against ``model`` (if given): (model or None, located, problems),
    parsed again only when the file changed (bot.reload)."""

    def parse(raw: bytes | None) -> tuple[tuple[Any, Located | None, list[Problem]], list[Path]]:
        located, errs = read_yaml(path, workspace, raw)
        if located is None or errs or model is None:
            return (None, located, errs), []
        obj, errs = validate(model, located.data or {}, located, vocabulary=vocabulary)
        return (obj, located, errs), []

    obj, located, problems = memo.get(path, scan, parse, B.YAML_FILE_BYTES_MAX)
    return obj, located, list(problems)


def _read_config(files: Files, workspace: Path, memo: Reloader, scan: Scan) -> None:
    """config/campaign.yaml, config/units.yaml and (if present) config/milestones.yaml."""

    def one(rel: str, model: type[BaseModel], required: bool = True,
            vocabulary: set[str] | None = None) -> tuple[Any, Located | None]:
        path = workspace / rel
        if not path.is_file():
            if required:
                files.problems.append(Problem(rel, None, None, "thiếu tệp", f"tạo {rel} theo mẫu của chiến dịch mẫu"))
            return None, None
        obj, located, errs = _read_yaml(path, workspace, memo, scan, model, vocabulary)
        files.problems.extend(errs)
        return obj, located

    files.campaign, files.campaign_loc = one("config/campaign.yaml", CampaignFile)
    # a misspelt account key suggests the right one: the registered platforms' account fields are known keys
    units_vocabulary = model_fields_vocabulary(UnitsFile, *(p.account for p in spec.all_specs()))
    files.units, files.units_loc = one("config/units.yaml", UnitsFile, vocabulary=units_vocabulary)
    milestones, files.milestones_loc = one("config/milestones.yaml", MilestonesFile, required=False)
    if milestones is not None:
        files.milestones = milestones


def _read_schedules(files: Files, workspace: Path, memo: Reloader, scan: Scan) -> None:
    """schedules/*.yaml: every schedule, and the one ``settings:`` block."""
    settings_from: str | None = None
    for path in scan.under(workspace, "schedules", ".yaml", recursive=False):
        sf, located, errs = _read_yaml(path, workspace, memo, scan, SchedulesFile)
        files.problems.extend(errs)
        if sf is None or located is None:
            continue
        if sf.settings is not None:
            if settings_from:
                files.problems.append(located.problem(("settings",), f"'settings' đã có trong {settings_from}",
                                                      "chỉ khai báo settings trong một tệp lịch"))
            files.settings, settings_from = sf.settings, located.file
        for i, sch in enumerate(sf.schedules):
            files.schedules.append((sch, located, i))


def _read_stories(files: Files, workspace: Path, memo: Reloader, scan: Scan) -> None:
    """content/**/*.md (a README.md is not a story), each parsed again only when it or a photo changed."""
    content_dir = workspace / "content"
    for path in scan.under(workspace, "content", ".md"):
        if path.name.lower() == "readme.md":
            continue

        def parse(raw: bytes | None, path: Path = path) -> tuple[tuple[Story | None, list[Problem]], list[Path]]:
            story, errs, deps = load_story(path, workspace, content_dir, _image_problem, raw)
            return (story, errs), deps

        story, errs = memo.get(path, scan, parse, B.STORY_FILE_BYTES_MAX)
        files.problems.extend(errs)
        if story is not None:
            files.stories.append(story)
    if len(files.stories) > B.STORIES_MAX:
        files.problems.append(Problem("content", None, None,
                                      f"có {len(files.stories):,} bài, tối đa {B.STORIES_MAX:,}".replace(",", "."),
                                      "chuyển các bài cũ đã đăng ra khỏi content/"))


def _read_banners(files: Files, workspace: Path, memo: Reloader, scan: Scan) -> None:
    """banners/*.yaml: the templates (ids unique), each with its assets present and readable."""
    paths = scan.under(workspace, "banners", ".yaml", recursive=False)
    if not paths:
        return
    from bot.banners.schema import BannerTemplate, template_assets

    vocab = model_fields_vocabulary(BannerTemplate)
    where: dict[str, Located] = {}
    for path in paths:

        def parse(raw: bytes | None, path: Path = path) -> tuple[tuple[Any, ...], list[Path]]:
            located, errs = read_yaml(path, workspace, raw)
            if located is None:
                return (None, None, errs, []), []
            if not isinstance(located.data, dict) or set(located.data) != {"banner"}:
                return (None, None, [*errs, located.problem((), "tệp mẫu banner phải có đúng một khóa 'banner:'",
                                                            "xem banners/story.yaml")], []), []
            tpl, more = validate(BannerTemplate, located.data["banner"], located, ("banner",), vocab)
            if tpl is None:
                return (None, located, errs + more, []), []
            asset_problems, deps = _asset_problems(tpl, template_assets(tpl), workspace, located)
            return (tpl, located, errs + more, asset_problems), deps

        tpl, located, errs, asset_problems = memo.get(path, scan, parse, B.YAML_FILE_BYTES_MAX)
        files.problems += errs
        if tpl is None:
            continue
        if tpl.id in files.banners:
            files.problems.append(located.problem(("banner", "id"), f"mẫu banner '{tpl.id}' đã có trong {where[tpl.id].file}",
                                                  "đặt một id khác"))
            continue
        files.problems += asset_problems
        files.banners[tpl.id] = tpl
        where[tpl.id] = located


def _asset_problems(tpl: Any, assets: list[str], workspace: Path, located: Located) -> tuple[list[Problem], list[Path]]:
    """The template's assets that are missing or unreadable, and the asset paths (for bot.reload)."""
    problems: list[Problem] = []
    deps: list[Path] = []
    root = (workspace / "banners").resolve()
    for asset in assets:
        target = (workspace / "banners" / asset).resolve()
        deps.append(target)
        if not target.is_relative_to(root) or not target.is_file():
            problems.append(located.problem(("banner",), f"không tìm thấy tệp '{asset}' của mẫu banner",
                                            "đặt tệp trong banners/assets/ và ghi đường dẫn như assets/logo.png"))
        elif (bad := _image_problem(target)) is not None:
            problems.append(located.problem(("banner",), f"ảnh '{asset}' của mẫu banner: {bad[0]}", bad[1]))
    return problems, deps


def _read_media(files: Files) -> None:
    """``media:`` of config/campaign.yaml, validated by the module that publishes images."""
    if files.campaign is None or files.campaign.campaign.media is None or files.campaign_loc is None:
        return
    try:
        from bot.media import MediaSettings
    except ImportError:  # pragma: no cover - the media module ships with the Zalo channel
        files.media = files.campaign.campaign.media
        return
    files.media, errs = validate(MediaSettings, files.campaign.campaign.media, files.campaign_loc, ("campaign", "media"))
    files.problems.extend(errs)


def _output_folder_problems(workspace: Path, media: Any) -> list[Problem]:
    """The folders a tick writes into (outbox/, a media folder inside the workspace) must not lead
    out of the workspace through a symlink: ``.gitignore``'s ``outbox/`` matches folders only, so
    such a link can arrive with a shared campaign repository (issue 12)."""
    from bot.files import escaping_link

    folders = [workspace / "outbox"]
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


# --- the entry point ------------------------------------------------------------------------


_reuse_lock = threading.Lock()


def load_campaign(workspace: Path, *, reuse: bool = False) -> Campaign:
    """Read and validate the whole campaign folder, or raise LoadError with every problem.

    ``reuse`` (`run`, `tick`: see bot.lastgood): files unchanged since this process last loaded the
    folder are not parsed again, and a folder where nothing changed gives the same result at the cost of
    listing it (bot.reload). Without it every file is read and parsed (`check`, `sync`, the tests)."""
    workspace = workspace.resolve()
    if not (workspace / "config").is_dir():
        raise LoadError([Problem(str(workspace), None, None, "không phải thư mục chiến dịch (không có config/)",
                                 "chạy trong thư mục chiến dịch hoặc chỉ ra nó bằng --workspace ĐƯỜNG_DẪN")])
    with _reuse_lock if reuse else nullcontext():  # one load at a time shares a workspace's memory
        memo = reloader(workspace) if reuse else Reloader()
        memo.within(tuple((p.name, id(p)) for p in spec.all_specs()))  # platforms are checked against the registry
        memo.begin()
        if not (reuse and memo.unchanged(workspace)):
            scan = Scan.take(workspace)
            memo.finish(scan, _load(workspace, scan, memo))
        result = memo.result
    # checked at every load: outbox/ is not a campaign file (the bot writes there every minute)
    problems = list(result) if isinstance(result, list) else []
    problems += _output_folder_problems(workspace, result.config.media if isinstance(result, Campaign) else
                                        _campaign_media(workspace, memo))
    if problems:
        raise LoadError(problems)
    return result


def _campaign_media(workspace: Path, memo: Reloader) -> Any:
    """``media:`` of config/campaign.yaml as the last load read it (None if it did not validate)."""
    entry = memo.entries.get(str(workspace / "config" / "campaign.yaml"))
    obj = entry.value[0] if entry is not None else None
    return obj.campaign.media if isinstance(obj, CampaignFile) else None


def _load(workspace: Path, scan: Scan, memo: Reloader) -> Campaign | list[Problem]:
    """Every file, then the checks across files: the Campaign, or the problems (outbox/ aside)."""
    files = Files()
    _read_config(files, workspace, memo, scan)
    _read_schedules(files, workspace, memo, scan)
    _read_stories(files, workspace, memo, scan)
    _read_banners(files, workspace, memo, scan)
    _read_media(files)
    check_documents(files)
    unit_ids = check_units(files)
    if unit_ids:
        check_schedules(files, unit_ids)
        check_stories(files, unit_ids)
        check_milestones(files, unit_ids)
    if files.problems or files.campaign is None or files.units is None:
        return files.problems
    return Campaign(
        workspace=workspace,
        config=files.campaign.campaign,
        units=files.units.units,
        schedules=[s for s, _, _ in files.schedules],
        settings=files.settings,
        milestones=files.milestones,
        stories=files.stories,
        banners=files.banners,
        media=files.media,
        config_hash=_config_hash(workspace, scan, files.stories),
        warnings=skipped_files(workspace, scan) + [  # issue 18: a video not checked (no ffprobe here)
            story.located.problem(("video",), *story.attachments["_video_unchecked"])
            for story in files.stories if story.attachments.get("_video_unchecked")],
    )


def _config_hash(workspace: Path, scan: Scan, stories: list[Story]) -> str:
    """What the store compares to know whether the campaign changed: the YAML files' bytes, the stories' hashes."""
    hashed = [workspace / "config" / n for n in ("campaign.yaml", "units.yaml", "milestones.yaml")]
    hashed = [p for p in hashed if p.is_file()]
    hashed += scan.under(workspace, "schedules", ".yaml", recursive=False)
    hashed += scan.under(workspace, "banners", ".yaml", recursive=False)
    h = hashlib.sha256()
    for p in hashed:
        h.update(p.as_posix().encode())
        h.update(p.read_bytes())
    # each story's file name too: a story renamed without an edit is another id (the store retires the old one)
    stories_part = json.dumps(sorted((s.source, s.content_hash) for s in stories), ensure_ascii=False)
    return hashlib.sha256((h.hexdigest() + stories_part).encode()).hexdigest()

