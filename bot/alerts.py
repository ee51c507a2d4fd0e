"""Alerts: the people who run the campaign hear about what needs them, once.

Events (``AlertEvent``, unique ``key``) come from three places:

- the load (bot.lastgood): the folder became invalid, or valid again;
- the audit log the worker already writes (``channel.held`` with the fix, ``channel.released``,
  ``delivery.failed`` with the platform's words) and the milestone firings — read through cursors
  kept in ``meta`` (with an overlap, since PostgreSQL may commit ids out of order; the unique keys
  absorb the re-reads), so the worker itself knows nothing about alerts;
- the pipeline's metric fetches: the metric source unreadable for a day.

Each alerts pass (:func:`run_pass`, at the end of every tick) then:

1. **routes** new events to recipients: ``alerts.to`` plus the kind's own list in
   config/campaign.yaml, plus the unit's ``alerts.to`` in config/units.yaml for its channels'
   problems, as e-mail when ``CAMPAIGN_SMTP_URL`` is set; every URL of ``CAMPAIGN_NOTIFY_URLS``
   (Apprise) hears everything. One ``AlertItem`` per (event, recipient), unique.
2. **composes** one message per recipient and event type from the items no message carries yet —
   so 40 channels held at once are one message — unless that recipient got a message of that type
   within the last hour (the storm cap): then the items wait and the next message summarises them.
   The message (subject, plain text, HTML, a fresh Message-ID) is written to the store and the
   items are tied to it in the same transaction, with a conditional update so that two processes
   never put one item into two messages.
3. **sends** what is due: each message is claimed with a conditional update (state ``sending``,
   owner, lease) so one process at a time has it; it becomes ``sent`` after the server accepted
   it. A server that is down makes the messages ``retry`` with a growing delay; the pass never
   raises and gives up on a transport after its first connection failure, so a tick is never held
   up for long. Only a crash between the server's acceptance and the row's update can send a
   message twice, and then with the same Message-ID (mail clients show it once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import smtplib
import socket
import ssl
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment
from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.store.db import Store
from bot.store.models import (
    AlertEvent,
    AlertItem,
    AlertMessage,
    AuditLog,
    ContentItem,
    Meta,
    MilestoneFiring,
    PostAction,
    Unit,
    utcnow,
)
from bot.vn import TZ, nfc, ngay_gio, so

log = logging.getLogger(__name__)
# Apprise's debug lines may show a chat URL, which holds its token: never below warnings, even with -vv.
logging.getLogger("apprise").setLevel(logging.WARNING)

KIND_OF = {
    "folder.invalid": "folder",
    "folder.valid": "folder",
    "channel.held": "channel",
    "channel.released": "channel",
    "delivery.failed": "failure",
    "milestone.announced": "milestone",
    "metrics.unreadable": "metrics",
}
TYPE_LABELS = {
    "folder.invalid": "thư mục lỗi",
    "folder.valid": "thư mục hợp lệ trở lại",
    "channel.held": "kênh bị tạm giữ",
    "channel.released": "kênh được mở lại",
    "delivery.failed": "bài đăng lỗi hẳn",
    "milestone.announced": "cột mốc",
    "metrics.unreadable": "không đọc được số liệu",
    "digest": "bản tin tuần",  # issue 17: recorded by bot.digest, sent by this module's send_due
}
STATE_LABELS = {"pending": "chờ gửi", "sending": "đang gửi", "retry": "sẽ gửi lại", "sent": "đã gửi",
                "failed": "không gửi được"}
UNIT_KINDS = ("channel", "failure")  # events a unit's own contacts hear about
STORM_WINDOW = timedelta(hours=1)
METRICS_GRACE = timedelta(days=1)
LEASE = timedelta(minutes=5)
SMTP_TIMEOUT = 10.0
MAX_PER_PASS = 50  # messages sent by one pass; the rest go in the next
MAX_LISTED = 40  # entries shown in one message; the rest are counted
CURSOR_OVERLAP = 200
META_AUDIT = "alerts:audit_cursor"
META_FIRING = "alerts:firing_cursor"
META_METRICS = "alerts:metrics_failing"
# action.failed: an edit or a removal of a published post (issue 16) that failed for good is told like a post.
AUDIT_ACTIONS = ("channel.held", "channel.released", "delivery.failed", "action.failed")
ACTION_LABELS = {"edit": "sửa bài đã đăng", "repost": "đăng lại bản mới", "remove": "gỡ bài đã đăng"}


# --- recording events -----------------------------------------------------------------------


def insert_ignore(s: Session, model: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True if the row is new. Safe beside other processes."""
    dialect = s.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(model).values(**values)
    # RETURNING, not rowcount: through the ORM session PostgreSQL's rowcount is not 1 for a new row
    # (issue 17 found it: a digest was stored but reported as not new, so its units were never recorded).
    keys = list(model.__table__.primary_key.columns)
    return s.execute(stmt.on_conflict_do_nothing().returning(*keys)).first() is not None


def record_event(
    s: Session,
    key: str,
    type_: str,
    *,
    subject: str | None = None,
    unit_id: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Record an event once, whatever the number of processes that notice it."""
    return insert_ignore(s, AlertEvent, {
        "key": key, "kind": KIND_OF[type_], "type": type_, "subject": subject, "unit_id": unit_id,
        "detail": detail or {}, "at": at or utcnow(), "routed": False,
    })


def _cursor(s: Session, key: str) -> int:
    row = s.get(Meta, key)
    try:
        return int(row.value) if row else 0
    except ValueError:
        return 0


def _set_cursor(s: Session, key: str, value: int) -> None:
    row = s.get(Meta, key) or Meta(key=key, value="0")
    if value > _cursor(s, key):
        row.value = str(value)
        s.add(row)


def collect(store: Store) -> int:
    """New events from the worker's audit log and the milestone firings; returns how many."""
    n = 0
    with store.session() as s:
        start = max(0, _cursor(s, META_AUDIT) - CURSOR_OVERLAP)
        rows = s.exec(
            select(AuditLog).where(col(AuditLog.id) > start, col(AuditLog.action).in_(AUDIT_ACTIONS))
            .order_by(col(AuditLog.id)).limit(5000)
        ).all()
        top = s.exec(select(AuditLog.id).order_by(col(AuditLog.id).desc()).limit(1)).first() or 0
        for row in rows:
            n += _event_from_audit(s, row)
        _set_cursor(s, META_AUDIT, max((r.id or 0) for r in rows) if len(rows) == 5000 else top)

        start = max(0, _cursor(s, META_FIRING) - CURSOR_OVERLAP)
        firings = s.exec(
            select(MilestoneFiring).where(col(MilestoneFiring.id) > start).order_by(col(MilestoneFiring.id))
        ).all()
        for f in firings:
            if not f.announced:
                continue
            title = None
            if f.content_id:
                item = s.get(ContentItem, f.content_id)
                title = item.title if item else None
            n += record_event(
                s, f"milestone:{f.id}", "milestone.announced", subject=f.rule_id, unit_id=f.unit_id, at=f.fired_at,
                detail={"rule": f.rule_id, "unit": f.unit_id, "threshold": f.threshold, "value": f.value,
                        "percent": f.percent, "title": title},
            )
        if firings:
            _set_cursor(s, META_FIRING, max(f.id or 0 for f in firings))
    return n


def _event_from_audit(s: Session, row: AuditLog) -> int:
    detail = row.detail or {}
    if row.action in ("channel.held", "channel.released"):
        channel_id = row.subject or ""
        unit_id = channel_id.split("/", 1)[0] or None
        return record_event(s, f"audit:{row.id}", row.action, subject=channel_id, unit_id=unit_id, at=row.at,
                            detail={"reason": detail.get("reason"), "fix": detail.get("fix"), "why": detail.get("why")})
    if row.action in ("delivery.failed", "action.failed"):
        channel_id = detail.get("channel") or ""
        content_id = detail.get("content")
        item = s.get(ContentItem, content_id) if content_id else None
        title = item.title if item else None
        if row.action == "action.failed":
            act = s.get(PostAction, int(row.subject)) if (row.subject or "").isdigit() else None
            label = ACTION_LABELS.get(act.action if act else "", "sửa/gỡ bài đã đăng")
            title = f"{label[:1].upper()}{label[1:]}: {title or content_id or '?'}"
        return record_event(
            s, f"audit:{row.id}", "delivery.failed", subject=channel_id, unit_id=channel_id.split("/", 1)[0] or None,
            at=row.at, detail={"delivery": row.subject, "content": content_id, "title": title,
                               "reason": detail.get("reason")},
        )
    return 0


def note_metric_source(store: Store, now: datetime, *, failed: bool, label: str | None = None,
                       error: str | None = None) -> bool:
    """Track the metric URL's failures; a failing streak of a day records one event. True if recorded."""
    with store.session() as s:
        row = s.get(Meta, META_METRICS)
        if not failed:
            if row is not None:
                s.delete(row)
            return False
        state = json.loads(row.value) if row is not None else {}
        if not state:
            state = {"since": now.isoformat(), "label": label}
        state["error"], state["last"] = error, now.isoformat()
        row = row or Meta(key=META_METRICS, value="{}")
        row.value = json.dumps(state, ensure_ascii=False)
        s.add(row)
        since = datetime.fromisoformat(state["since"])
        if now - since < METRICS_GRACE:
            return False
        return record_event(s, f"metrics.unreadable:{state['since']}", "metrics.unreadable", subject=label, at=now,
                            detail={"since": state["since"], "error": error, "source": label})


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


# --- messages -------------------------------------------------------------------------------


@dataclass
class Entry:
    heading: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Content:
    title: str
    intro: list[str]
    entries: list[Entry]
    actions: list[str]
    more: int = 0


def _channel_label(names: dict[str, str], channel_id: str) -> str:
    unit, _, platform = channel_id.partition("/")
    plat = {"facebook": "Facebook", "zalo": "Zalo OA"}.get(platform, platform)
    return f"{names.get(unit, unit)} · {plat} ({channel_id})"


def _dt(value: Any, tz: Any) -> str:
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return ngay_gio(when, tz)


def _threshold(key: Any) -> str:
    """"1000" → "1.000"; "120%" stays."""
    text = str(key or "")
    return so(int(text)) if text.isdigit() else text


def build_content(type_: str, events: list[AlertEvent], campaign: Any, names: dict[str, str], now: datetime) -> Content:
    """What a message says: what happened, where, and what to do (in Vietnamese)."""
    tz = campaign.tz if campaign is not None else TZ
    name = campaign.config.name if campaign is not None else "chiến dịch"
    n = len(events)
    shown = events[:MAX_LISTED]
    more = n - len(shown)
    storm = []
    if n > 1 and type_ in ("folder.invalid", "folder.valid", "metrics.unreadable"):
        storm = [f"Gộp {so(n)} sự kiện từ {ngay_gio(events[0].at, tz)} đến {ngay_gio(events[-1].at, tz)}."]
    if type_ == "folder.invalid":
        ev = events[-1]
        probs = ev.detail.get("problems") or []
        count = ev.detail.get("count") or len(probs)
        loaded = _dt(ev.detail.get("version_loaded_at"), tz)
        from bot.yamlfile import Problem

        intro = storm + [
            f"Từ {ngay_gio(ev.at, tz)}, thư mục của {name} có {so(count)} lỗi nên thay đổi mới chưa được áp dụng.",
            (f"Bot vẫn lập lịch và đăng bài theo phiên bản hợp lệ nạp lúc {loaded}." if loaded
             else "Chưa có phiên bản hợp lệ nào: chưa lập lịch được cho đến khi sửa xong."),
        ]
        entries = [Entry(Problem(**p).one_line().split(": ", 1)[0], [Problem(**p).one_line().split(": ", 1)[-1]])
                   for p in probs]
        return Content("Thư mục chiến dịch có lỗi — bot vẫn chạy theo phiên bản cũ", intro, entries, [
            "Sửa các tệp trên (đúng dòng đã ghi).",
            "Chạy `campaign-bot check` để kiểm tra lại.",
            "Lượt chạy kế tiếp tự nạp bản đã sửa và bạn sẽ nhận thư báo hợp lệ trở lại.",
        ], max(0, count - len(probs)))
    if type_ == "folder.valid":
        ev = events[-1]
        since = _dt(ev.detail.get("invalid_since"), tz)
        intro = storm + [f"Lúc {ngay_gio(ev.at, tz)}, thư mục của {name} đã hợp lệ trở lại"
                         + (f" (có lỗi từ {since})" if since else "") + ".",
                         "Bot đã nạp bản mới; các bài mới được dùng từ lượt chạy này."]
        return Content("Thư mục chiến dịch đã hợp lệ trở lại", intro, [], ["Không cần làm gì thêm."])
    if type_ == "channel.held":
        entries = [Entry(_channel_label(names, ev.subject or ""),
                         [f"Lý do: {ev.detail.get('reason') or 'nền tảng từ chối token'}",
                          f"Cách sửa: {ev.detail.get('fix') or 'gia hạn token của kênh'}",
                          f"Từ: {ngay_gio(ev.at, tz)}"]) for ev in shown]
        return Content(f"{so(n)} kênh bị tạm giữ — cần gia hạn token", [
            f"{so(n)} kênh của {name} bị tạm giữ: bài của các kênh này đang chờ, không mất bài nào."
        ], entries, [
            "Đặt token mới vào tệp .env (tên biến ghi trong config/units.yaml); lượt chạy kế tiếp tự mở lại kênh.",
            "Xem chi tiết từng kênh: `campaign-bot channels`.",
        ], more)
    if type_ == "channel.released":
        entries = [Entry(_channel_label(names, ev.subject or ""),
                         [f"Mở lại lúc {ngay_gio(ev.at, tz)}" + (f": {ev.detail['why']}" if ev.detail.get("why") else "")])
                   for ev in shown]
        return Content(f"{so(n)} kênh đã được mở lại", [
            f"{so(n)} kênh của {name} đăng bài trở lại; các bài đang chờ sẽ được đăng."
        ], entries, ["Không cần làm gì thêm."], more)
    if type_ == "delivery.failed":
        entries = [Entry(_channel_label(names, ev.subject or ""),
                         [f"Bài: {ev.detail.get('title') or ev.detail.get('content') or '?'}",
                          f"Nền tảng trả lời: {ev.detail.get('reason') or 'không rõ'}",
                          f"Lúc: {ngay_gio(ev.at, tz)}"]) for ev in shown]
        return Content(f"{so(n)} bài đăng bị từ chối hẳn", [
            f"{so(n)} bài của {name} không đăng được và sẽ không tự thử lại."
        ], entries, [
            "Sửa bài theo lời nền tảng (tệp trong content/) hoặc bỏ qua bài đó.",
            "Xem tổng hợp: `campaign-bot status` hoặc báo cáo `campaign-bot report`.",
        ], more)
    if type_ == "milestone.announced":
        entries = []
        for ev in shown:
            d = ev.detail
            value = so(d.get("value") or 0)
            pct = f" ({so(d['percent'], 1)}% chỉ tiêu)" if d.get("percent") is not None else ""
            entries.append(Entry(names.get(ev.unit_id or "", ev.unit_id or ""),
                                 [f"Đạt mốc {_threshold(d.get('threshold'))}: {value}{pct}", *(["Bài: " + d["title"]] if d.get("title") else [])]))
        title = (f"Đạt cột mốc: {entries[0].heading} — mốc {_threshold(shown[0].detail.get('threshold'))}"
                 if n == 1 else f"{so(n)} cột mốc mới")
        return Content(title, [f"{name}: bài thông báo cột mốc đã được lên lịch đăng trên các kênh."], entries,
                       ["Không cần làm gì; xem `campaign-bot milestones`."], more)
    if type_ == "metrics.unreadable":
        ev = events[-1]
        intro = storm + [f"Không đọc được nguồn số liệu {ev.detail.get('source') or ''} từ {_dt(ev.detail.get('since'), tz)}.",
                         "Các cột mốc chưa được xét lại cho đến khi đọc được số liệu."]
        return Content("Không đọc được nguồn số liệu từ hơn một ngày",
                       intro, [Entry("Lỗi gần nhất", [ev.detail.get("error") or "không rõ"])], [
                           "Kiểm tra metric_source.url trong config/milestones.yaml và biến token của nó trong .env.",
                           "Bot tự thử lại theo chu kỳ `every`.",
                       ])
    return Content(type_, [], [Entry(ev.subject or "", []) for ev in shown], [], more)


_JINJA = Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
TEXT_TEMPLATE = _JINJA.from_string("""\
{{ c.title }}

{% for line in c.intro %}
{{ line }}
{% endfor %}
{% if c.entries %}

{% for e in c.entries %}
- {{ e.heading }}
{% for line in e.lines %}
    {{ line }}
{% endfor %}
{% endfor %}
{% if c.more %}
… và {{ more }} mục khác.
{% endif %}
{% endif %}
{% if c.actions %}

Cần làm:
{% for a in c.actions %}
* {{ a }}
{% endfor %}
{% endif %}

--
Thư tự động của campaign-bot ({{ campaign }}), gửi lúc {{ when }}.
Xem mọi cảnh báo: `campaign-bot alerts`.
""")
HTML_TEMPLATE = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>{{ c.title }}</title></head>
<body style="font-family:sans-serif;line-height:1.45;color:#1b1b1b">
<h2 style="margin:0 0 .6em">{{ c.title }}</h2>
{% for line in c.intro %}<p style="margin:.3em 0">{{ line }}</p>
{% endfor %}
{% if c.entries %}<ul>
{% for e in c.entries %}<li><strong>{{ e.heading }}</strong>{% for line in e.lines %}<br>{{ line }}{% endfor %}</li>
{% endfor %}
{% if c.more %}<li>… và {{ more }} mục khác.</li>{% endif %}
</ul>{% endif %}
{% if c.actions %}<p><strong>Cần làm:</strong></p><ol>
{% for a in c.actions %}<li>{{ a }}</li>
{% endfor %}</ol>{% endif %}
<p style="color:#666;font-size:90%">Thư tự động của campaign-bot ({{ campaign }}), gửi lúc {{ when }}.
Xem mọi cảnh báo: <code>campaign-bot alerts</code>.</p>
</body></html>
""")


def render(c: Content, campaign: Any, now: datetime) -> tuple[str, str, str]:
    """(subject, plain text, HTML), NFC."""
    tz = campaign.tz if campaign is not None else TZ
    ctx = {"c": c, "more": so(c.more), "campaign": campaign.config.name if campaign is not None else "",
           "when": ngay_gio(now, tz)}
    return nfc(f"[campaign-bot] {c.title}"), nfc(TEXT_TEMPLATE.render(ctx)), nfc(HTML_TEMPLATE.render(ctx))


def compose(store: Store, campaign: Any, now: datetime) -> int:
    """Group the waiting items into messages (one per recipient and type, storm-capped)."""
    made = 0
    domain = re.sub(r"[^a-z0-9.-]", "", (campaign.config.id if campaign is not None else "campaign").lower()) or "campaign"
    with store.session() as s:
        pairs = s.exec(select(AlertItem.recipient, AlertItem.type).where(col(AlertItem.message).is_(None))
                       .group_by(AlertItem.recipient, AlertItem.type)).all()
        names = {u.id: (u.short_name or u.name) for u in s.exec(select(Unit)).all()}
    for recipient, type_ in pairs:
        with store.session() as s:
            last = s.exec(select(AlertMessage.created_at).where(AlertMessage.recipient == recipient,
                                                                AlertMessage.type == type_)
                          .order_by(col(AlertMessage.created_at).desc()).limit(1)).first()
            if last is not None and now - last < STORM_WINDOW:
                continue  # storm cap: the next message after the hour summarises these
            items = s.exec(select(AlertItem).where(AlertItem.recipient == recipient, AlertItem.type == type_,
                                                   col(AlertItem.message).is_(None)).order_by(col(AlertItem.event_id))).all()
            if not items:
                continue
            events = s.exec(select(AlertEvent).where(col(AlertEvent.id).in_([i.event_id for i in items]))
                            .order_by(col(AlertEvent.at), col(AlertEvent.id))).all()
            subject, text, html = render(build_content(type_, list(events), campaign, names, now), campaign, now)
            msg = AlertMessage(recipient=recipient, type=type_, message_id=f"<{uuid.uuid4().hex}@{domain}.campaign-bot>",
                               subject=subject, text=text, html=html, events=len(events), state="pending",
                               next_attempt_at=now, created_at=now)
            s.add(msg)
            s.flush()
            taken = s.execute(update(AlertItem).where(col(AlertItem.id).in_([i.id for i in items]),
                                                      col(AlertItem.message).is_(None)).values(message=msg.id)).rowcount
            if taken != len(items):
                s.rollback()  # another process composed these first
                continue
            made += 1
    return made


# --- transports -----------------------------------------------------------------------------


class SendError(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class SmtpSettings:
    host: str
    port: int
    ssl: bool
    starttls: bool
    user: str | None
    password: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_settings(url: str) -> SmtpSettings:
    """``smtp://host:port`` (STARTTLS when offered), ``smtps://user:password@host:465`` (TLS),
    ``smtp+starttls://…`` (STARTTLS required). Raises ValueError without echoing the URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise ValueError("CAMPAIGN_SMTP_URL phải có dạng smtp://máy:cổng hoặc smtps://người-dùng:mật-khẩu@máy:465")
    try:
        port = parts.port or (465 if scheme == "smtps" else 587 if scheme == "smtp+starttls" else 25)
    except ValueError:
        raise ValueError("CAMPAIGN_SMTP_URL có cổng không hợp lệ") from None
    return SmtpSettings(parts.hostname, port, scheme == "smtps", scheme == "smtp+starttls",
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None)


def email_message(msg: AlertMessage, sender: str) -> EmailMessage:
    """The e-mail of a stored message (an alert or a weekly digest), as sent by SMTP or written to a
    .eml file by the demo: one builder, so both look the same."""
    em = EmailMessage()
    # RFC 2047 encoded words made by email.header: the modern header folder of Python ≤ 3.12 drops the
    # space between two folded encoded words ("từ chối hẳn" arrived as "từ chốihẳn"); these lines are
    # short enough that the generator keeps them as they are.
    em.set_raw("Subject", Header(msg.subject, "utf-8", header_name="Subject").encode())
    em["From"] = sender
    em["To"] = msg.recipient
    em["Message-ID"] = msg.message_id
    em["Date"] = format_datetime(msg.created_at if msg.created_at.tzinfo else msg.created_at.replace(tzinfo=UTC))
    em["Auto-Submitted"] = "auto-generated"
    em["X-Campaign-Alert"] = msg.type
    em.set_content(msg.text)
    em.add_alternative(msg.html, subtype="html")
    return em


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib's login encodes credentials as ASCII; AUTH PLAIN is UTF-8 (RFC 4616), so a password
    with Vietnamese letters goes through PLAIN by hand."""
    if (user + password).isascii():
        conn.login(user, password)
        return
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, resp = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


class SmtpSender:
    """One SMTP connection for a pass, opened on first use."""

    def __init__(self, url: str, sender: str) -> None:
        self.settings = smtp_settings(url)
        self.sender = sender
        self.conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        st = self.settings
        try:
            if st.ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(st.host, st.port, timeout=SMTP_TIMEOUT,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(st.host, st.port, timeout=SMTP_TIMEOUT)
                conn.ehlo()
                if st.starttls or conn.has_extn("starttls"):
                    conn.starttls(context=ssl.create_default_context())
                    conn.ehlo()
            if st.user:
                _login(conn, st.user, st.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"máy chủ thư {st.where} từ chối đăng nhập ({exc.smtp_code})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"không kết nối được máy chủ thư {st.where}: {type(exc).__name__}") from None
        return conn

    def send(self, msg: AlertMessage) -> None:
        if self.conn is None:
            self.conn = self._open()
        em = email_message(msg, self.sender)
        try:
            self.conn.send_message(em)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            raise SendError(f"máy chủ thư từ chối người nhận ({', '.join(map(str, codes))})",
                            permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendError(f"máy chủ thư trả lời {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SendError(f"mất kết nối máy chủ thư {self.settings.where}: {type(exc).__name__}") from None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.conn = None


class AppriseSender:
    """Chat services through Apprise; the URL (with its secrets) stays in the environment."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.by_name = {apprise_recipient(u): u for u in urls}

    def send(self, msg: AlertMessage) -> None:
        import apprise

        url = self.by_name.get(msg.recipient)
        if url is None:
            raise SendError("địa chỉ này không còn trong CAMPAIGN_NOTIFY_URLS", permanent=True)
        ap = apprise.Apprise()
        if not ap.add(url):
            raise SendError("CAMPAIGN_NOTIFY_URLS có một địa chỉ Apprise không hợp lệ", permanent=True)
        if not ap.notify(title=msg.subject, body=msg.text, body_format=apprise.NotifyFormat.TEXT):
            raise SendError("dịch vụ nhắn tin không nhận tin")


# --- the pass -------------------------------------------------------------------------------


@dataclass
class AlertsReport:
    events: int = 0
    composed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "composed": self.composed, "sent": self.sent, "retry": self.retry,
                "failed": self.failed, "errors": self.errors}


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


def _due(now: datetime) -> Any:
    """A message to send now: waiting and due, or claimed by a process whose lease ran out."""
    return or_(
        and_(col(AlertMessage.state).in_(("pending", "retry")),
             or_(col(AlertMessage.next_attempt_at).is_(None), col(AlertMessage.next_attempt_at) <= now)),
        and_(AlertMessage.state == "sending", col(AlertMessage.lease_until) < now),
    )


def _claim(store: Store, msg_id: int, owner: str, now: datetime) -> AlertMessage | None:
    with store.session() as s:
        got = s.execute(update(AlertMessage).where(AlertMessage.id == msg_id, _due(now)).values(
            state="sending", lease_owner=owner, lease_until=now + LEASE, attempts=AlertMessage.attempts + 1,
        )).rowcount
        if got != 1:
            return None
    with store.session() as s:
        return s.get(AlertMessage, msg_id)


def _finish(store: Store, msg: AlertMessage, owner: str, **values: Any) -> None:
    with store.session() as s:
        s.execute(update(AlertMessage).where(AlertMessage.id == msg.id, AlertMessage.state == "sending",
                                             AlertMessage.lease_owner == owner)
                  .values(lease_owner=None, lease_until=None, **values))


def send_due(store: Store, env: dict[str, str], now: datetime, owner: str, report: AlertsReport) -> None:
    """Send what is due, each message claimed by this process alone.

    ``now`` is when the pass starts (simulated in the demo); a clock runs on from it, and each claim's
    lease, retry time and ``sent_at`` read it when they are decided, never a time from before a send."""
    clock = Clock(now)
    with store.session() as s:
        ids = s.exec(select(AlertMessage.id).where(_due(now)).order_by(col(AlertMessage.id)).limit(MAX_PER_PASS)).all()
    if not ids:
        return
    smtp: SmtpSender | None = None
    smtp_problem: str | None = None
    if env.get("CAMPAIGN_SMTP_URL"):
        sender = env.get("CAMPAIGN_MAIL_FROM") or f"campaign-bot@{socket.getfqdn()}"
        try:
            smtp = SmtpSender(env["CAMPAIGN_SMTP_URL"], sender)
        except ValueError as exc:
            smtp_problem = str(exc)
    else:
        smtp_problem = "chưa đặt CAMPAIGN_SMTP_URL"
    chat = AppriseSender(notify_urls(env))
    down: set[str] = set()  # transports that failed to connect in this pass: try them next pass
    try:
        for msg_id in ids:
            transport = "apprise" if msg_id is not None and _is_chat(store, msg_id) else "smtp"
            if transport in down:
                continue
            if transport == "smtp" and smtp is None:
                report.errors.append(f"thư cảnh báo chưa gửi: {smtp_problem}")
                down.add("smtp")
                continue
            msg = _claim(store, msg_id, owner, clock.now())
            if msg is None:
                continue  # another process has it
            try:
                (chat if transport == "apprise" else smtp).send(msg)  # type: ignore[union-attr]
            except SendError as exc:
                if exc.permanent:
                    _finish(store, msg, owner, state="failed", error=str(exc))
                    report.failed += 1
                else:
                    _finish(store, msg, owner, state="retry", error=str(exc),
                            next_attempt_at=clock.now() + backoff(msg.attempts))
                    report.retry += 1
                    down.add(transport)
                report.errors.append(f"{msg.recipient}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a transport bug must not stop the tick
                _finish(store, msg, owner, state="retry", error=type(exc).__name__,
                        next_attempt_at=clock.now() + backoff(msg.attempts))
                report.retry += 1
                log.exception("gửi cảnh báo lỗi")
                continue
            _finish(store, msg, owner, state="sent", sent_at=clock.now(), error=None)
            report.sent += 1
    finally:
        if smtp is not None:
            smtp.close()


def _is_chat(store: Store, msg_id: int) -> bool:
    with store.session() as s:
        msg = s.get(AlertMessage, msg_id)
        return bool(msg and msg.recipient.startswith("apprise:"))


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_pass(store: Store, campaign: Any, env: dict[str, str], now: datetime, *, owner: str | None = None,
             send: bool = True) -> AlertsReport:
    """Collect, route, compose and send. Never raises: alerts must not break a tick."""
    report = AlertsReport()
    owner = owner or default_owner()
    try:
        report.events = collect(store)
        if campaign is not None:
            route(store, campaign, env)
            report.composed = compose(store, campaign, now)
        if send:
            send_due(store, env, now, owner, report)
    except Exception as exc:  # noqa: BLE001 - e.g. the store briefly unreachable: try again next tick
        log.exception("lượt cảnh báo lỗi; sẽ thử lại ở lượt sau")
        report.errors.append(f"lượt cảnh báo lỗi: {type(exc).__name__}")
    return report


# --- listing --------------------------------------------------------------------------------


def alerts_data(store: Store, limit: int = 200) -> dict[str, Any]:
    """Messages (newest first) and events no message carries yet, for `campaign-bot alerts` and the report."""
    with store.session() as s:
        msgs = s.exec(select(AlertMessage).order_by(col(AlertMessage.id).desc()).limit(limit)).all()
        waiting_items = s.exec(select(AlertItem).where(col(AlertItem.message).is_(None))).all()
        unrouted = s.exec(select(AlertEvent).order_by(col(AlertEvent.id).desc()).limit(limit)).all()
        carried = set(s.exec(select(AlertItem.event_id).where(
            col(AlertItem.event_id).in_([e.id for e in unrouted]))).all())
    waiting: dict[str, list[str]] = defaultdict(list)
    for i in waiting_items:
        waiting[i.type].append(i.recipient)
    return {
        "messages": [{
            "id": m.id, "to": m.recipient, "type": m.type, "subject": m.subject, "state": m.state,
            "events": m.events, "message_id": m.message_id, "created_at": m.created_at, "sent_at": m.sent_at,
            "attempts": m.attempts, "next_attempt_at": m.next_attempt_at if m.state == "retry" else None,
            "error": m.error,
        } for m in msgs],
        "waiting": {t: {"items": len(r), "recipients": sorted(set(r))} for t, r in waiting.items()},
        "events": [{
            "id": e.id, "type": e.type, "subject": e.subject, "at": e.at,
            "recipients": e.id in carried,
        } for e in unrouted],
    }
