"""Sync: write a validated campaign into the store, in one transaction.

Called only with a :class:`bot.load.Campaign` that loaded without problems, so the store is
either fully updated or untouched. Rows that disappeared from the files are marked inactive,
never deleted: their deliveries and history stay accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from sqlmodel import Session, select

from bot.load import Campaign
from bot.store.db import Store
from bot.store.models import AuditLog, Channel, ChannelState, ContentItem, Meta, MilestoneRule, Unit, utcnow
from bot.store.versions import record_version
from bot.vn import nfc


@dataclass
class SyncResult:
    units: int
    channels: int
    content_added: int
    content_changed: int
    content_retired: int
    unchanged: bool


def unit_paths(campaign: Campaign) -> dict[str, str]:
    """Materialized path of every unit: "root/child/" (ends with '/', so LIKE 'x/%' is exact)."""
    paths: dict[str, str] = {}

    def path_of(uid: str) -> str:
        if uid not in paths:
            parent = campaign.unit_by_id[uid].parent
            paths[uid] = (path_of(parent) if parent else "") + uid + "/"
        return paths[uid]

    for u in campaign.units:
        path_of(u.id)
    return paths


def sync_campaign(campaign: Campaign, store: Store, actor: str = "bot") -> SyncResult:
    """Write the campaign into the store in one transaction (skipped when nothing changed)."""
    with store.session() as s:
        return sync_session(s, campaign, actor)


def sync_session(s: Session, campaign: Campaign, actor: str = "bot") -> SyncResult:
    """The sync inside a caller's session (``preview`` rolls it back afterwards)."""
    paths = unit_paths(campaign)
    now = utcnow()
    added = changed = retired = 0
    meta = s.get(Meta, "config_hash")
    if meta is not None and meta.value == campaign.config_hash:
        n_units = len(campaign.units)
        n_channels = sum(len(u.channels) for u in campaign.units)
        return SyncResult(n_units, n_channels, 0, 0, 0, True)

    existing_units = {u.id: u for u in s.exec(select(Unit)).all()}
    for u in campaign.units:
        row = existing_units.get(u.id) or Unit(id=u.id, name=u.name, level=u.level, path=paths[u.id])
        row.name, row.short_name, row.level = u.name, u.short_name, u.level
        row.parent_id, row.target, row.path = u.parent, u.target, paths[u.id]
        s.add(row)

    existing_channels = {c.id: c for c in s.exec(select(Channel)).all()}
    wanted: set[str] = set()
    for u in campaign.units:
        for ch in u.channels:
            cid = f"{u.id}/{ch.platform}"
            wanted.add(cid)
            row = existing_channels.get(cid) or Channel(id=cid, unit_id=u.id, platform=ch.platform)
            row.account_id, row.token_env, row.broadcast, row.active = ch.account_id, ch.token_env, ch.broadcast, True
            s.add(row)
            if s.get(ChannelState, cid) is None:
                s.add(ChannelState(channel_id=cid))
    for cid, row in existing_channels.items():
        if cid not in wanted and row.active:
            row.active = False
            s.add(row)

    existing_content = {c.id: c for c in s.exec(select(ContentItem).where(ContentItem.source.is_not(None))).all()}
    seen: set[str] = set()
    for story in campaign.stories:
        f = story.front
        seen.add(story.id)
        row = existing_content.get(story.id)
        if row is not None and row.content_hash == story.content_hash and row.active:
            continue
        if row is None:
            row = ContentItem(id=story.id, title=f.title, kind=f.kind, unit_id=f.unit)
            added += 1
        else:
            changed += 1
        row.title, row.kind, row.unit_id = nfc(f.title), f.kind, f.unit
        row.audience, row.platforms = f.audience, list(f.platforms)
        row.approved, row.approved_by = f.approved, f.approved_by
        row.approved_at = campaign.local_datetime(f.approved_at).astimezone(UTC) if f.approved_at else None
        row.not_before = campaign.local_datetime(f.not_before).astimezone(UTC) if f.not_before else None
        row.expires = campaign.local_datetime(f.expires, end_of_day=True).astimezone(UTC) if f.expires else None
        row.priority, row.banner, row.link, row.tags = f.priority, f.banner, f.link, list(f.tags)
        row.image = story.images[0] if story.images else None
        row.images = list(story.images)
        row.body, row.source, row.content_hash = story.body, story.source, story.content_hash
        row.banner_data = {**({"summary": f.summary} if f.summary else {}),  # issue 18: video, document, link
                           **{k: v for k, v in story.attachments.items() if not k.startswith("_")}}
        row.active, row.updated_at = True, now
        record_version(s, row, campaign, now, withdrawn=f.withdrawn)  # issue 16: every version's hashes
        s.add(row)
    for cid, row in existing_content.items():
        if cid not in seen and row.active:
            row.active = False
            row.updated_at = now
            retired += 1
            s.add(row)

    rules = {r.id: r for r in s.exec(select(MilestoneRule)).all()}
    for rule in campaign.milestones.milestones:
        row = rules.get(rule.id) or MilestoneRule(id=rule.id, metric=rule.metric)
        row.metric, row.definition, row.active = rule.metric, rule.model_dump(mode="json"), True
        s.add(row)
    for rid, row in rules.items():
        if rid not in {r.id for r in campaign.milestones.milestones}:
            row.active = False
            s.add(row)

    if meta is None:
        meta = Meta(key="config_hash", value=campaign.config_hash)
    meta.value = campaign.config_hash
    s.add(meta)
    s.add(
        AuditLog(
            actor=actor,
            action="sync",
            subject=campaign.config.id,
            detail={"added": added, "changed": changed, "retired": retired, "hash": campaign.config_hash[:12]},
        )
    )
    n_channels = sum(len(u.channels) for u in campaign.units)
    return SyncResult(len(campaign.units), n_channels, added, changed, retired, False)
