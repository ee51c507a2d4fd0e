"""Last known good: a campaign folder that fails validation never stops the bot.

Loading stays all-or-nothing (:func:`bot.load.load_campaign`). What changes is what a failed load
means for a running bot: the change is refused and the campaign goes on from the last version that
validated, kept in the store. Nothing of the broken version is used, not even its files that are
valid on their own: a half-applied change is worse than none.

How the last good version is kept (decided for issue 11):

- On every successful load whose ``config_hash`` differs from the newest snapshot, a
  :class:`~bot.store.models.CampaignVersion` row stores the **raw text of every campaign file**
  (``config/*.yaml``, ``schedules/*.yaml``, ``banners/*.yaml``, ``content/**/*.md``) with its
  relative path, the campaign's hash and the time it was loaded. The texts are read after the load
  and each is compared with the hash of the bytes the load parsed (bot.reload keeps them), so a
  file edited during the load is not snapshotted half-way. A minute where nothing changed reads no
  text at all: the loader only lists the folder (issue 15).
  Only the newest :data:`KEEP_VERSIONS` rows are kept.
- On a failed load the Campaign is **rebuilt from the snapshot texts**, not from the broken
  folder: the texts are written to a temporary folder and loaded by the ordinary loader, then the
  campaign's ``workspace`` is pointed back at the real folder. Images and banner assets are not
  copied into the store: they stay referenced by path (the snapshot lists them, and empty
  placeholders stand in for them during the rebuild, which only checks that they exist). A photo
  deleted from the real folder therefore fails at posting time for that post only.
- The folder's state (valid, or invalid since when, with which problems) is a row of ``meta``
  (``folder_state``). Each valid → invalid transition opens a numbered incident and records one
  ``folder.invalid`` alert event; the next good load records ``folder.valid`` for the same
  incident. The keys are unique in the store, so several processes record each once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.load import Campaign, LoadError, Problem, load_campaign
from bot.reload import Scan, digest_of, reloader
from bot.store.db import Store
from bot.store.models import CampaignVersion, Meta, utcnow
from bot.vn import ngay_gio

log = logging.getLogger(__name__)

KEEP_VERSIONS = 5
META_STATE = "folder_state"
MAX_PROBLEMS_KEPT = 50


def campaign_files(workspace: Path) -> list[str]:
    """The files a load reads as text (workspace-relative), in the loader's own order and with its own
    exclusions: the listing is bot.reload's, as for the load itself."""
    files = [f"config/{n}" for n in ("campaign.yaml", "units.yaml", "milestones.yaml")]
    files = [rel for rel in files if (workspace / rel).is_file()]
    scan = Scan.take(workspace)
    files += scan.names("schedules", ".yaml", recursive=False)
    files += scan.names("content", ".md")
    files += scan.names("banners", ".yaml", recursive=False)
    return files


def read_texts(workspace: Path) -> dict[str, str] | None:
    """Relative path → text of every campaign file; None if one cannot be read as UTF-8 text."""
    out: dict[str, str] = {}
    for rel in campaign_files(workspace):
        try:
            with open(os.path.join(workspace, rel), "rb") as f:
                out[rel] = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return out


def texts_hash(texts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(texts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def campaign_assets(campaign: Campaign) -> list[str]:
    """Binary files the campaign references (workspace-relative): story photos, videos and PDFs, banner assets."""
    assets: list[str] = []
    for story in campaign.stories:
        assets.extend(story.images)
        assets.extend(v for k in ("video", "document") if (v := story.attachments.get(k)))  # issue 18
    try:
        from bot.banners.schema import template_assets
    except ImportError:  # pragma: no cover
        return sorted(set(assets))
    for tpl in campaign.banners.values():
        assets.extend(f"banners/{a}" for a in template_assets(tpl))
    return sorted(set(assets))


# --- the folder's state ---------------------------------------------------------------------


@dataclass
class FolderState:
    """What the staff must know about the folder: is it valid, and which version runs."""

    ok: bool = True
    since: datetime | None = None  # when it became invalid (as first recorded by a tick)
    problems: list[dict[str, Any]] = field(default_factory=list)
    incident: int = 0  # numbered valid → invalid transitions
    version_id: int | None = None  # the snapshot the campaign runs on
    version_loaded_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "invalid_since": self.since.isoformat() if self.since else None,
            "problems": self.problems,
            "running_version": self.version_id,
            "running_version_loaded_at": self.version_loaded_at.isoformat() if self.version_loaded_at else None,
        }

    def header_lines(self, tz: Any, limit: int = 10) -> list[str]:
        """The Vietnamese notice shown at the top of status, channels, milestones, preview, report."""
        if self.ok:
            return []
        since = f" từ {ngay_gio(self.since, tz)}" if self.since else ""
        lines = [f"⚠ Thư mục chiến dịch có lỗi{since} — thay đổi chưa được áp dụng:"]
        for p in self.problems[:limit]:
            lines.append("  ✗ " + problem_text(p))
        if len(self.problems) > limit:
            lines.append(f"  … và {len(self.problems) - limit} lỗi khác (xem `campaign-bot check`).")
        if self.version_loaded_at is not None:
            lines.append(
                f"  Chiến dịch vẫn chạy theo phiên bản hợp lệ nạp lúc {ngay_gio(self.version_loaded_at, tz)}."
            )
        else:
            lines.append("  Chưa có phiên bản hợp lệ nào trong dữ liệu: chưa lập lịch được cho đến khi sửa xong.")
        lines.append("  Sửa tệp rồi chạy `campaign-bot check`; lượt chạy kế tiếp sẽ tự nạp bản đã sửa.")
        return lines


def problem_dict(p: Problem) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "field": p.field, "message": p.message, "fix": p.fix}


def problem_text(p: dict[str, Any]) -> str:
    """A stored problem (see :func:`problem_dict`) on one line."""
    return Problem(**p).one_line()


def _read_state(store: Store) -> dict[str, Any]:
    with store.session() as s:
        row = s.get(Meta, META_STATE)
        if row is None:
            return {}
        try:
            return json.loads(row.value)
        except ValueError:
            return {}


def latest_version(store: Store) -> CampaignVersion | None:
    with store.session() as s:
        return s.exec(select(CampaignVersion).order_by(col(CampaignVersion.id).desc()).limit(1)).first()


@dataclass(frozen=True)
class VersionHeader:
    """The newest snapshot without its texts: what every tick needs (reading the texts, megabytes at
    10,000 stories, is left to the rare tick that rebuilds a broken folder's campaign)."""

    id: int
    config_hash: str
    loaded_at: datetime


def newest_header(store: Store) -> VersionHeader | None:
    with store.session() as s:
        row = s.exec(select(CampaignVersion.id, CampaignVersion.config_hash, CampaignVersion.loaded_at)
                     .order_by(col(CampaignVersion.id).desc()).limit(1)).first()
    return VersionHeader(*row) if row is not None else None


# --- saving and rebuilding ------------------------------------------------------------------


def save_version(store: Store, campaign: Campaign, texts: dict[str, str], now: datetime) -> CampaignVersion:
    """Keep ``texts`` as the last good version unless the newest snapshot already is this campaign."""
    with store.session() as s:
        newest = s.exec(select(CampaignVersion).order_by(col(CampaignVersion.id).desc()).limit(1)).first()
        if newest is not None and newest.config_hash == campaign.config_hash:
            return newest
        row = CampaignVersion(config_hash=campaign.config_hash, files=texts, assets=campaign_assets(campaign),
                              loaded_at=now)
        s.add(row)
        s.flush()
        old = s.exec(select(CampaignVersion.id).order_by(col(CampaignVersion.id).desc()).offset(KEEP_VERSIONS)).all()
        for vid in old:
            victim = s.get(CampaignVersion, vid)
            if victim is not None:
                s.delete(victim)
        return row


_rebuilt: dict[tuple[str, int], Campaign] = {}


def rebuild(version: CampaignVersion, workspace: Path) -> Campaign:
    """The Campaign of a snapshot, loaded by the ordinary loader from the snapshot's texts.

    Raises LoadError if even the snapshot does not load (a newer bot refusing an old folder)."""
    assert version.id is not None
    key = (str(workspace), version.id)
    if key in _rebuilt:
        return _rebuilt[key]
    with tempfile.TemporaryDirectory(prefix="campaign-lastgood-") as tmp:
        root = Path(tmp)
        for rel, text in version.files.items():
            target = (root / rel).resolve()
            if not target.is_relative_to(root.resolve()):
                continue  # never write outside the temporary folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        for rel in version.assets:
            target = (root / rel).resolve()
            if target.is_relative_to(root.resolve()) and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                _stand_in(workspace / rel, target)
        loaded = load_campaign(root)
    campaign = replace(loaded, workspace=workspace.resolve(), config_hash=version.config_hash)
    if len(_rebuilt) > 8:
        _rebuilt.clear()
    _rebuilt[key] = campaign
    return campaign


def _stand_in(real: Path, target: Path) -> None:
    """What the loader checks of an image (it exists and opens): the real file (hard link, else a copy),
    or a 1×1 image of the same format if it was deleted since. Posts always read the real file by path."""
    import shutil

    if real.is_file():
        try:
            os.link(real, target)
            return
        except OSError:
            try:
                shutil.copyfile(real, target)
                return
            except OSError:
                pass
    from PIL import Image

    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}.get(target.suffix.lower(), "PNG")
    Image.new("RGB", (1, 1), "white").save(target, format=fmt)


# --- the one entry point --------------------------------------------------------------------


@dataclass
class Running:
    """The campaign to run on now, and what the staff must be told about the folder."""

    campaign: Campaign | None
    folder: FolderState
    problems: list[Problem] = field(default_factory=list)  # of the folder as it is now
    new_version: bool = False  # this load stored a new good version

    def header_lines(self) -> list[str]:
        tz = self.campaign.tz if self.campaign is not None else UTC
        return self.folder.header_lines(tz)


def load_running(workspace: Path, store: Store, now: datetime | None = None, *, record: bool = True) -> Running:
    """Load the folder; if it fails, the last good version from the store.

    ``record`` (tick and run): store the new good version, note the folder's state and the alert
    events of its transitions. Without it (status, reports…) nothing in the store changes.
    """
    now = now or utcnow()
    workspace = workspace.resolve()
    try:
        # files unchanged since the last load of this process are not parsed again (bot.reload)
        campaign = load_campaign(workspace, reuse=True)
    except LoadError as exc:
        return _on_failure(workspace, store, exc.problems, now, record)
    state = _read_state(store)
    newest = newest_header(store)
    version: VersionHeader | CampaignVersion | None = None
    if newest is not None and newest.config_hash == campaign.config_hash:
        version = newest
    new = False
    if record and version is None and (texts := texts_as_loaded(workspace)) is not None:
        version = save_version(store, campaign, texts, now)
        new = newest is None or newest.id != version.id
    if record and state.get("ok") is False:
        _mark_valid(store, state, version, now)
    folder = FolderState(ok=True, incident=int(state.get("incident", 0)),
                         version_id=version.id if version else None,
                         version_loaded_at=version.loaded_at if version else now)
    return Running(campaign, folder, [], new)


def texts_as_loaded(workspace: Path) -> dict[str, str] | None:
    """The texts of the campaign files exactly as the last load of ``workspace`` read them, or None if
    one changed since (or appeared, or went): a version is only kept when it is the one that loaded.

    Read only when a new version is to be kept, never on a minute where nothing changed."""
    texts = read_texts(workspace)
    if texts is None:
        return None
    memo = reloader(workspace)
    wanted = set(memo.entries)  # every file the load parsed (or kept from an earlier load)
    seen: set[str] = set()
    top = str(workspace) + os.sep
    for rel, text in texts.items():
        key = top + rel
        digest = memo.digest(key)
        if digest is None:
            if rel.rsplit("/", 1)[-1].lower() == "readme.md":
                continue  # kept with the texts, never loaded
            return None  # a file the load did not read
        if digest != digest_of(text.encode("utf-8")):
            return None
        seen.add(key)
    return texts if seen == wanted else None


def _on_failure(workspace: Path, store: Store, problems: list[Problem], now: datetime, record: bool) -> Running:
    version = newest_header(store)
    state = _read_state(store)
    probs = [problem_dict(p) for p in problems[:MAX_PROBLEMS_KEPT]]
    if record:
        state = _mark_invalid(store, probs, version, now)
    since = state.get("since") if state.get("ok") is False else None
    folder = FolderState(
        ok=False,
        since=datetime.fromisoformat(since) if since else None,
        problems=probs,
        incident=int(state.get("incident", 0)),
        version_id=version.id if version else None,
        version_loaded_at=version.loaded_at if version else None,
    )
    campaign: Campaign | None = None
    if version is not None:
        try:
            cached = _rebuilt.get((str(workspace), version.id))
            full = None if cached is not None else latest_version(store)
            campaign = cached or (rebuild(full, workspace) if full is not None else None)
        except LoadError as exc:
            log.error("phiên bản hợp lệ gần nhất (#%s) cũng không nạp được: %s", version.id, exc)
    return Running(campaign, folder, problems)


def _write_state(s: Any, state: dict[str, Any]) -> None:
    row = s.get(Meta, META_STATE) or Meta(key=META_STATE, value="{}")
    row.value = json.dumps(state, ensure_ascii=False)
    s.add(row)


def _mark_invalid(store: Store, problems: list[dict[str, Any]], version: VersionHeader | CampaignVersion | None,
                  now: datetime) -> dict[str, Any]:
    """Record the folder as invalid; a new incident (and its alert event) only on the transition."""
    from bot.alerts import insert_ignore, record_event

    with store.session() as s:
        insert_ignore(s, Meta, {"key": META_STATE, "value": "{}"})  # so that two processes lock the same row
        row = s.exec(select(Meta).where(Meta.key == META_STATE).with_for_update()).first()
        state = json.loads(row.value) if row is not None else {}
        if state.get("ok") is False:
            state["problems"] = problems  # still broken: show the current errors, keep the incident
            _write_state(s, state)
            return state
        incident = int(state.get("incident", 0)) + 1
        state = {"ok": False, "since": now.isoformat(), "incident": incident, "problems": problems}
        _write_state(s, state)
        record_event(
            s, f"folder.invalid:{incident}", "folder.invalid", subject="config", at=now,
            detail={"problems": problems[:20], "count": len(problems),
                    "version_loaded_at": version.loaded_at.isoformat() if version else None},
        )
        return state


def _mark_valid(store: Store, old: dict[str, Any], version: VersionHeader | CampaignVersion | None, now: datetime) -> None:
    from bot.alerts import record_event

    with store.session() as s:
        row = s.exec(select(Meta).where(Meta.key == META_STATE).with_for_update()).first()
        state = json.loads(row.value) if row is not None else {}
        if state.get("ok") is not False:
            return  # another process saw the fix first
        incident = int(state.get("incident", 0))
        _write_state(s, {"ok": True, "incident": incident, "valid_since": now.isoformat()})
        record_event(
            s, f"folder.valid:{incident}", "folder.valid", subject="config", at=now,
            detail={"invalid_since": state.get("since"),
                    "version_loaded_at": version.loaded_at.isoformat() if version else now.isoformat()},
        )


def folder_state(store: Store) -> dict[str, Any]:
    """The recorded state (for `alerts` and the report)."""
    return _read_state(store)
