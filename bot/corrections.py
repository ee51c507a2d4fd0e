"""Corrections and withdrawal of published posts (issue 16): versions, and the actions they need.

A wrong name under the union's logo must be fixed on every Page and OA the post reached, fast and
provably. This module decides *what* must change; :mod:`bot.worker` does it, with the same guarantees
as publishing (claimed, leased, retried, held, reconciled, never twice, one call per channel).

* **Versions.** Every sync computes, for each story, a hash of what a post shows as text (title, body,
  link, tags, kind) and one of its image (photo files, banner template and the banner's inputs). A
  change of either makes a new :class:`ContentVersion` (every version's hashes are kept) and bumps
  ``ContentItem.version``. A sent delivery records the version its post shows (``post_version``).
* **Corrections.** A sent post whose version is older than its item's gets a :class:`PostAction`,
  as the campaign's ``corrections:`` policy says (per kind if wanted): ``edit`` in place, ``repost``
  (remove, then publish the new version) or ``leave``. Facebook cannot replace a photo: an image
  change on Facebook falls back to ``repost`` or, with ``image: report``, the text is edited and a
  person is told. Deliveries not yet sent simply use the newest version when they go.
* **Withdrawal.** ``withdrawn: "lý do"`` in a story's front matter (or `campaign-bot withdraw`, which
  writes it there; milestone announcements are withdrawn by id in the store) cancels every pending
  delivery of the item and removes every post of it. It is sticky: a withdrawn item is never planned
  again, even if the line is later removed from the file.

Platform facts this relies on (checked with the docs/issues corpora; see also
/work/shared/api-notes/graph-api.md and zalo-oa-api.md):

* Facebook: update a post with ``POST /{page-post-id}`` (``message``) → ``{"success": true}``, *only
  for posts made by the same app*; otherwise ``(#200) App cannot edit non-app posts`` (jgorset/facepy
  #149; Pages API "Posts" guide, developers.facebook.com/docs/pages-api/posts). Delete with ``DELETE
  /{page-post-id}`` → ``{"success": true}`` (same guide). An unknown or deleted id answers ``#100``
  subcode 33 "Object with ID … does not exist" (graph-api.md, error table). A photo of a published
  post cannot be replaced through the API: only its text (``message``) is editable.
* Zalo: ``POST /v2.0/article/update`` with the create body plus ``id`` returns a new token that must be
  verified like a new article (``POST /v2.0/article/verify``); ``POST /v2.0/article/remove`` with
  ``{"id"}`` → ``{"error":0}``; an unknown or removed id answers ``-201 "id is invalid!"``
  (zalo-oa-api.md §2.3, from zaloplatform/zalo-java-sdk ``UpdateNormalArticle.java``,
  ``RemoveArticle.java``). A broadcast message already sent cannot be recalled: there is no such call.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.load import Campaign
from bot.store.models import AuditLog, ContentItem, Delivery, DeliveryState, PostAction
from bot.store.versions import changes_between

log = logging.getLogger(__name__)

OPEN = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.RETRY)
DONE = "done"
PRIORITY = {"remove": 200, "repost": 100, "edit": 100}
ACTION_LABELS = {"edit": "sửa tại chỗ", "repost": "gỡ rồi đăng lại", "remove": "gỡ bài"}


# --- what must change --------------------------------------------------------------------------


@dataclass
class Planned:
    """One post that changes (or one pending delivery that is cancelled), for listings and dry runs."""

    content_id: str
    delivery_id: int
    unit_id: str
    channel_id: str
    platform: str
    action: str  # edit | repost | remove | cancel | check | report
    post_id: str | None = None
    url: str | None = None
    posted_at: datetime | None = None
    why: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"content": self.content_id, "delivery": self.delivery_id, "unit": self.unit_id,
                "channel": self.channel_id, "platform": self.platform, "action": self.action,
                "post_id": self.post_id, "url": self.url,
                "posted_at": self.posted_at.isoformat() if self.posted_at else None, "why": self.why,
                "notes": list(self.notes)}


def post_url(d: Delivery) -> str | None:
    """The post's link as the platform gave it, else one built from its id."""
    extra = d.extra or {}
    url = extra.get("url") or extra.get("article_url")
    if url:
        return str(url)
    pid = d.platform_post_id or ""
    if pid.startswith("outbox:"):
        return pid
    if d.platform == "facebook" and "_" in pid:
        page, _, rest = pid.partition("_")
        return f"https://www.facebook.com/{page}/posts/{rest}"
    return None


def _broadcast_note(d: Delivery) -> list[str]:
    if d.platform == "zalo" and str((d.extra or {}).get("broadcast", "")).startswith(("sent", "unknown")):
        return ["tin nhắn broadcast đã gửi tới người quan tâm không thu hồi được (Zalo không có lệnh thu hồi)"]
    return []


def _has_images(d: Delivery) -> bool:
    """Whether the Facebook post carries photos (a photo post or an album): its photos cannot be replaced."""
    extra = d.extra or {}
    return bool(extra.get("fb_photo_id") or extra.get("fb_media_ids"))


def plan_corrections(s: Session, campaign: Campaign, now: datetime, *, apply: bool = True,
                     only: str | None = None, actor: str = "bot") -> list[Planned]:
    """Everything that must change now for changed and withdrawn items; written when ``apply``.

    Idempotent: a delivery with an open action (pending, retry, sending) gets nothing new, and the
    unique (delivery, action, version) makes a second planner's insert fail harmlessly."""
    from bot.plan import in_quiet_hours, quiet_end

    settings = campaign.config.corrections
    due = quiet_end(campaign, now) if settings.quiet_hours and in_quiet_hours(campaign, now) else now
    # Only withdrawn or edited items can need anything (a few stories): every worker pass asks this
    # question, and looking their deliveries up by story (uq_delivery) keeps it from reading the
    # whole history each time (issue 15).
    touched = select(ContentItem.id).where(col(ContentItem.withdrawn).is_not(None) | (ContentItem.version > 1))
    if only is not None:
        touched = touched.where(ContentItem.id == only)
    items = sorted(s.exec(touched).all())  # in order: the chunks below keep the rows sorted by story
    if not items:
        return []
    query = (
        select(Delivery, ContentItem)
        .join(ContentItem, col(ContentItem.id) == Delivery.content_id)
        .where(
            col(Delivery.removed_at).is_(None),
            (col(ContentItem.withdrawn).is_not(None) & col(Delivery.state).in_(
                [DeliveryState.PENDING, DeliveryState.RETRY, DeliveryState.SENT]))
            | ((Delivery.state == DeliveryState.SENT)
               & (func.coalesce(Delivery.post_version, 1) < ContentItem.version)),
        )
        .order_by(col(Delivery.content_id), col(Delivery.channel_id))
    )
    rows = [row for i in range(0, len(items), 500)
            for row in s.exec(query.where(col(Delivery.content_id).in_(items[i:i + 500]))).all()]
    if not rows:
        return []
    ids = [d.id for d, _ in rows]
    actions: dict[int, list[PostAction]] = {}
    for i in range(0, len(ids), 500):
        for a in s.exec(select(PostAction).where(col(PostAction.delivery_id).in_(ids[i:i + 500]))).all():
            actions.setdefault(a.delivery_id, []).append(a)
    out: list[Planned] = []
    for d, content in rows:
        assert d.id is not None
        mine = actions.get(d.id, [])
        open_ = [a for a in mine if a.state in OPEN]
        base = dict(content_id=d.content_id, delivery_id=d.id, unit_id=d.unit_id, channel_id=d.channel_id,
                    platform=d.platform, post_id=d.platform_post_id, url=post_url(d), posted_at=d.sent_at)
        if content.withdrawn:
            why = f"rút bài: {content.withdrawn}"
            if d.state in (DeliveryState.PENDING, DeliveryState.RETRY):
                if d.needs_check:
                    # An earlier call may have made the post: the worker asks the platform first, then
                    # records it as sent (and it is removed) or cancels it.
                    out.append(Planned(**base, action="check", why=why))
                    if apply:
                        s.execute(update(Delivery).where(Delivery.id == d.id, col(Delivery.state).in_(
                            [DeliveryState.PENDING, DeliveryState.RETRY])).values(next_attempt_at=now, due_at=now,
                                                                                 updated_at=now))
                    continue
                out.append(Planned(**base, action="cancel", why=why))
                if apply:
                    s.execute(update(Delivery).where(Delivery.id == d.id, col(Delivery.state).in_(
                        [DeliveryState.PENDING, DeliveryState.RETRY]), Delivery.needs_check.is_(False))  # type: ignore[attr-defined]
                        .values(state=DeliveryState.SKIPPED, reason=f"đã huỷ vì {why}", next_attempt_at=None,
                                updated_at=now, extra={**(d.extra or {}), "cancelled": True}))
                    s.add(AuditLog(actor=actor, action="delivery.cancelled", subject=str(d.id),
                                   detail={"content": d.content_id, "channel": d.channel_id, "reason": why}))
                continue
            if not d.platform_post_id:
                continue
            if any(a.action == "remove" for a in open_):
                continue
            if any(a.state == DeliveryState.SENDING for a in open_):
                continue  # an edit or a repost is in flight: removed on a later pass
            if any(a.action == "remove" and a.target_post_id == d.platform_post_id for a in mine):
                continue  # removed already, or refused and reported
            out.append(Planned(**base, action="remove", why=why, notes=_broadcast_note(d)))
            if apply:
                for a in open_:
                    s.execute(update(PostAction).where(PostAction.id == a.id, col(PostAction.state).in_(
                        [DeliveryState.PENDING, DeliveryState.RETRY])).values(
                        state=DeliveryState.SKIPPED, reason=f"không làm nữa vì {why}", updated_at=now))
                _add(s, d, content, "remove", why, due, actor, mine)
            continue
        # a correction
        shown = d.post_version or 1
        if shown >= content.version or open_ or not d.platform_post_id:
            continue
        if not content.approved:
            continue  # only an approved version reaches a published post: it waits for the approval
        policy = settings.policy_for(content.kind)
        changes = changes_between(s, content.id, shown, content.version)
        what = " và ".join({"text": "nội dung chữ", "image": "ảnh"}[c] for c in sorted(changes, reverse=True))
        why = f"sửa bài: phiên bản {content.version} (đổi {what or 'nội dung'})"
        if policy == "leave":
            continue
        action, notes = policy, _broadcast_note(d)
        if action == "edit" and "image" in changes and d.platform == "facebook" and _has_images(d):
            if settings.image == "repost":
                action = "repost"
                notes.append("Facebook không cho thay ảnh của bài đã đăng: gỡ bài cũ và đăng lại")
            else:
                notes.append("Facebook không cho thay ảnh của bài đã đăng: chỉ sửa chữ, ảnh cũ vẫn còn — "
                             "cần người quyết định")
        if any(a.action == action and a.version == content.version and a.state in (DONE, DeliveryState.FAILED)
               for a in mine):
            continue  # done or refused already for this version
        out.append(Planned(**base, action=action, why=why, notes=notes))
        if apply:
            _add(s, d, content, action, why, due, actor, mine, notes=notes)
    return out


def _add(s: Session, d: Delivery, content: ContentItem, action: str, why: str, due: datetime, actor: str,
         existing: list[PostAction], notes: list[str] | None = None) -> None:
    assert d.id is not None and d.platform_post_id is not None
    extra = {"notes": notes} if notes else {}
    again = next((a for a in existing if a.action == action and a.version == content.version), None)
    if again is not None:
        # Skipped before (e.g. the version was not approved yet): the same row is planned again.
        s.execute(update(PostAction).where(PostAction.id == again.id, PostAction.state == DeliveryState.SKIPPED)
                  .values(state=DeliveryState.PENDING, target_post_id=d.platform_post_id, why=why, actor=actor,
                          due_at=due, next_attempt_at=None, needs_check=False, attempts=0, reason=None,
                          extra=extra, updated_at=due))
        return
    s.add(PostAction(delivery_id=d.id, content_id=d.content_id, channel_id=d.channel_id, unit_id=d.unit_id,
                     platform=d.platform, action=action, version=content.version, target_post_id=d.platform_post_id,
                     why=why, actor=actor, due_at=due, priority=PRIORITY[action], extra=extra))


def apply_corrections(store: Any, campaign: Campaign, now: datetime, *, only: str | None = None,
                      actor: str = "bot") -> list[Planned]:
    """Plan and write in one transaction; a concurrent planner that wrote first wins (nothing twice)."""
    try:
        with store.session() as s:
            return plan_corrections(s, campaign, now, apply=True, only=only, actor=actor)
    except sa_exc.IntegrityError:
        log.info("corrections: another process planned the same actions first")
        return []


# --- withdrawal from the command line ----------------------------------------------------------

FRONT_RE = re.compile(r"\A(---\s*\n)(.*?\n)(---\s*(?:\n|\Z))", re.S)


def write_withdrawn(path: Path, reason: str) -> None:
    """Write ``withdrawn: "lý do"`` into a story's front matter (replacing an earlier one), atomically."""
    from bot.files import atomic_write

    text = path.read_text(encoding="utf-8")
    match = FRONT_RE.match(text)
    if match is None:
        raise ValueError(f"{path}: không thấy phần đầu (front matter) giữa hai dòng '---' | fix: mở tệp và kiểm tra "
                         "dòng đầu tiên là '---'")
    line = "withdrawn: " + json.dumps(reason, ensure_ascii=False) + "\n"
    head = match.group(2)
    if re.search(r"^withdrawn\s*:.*$", head, flags=re.M):
        head = re.sub(r"^withdrawn\s*:.*\n?", line, head, count=1, flags=re.M)
    else:
        head = head + line
    atomic_write(path, (match.group(1) + head + match.group(3) + text[match.end():]).encode("utf-8"))


def withdraw_in_store(s: Session, content_id: str, reason: str, now: datetime, actor: str) -> ContentItem:
    row = s.get(ContentItem, content_id)
    if row is None:
        raise KeyError(content_id)
    if not row.withdrawn:
        row.withdrawn, row.withdrawn_at = reason, now
        s.add(row)
        s.add(AuditLog(actor=actor, action="content.withdrawn", subject=content_id,
                       detail={"reason": reason, "by": actor}))
    return row


# --- history -----------------------------------------------------------------------------------


def history(s: Session, content_id: str) -> list[dict[str, Any]]:
    """Every post of an item: where and when it was posted, each edit (when, which version), each removal
    (when, why, by whom), and what is still pending or refused."""
    deliveries = s.exec(select(Delivery).where(Delivery.content_id == content_id).order_by(
        col(Delivery.unit_id), col(Delivery.platform))).all()
    acts: dict[int, list[PostAction]] = {}
    for a in s.exec(select(PostAction).where(PostAction.content_id == content_id).order_by(col(PostAction.id))).all():
        acts.setdefault(a.delivery_id, []).append(a)
    out = []
    for d in deliveries:
        events = []
        for a in acts.get(d.id or 0, []):
            events.append({"action": a.action, "label": ACTION_LABELS.get(a.action, a.action), "state": a.state,
                           "version": a.version, "at": a.done_at or a.updated_at, "why": a.why, "by": a.actor,
                           "reason": a.reason, "old_post": a.target_post_id, "new_post": a.new_post_id,
                           "notes": list((a.extra or {}).get("notes", []))})
        out.append({"delivery": d.id, "unit": d.unit_id, "channel": d.channel_id, "platform": d.platform,
                    "state": d.state, "post_id": d.platform_post_id, "url": post_url(d), "posted_at": d.sent_at,
                    "version": d.post_version or (1 if d.state == DeliveryState.SENT else None),
                    "removed_at": d.removed_at, "reason": d.reason, "events": events})
    return out


def summary(s: Session) -> dict[str, int]:
    """Counts of edits/reposts/removals by state."""
    rows = s.exec(select(PostAction.action, PostAction.state, func.count()).group_by(
        PostAction.action, PostAction.state)).all()
    out: dict[str, int] = {}
    for action, state, n in rows:
        out[f"{action}:{state}"] = n
    return out


def report_rows(store: Any, campaign: Campaign, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Edits, reposts and removals touched in [start, end), for the report: where, what, when, why, outcome."""
    with store.session() as s:
        acts = s.exec(select(PostAction).where(col(PostAction.updated_at) >= start, col(PostAction.updated_at) < end)
                      .order_by(col(PostAction.updated_at))).all()
        titles = {c.id: c.title for c in s.exec(select(ContentItem).where(
            col(ContentItem.id).in_(sorted({a.content_id for a in acts})))).all()} if acts else {}
        links = {d.id: post_url(d) for d in s.exec(select(Delivery).where(
            col(Delivery.id).in_(sorted({a.delivery_id for a in acts})))).all()} if acts else {}
    words = {"pending": "chờ", "retry": "chờ thử lại", "sending": "đang làm", "done": "xong", "failed": "lỗi",
             "skipped": "không làm"}
    rows = []
    for a in acts:
        u = campaign.unit_by_id.get(a.unit_id)
        rows.append({"unit": (u.short_name or u.name) if u else a.unit_id, "platform": a.platform,
                     "content": a.content_id, "title": titles.get(a.content_id, a.content_id),
                     "action": ACTION_LABELS.get(a.action, a.action), "version": a.version, "state": a.state,
                     "state_label": words.get(a.state, a.state), "at": a.done_at or a.updated_at, "why": a.why or "",
                     "reason": a.reason or "", "link": links.get(a.delivery_id) or a.target_post_id,
                     "notes": list((a.extra or {}).get("notes", []))})
    return rows


# --- what `campaign-bot withdraw | corrections | history` ask for ---------------------------------


class UnknownContent(LookupError):
    """No item with this id in the store (the command says how ids are written)."""


def _rolled_back(store: Any, campaign: Campaign, work: Any) -> Any:
    """``work(session)`` on the synced store, then everything rolled back: a dry run changes nothing."""
    from bot.store.sync import sync_session

    with Session(store.engine) as s:
        try:
            sync_session(s, campaign, actor="dry-run")
            return work(s)
        finally:
            s.rollback()


def corrections_due(store: Any, campaign: Campaign, now: datetime, *, apply: bool, actor: str = "cli") -> list[Planned]:
    """Every post to edit, repost or remove because its item changed; queued when ``apply``."""
    from bot.store.sync import sync_campaign

    if not apply:
        return _rolled_back(store, campaign, lambda s: plan_corrections(s, campaign, now, apply=False))
    sync_campaign(campaign, store)
    with store.session() as s:
        return plan_corrections(s, campaign, now, apply=True, actor=actor)


def content_source(store: Any, campaign: Campaign, content_id: str) -> str | None:
    """The item's file in content/ (None for a milestone announcement, which has none)."""
    from bot.store.sync import sync_campaign

    sync_campaign(campaign, store)
    with store.session() as s:
        row = s.get(ContentItem, content_id)
        if row is None:
            raise UnknownContent(content_id)
        return row.source


def withdraw(store: Any, campaign: Campaign, content_id: str, reason: str, now: datetime, *, apply: bool,
             actor: str = "cli") -> list[Planned]:
    """Withdraw the item in the store (its file is the caller's) and queue the removal of its posts;
    without ``apply`` only list them, changing nothing. Raises :class:`UnknownContent`."""
    def work(s: Session) -> list[Planned]:
        try:
            withdraw_in_store(s, content_id, reason, now, actor=actor)
        except KeyError:
            raise UnknownContent(content_id) from None
        s.flush()
        return plan_corrections(s, campaign, now, apply=apply, only=content_id, actor=actor)

    if not apply:
        return _rolled_back(store, campaign, work)
    with store.session() as s:
        return work(s)


def content_history(store: Any, content_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The item (title, version, withdrawal) and every post of it; raises :class:`UnknownContent`."""
    with store.session() as s:
        row = s.get(ContentItem, content_id)
        if row is None:
            raise UnknownContent(content_id)
        item = {"title": row.title, "version": row.version, "withdrawn": row.withdrawn,
                "withdrawn_at": row.withdrawn_at}
        return item, history(s, content_id)
