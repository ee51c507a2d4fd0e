"""One message per recipient and event type: its content, and its text and HTML forms."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment
from sqlalchemy import update
from sqlmodel import col, select

from bot.alerts.kinds import MAX_LISTED, STORM_WINDOW
from bot.store.db import Store
from bot.store.models import (
    AlertEvent,
    AlertItem,
    AlertMessage,
    Unit,
)
from bot.vn import TZ, nfc, ngay_gio, so

log = logging.getLogger(__name__)

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


