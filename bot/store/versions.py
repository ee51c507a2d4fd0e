"""Versions of a story (issue 16): a hash of what its post shows as text and one of its image.

Every sync calls :func:`record_version`; a change of either hash makes a new :class:`ContentVersion`
and bumps ``ContentItem.version``, which :mod:`bot.corrections` compares with what each post shows.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from bot.store.models import AuditLog, ContentItem, ContentVersion

if TYPE_CHECKING:
    from bot.load import Campaign



def _digest(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def text_hash(row: ContentItem) -> str:
    """What a post shows as text."""
    return _digest([row.title, row.body, row.link, list(row.tags or []), row.kind])


def image_hash(row: ContentItem, workspace: Path) -> str:
    """What a post shows as image: the photo files' bytes, and the banner with what is drawn on it."""
    photos = []
    for rel in row.images or ([row.image] if row.image else []):
        try:
            photos.append(hashlib.sha256((workspace / rel).read_bytes()).hexdigest())
        except OSError:
            photos.append(f"missing:{rel}")
    return _digest([photos, row.banner, row.title, row.banner_data or {}])


def record_version(s: Session, row: ContentItem, campaign: Campaign, now: datetime,
                   withdrawn: str | None = None) -> int:
    """After a sync wrote ``row``: keep a new version when its text or image changed; note a withdrawal.

    Returns the item's version. A withdrawal is sticky (never undone by a file change)."""
    th, ih = text_hash(row), image_hash(row, campaign.workspace)
    latest = s.exec(
        select(ContentVersion).where(ContentVersion.content_id == row.id).order_by(col(ContentVersion.version).desc())
    ).first()
    if latest is None:
        version = row.version or 1
        s.add(ContentVersion(content_id=row.id, version=version, content_hash=row.content_hash, text_hash=th,
                             image_hash=ih, changed=[], at=now))
        row.version = version
    elif (latest.text_hash, latest.image_hash) != (th, ih):
        changed = [name for name, old, new in (("text", latest.text_hash, th), ("image", latest.image_hash, ih))
                   if old != new]
        row.version = latest.version + 1
        s.add(ContentVersion(content_id=row.id, version=row.version, content_hash=row.content_hash, text_hash=th,
                             image_hash=ih, changed=changed, at=now))
        s.add(AuditLog(action="content.version", subject=row.id, detail={"version": row.version, "changed": changed}))
    if withdrawn and not row.withdrawn:
        row.withdrawn, row.withdrawn_at = withdrawn, now
        s.add(AuditLog(action="content.withdrawn", subject=row.id, detail={"reason": withdrawn, "by": "tệp bài"}))
    return row.version


def changes_between(s: Session, content_id: str, old: int, new: int) -> set[str]:
    """What differs between two versions of an item: {"text", "image"}."""
    rows = {v.version: v for v in s.exec(
        select(ContentVersion).where(ContentVersion.content_id == content_id,
                                     col(ContentVersion.version).in_([old, new]))
    ).all()}
    a, b = rows.get(old), rows.get(new)
    if a is None or b is None:
        return {"text", "image"}
    return {name for name, x, y in (("text", a.text_hash, b.text_hash), ("image", a.image_hash, b.image_hash))
            if x != y}
