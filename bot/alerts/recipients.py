"""Who hears what: e-mail addresses from the campaign files, Apprise URLs from the environment."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.alerts.events import (
    insert_ignore,
)
from bot.alerts.kinds import (
    UNIT_KINDS,
)
from bot.store.db import Store
from bot.store.models import (
    AlertEvent,
    AlertItem,
)
from bot.vn import so

log = logging.getLogger(__name__)

# --- recipients -----------------------------------------------------------------------------


def smtp_configured(env: dict[str, str]) -> bool:
    return bool(env.get("CAMPAIGN_SMTP_URL"))


def notify_urls(env: dict[str, str]) -> list[str]:
    """The Apprise URLs of CAMPAIGN_NOTIFY_URLS (separated by spaces, commas or new lines)."""
    return [u for u in re.split(r"[\s,]+", env.get("CAMPAIGN_NOTIFY_URLS", "")) if "://" in u]


def apprise_recipient(url: str) -> str:
    """How a chat URL is named in the store and in listings: never the URL, which holds secrets."""
    return "apprise:" + hashlib.sha256(url.encode()).hexdigest()[:12]


def configured_recipients(campaign: Any) -> set[str]:
    cfg = campaign.config.alerts
    out: set[str] = set()
    if cfg is not None:
        for kind in ("to", "folder", "channel", "failure", "milestone", "metrics"):
            out.update(getattr(cfg, kind))
    for u in campaign.units:
        if u.alerts is not None:
            out.update(u.alerts.to)
    return out


def recipients_for(campaign: Any, env: dict[str, str], kind: str, unit_id: str | None) -> list[str]:
    out: list[str] = []
    if smtp_configured(env):
        cfg = campaign.config.alerts
        if cfg is not None:
            out += cfg.to + getattr(cfg, kind)
        unit = campaign.unit_by_id.get(unit_id) if unit_id else None
        if kind in UNIT_KINDS and unit is not None and unit.alerts is not None:
            out += unit.alerts.to
        out = [a.strip().lower() for a in out]
    out += [apprise_recipient(u) for u in notify_urls(env)]
    return list(dict.fromkeys(out))


def check_notice(campaign: Any, env: dict[str, str]) -> str | None:
    """The one line `check` prints when nobody would be told anything."""
    emails = configured_recipients(campaign)
    if not emails and not notify_urls(env):
        return ("Chưa cấu hình cảnh báo (alerts: trong config/campaign.yaml): khi thư mục lỗi, kênh bị tạm giữ "
                "hay bài lỗi hẳn, không ai được báo.")
    if emails and not smtp_configured(env):
        return (f"Có {so(len(emails))} địa chỉ nhận cảnh báo nhưng chưa đặt CAMPAIGN_SMTP_URL: "
                "chưa gửi thư nào (xem README, mục Cảnh báo).")
    return None


def route(store: Store, campaign: Any, env: dict[str, str]) -> int:
    """Resolve the recipients of every new event into items; returns the items created."""
    n = 0
    with store.session() as s:
        events = s.exec(select(AlertEvent).where(AlertEvent.routed == False).order_by(col(AlertEvent.id))  # noqa: E712
                        .limit(2000)).all()
        for ev in events:
            for r in recipients_for(campaign, env, ev.kind, ev.unit_id):
                n += insert_ignore(s, AlertItem, {"event_id": ev.id, "recipient": r, "type": ev.type, "message": None})
            s.execute(update(AlertEvent).where(AlertEvent.id == ev.id).values(routed=True))
    return n


