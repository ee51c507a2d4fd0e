"""The weekly digest: each unit's contacts hear how the unit is doing and the one next step (issue 17).

The federation's plan asks the provincial office to "theo dõi, tổng hợp" and "đôn đốc các cấp công
đoàn"; `status` and the report already know who is behind, this module tells them, once a week.

At each slot of ``digest.cron`` (campaign timezone, default Monday 07:30) the digest pass:

1. takes each unit's **standing** — the main metric of `status` (bot.metrics.subtree_values, so the
   figures are the ones `status --json` shows), the pace (where it should be by now: the target times
   the share of the programme's days gone), its rank among its siblings, its last post — and records it
   once per unit and week (``DigestWeek``): K weeks lagging without improvement tell the parent;
2. **records** one message per contact address and week: an ``AlertMessage`` of type ``digest`` with a
   stable Message-ID (week + address), inserted with ON CONFLICT DO NOTHING, so two processes, a rerun
   or a second slot in the same week never make a second one; ``DigestRecord`` says which units it
   covered (for `status`);
3. leaves the **sending** to the alerts pass (bot.alerts.send_due): claimed under a lease, sent once,
   retried with a growing delay while the mail server is down. One mailer for alerts and digests.

No digest on the campaign's ``holidays``, none for a unit or a contact with ``digest: false``, none
at all without ``CAMPAIGN_SMTP_URL`` (the demo writes them as .eml files instead: :func:`write_eml`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from jinja2 import Environment
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import alerts
from bot.load import Campaign, UnitConfig
from bot.metrics import main_metric, metric_label, subtree_values
from bot.milestones import percent_floor
from bot.plan import Tree, next_slots
from bot.store.db import Store
from bot.store.history import already_planned, sent_in_week
from bot.store.models import (
    AlertMessage,
    ChannelState,
    ContentItem,
    Delivery,
    DeliveryState,
    DigestRecord,
    DigestWeek,
    open_state,
)
from bot.vn import nfc, ngay, ngay_gio, phan_tram, so, thu

log = logging.getLogger(__name__)

TYPE = "digest"
GRACE = timedelta(days=1)  # a bot down at 07:30 on Monday still sends Monday's digest until Tuesday 07:30
MAX_ROWS = 30  # units listed below a parent unit; the rest are counted (phone-short)
MAX_POSTS = 8
MAX_STORIES = 5


# --- when ------------------------------------------------------------------------------------


def due_slot(campaign: Campaign, now: datetime) -> datetime | None:
    """The latest digest slot at or before ``now`` if it is within the grace; else None."""
    trigger = CronTrigger.from_crontab(campaign.config.digest.cron, timezone=campaign.config.timezone)
    t = trigger.get_next_fire_time(None, (now - GRACE).astimezone(campaign.tz))
    latest = None
    while t is not None and t <= now:
        latest = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return latest.astimezone(UTC) if latest is not None else None


def slots_between(campaign: Campaign, start: datetime, end: datetime) -> list[datetime]:
    """The digest slots in [start, end): the demo plays them as moments of their own."""
    trigger = CronTrigger.from_crontab(campaign.config.digest.cron, timezone=campaign.config.timezone)
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, start.astimezone(campaign.tz))
    while t is not None and t < end and len(out) < 400:
        out.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return out


def week_of(moment: datetime, campaign: Campaign) -> str:
    year, week, _ = moment.astimezone(campaign.tz).isocalendar()
    return f"{year}-W{week:02d}"


def is_holiday(moment: datetime, campaign: Campaign) -> bool:
    return moment.astimezone(campaign.tz).date() in set(campaign.config.holidays)


def message_id(campaign: Campaign, week: str, address: str) -> str:
    """Stable: the same week and address give the same Message-ID in every process, so the store's
    unique constraint is the "sent once" guarantee and mail clients fold a rare duplicate."""
    domain = re.sub(r"[^a-z0-9.-]", "", campaign.config.id.lower()) or "campaign"
    return f"<digest.{week}.{hashlib.sha256(address.encode()).hexdigest()[:16]}@{domain}.campaign-bot>"


# --- the figures ----------------------------------------------------------------------------


@dataclass
class Standing:
    """One unit at the digest moment; the figures `status --json` shows, plus pace and rank."""

    unit: UnitConfig
    value: float
    target: int | None
    percent: float | None  # of the target, rounded as everywhere (bot.vn)
    expected: float | None  # % of the target it should have by now
    behind: bool
    last_sent: datetime | None
    quiet: bool
    rank: int | None = None
    siblings: int = 0
    streak: int = 0  # weeks lagging without improvement, this one included
    escalate: bool = False

    @property
    def name(self) -> str:
        return self.unit.short_name or self.unit.name

    @property
    def lagging(self) -> bool:
        return self.behind or self.quiet

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit.id, "name": self.name, "value": self.value, "target": self.target,
                "percent": self.percent, "expected": self.expected, "behind": self.behind, "quiet": self.quiet,
                "rank": self.rank, "siblings": self.siblings, "streak": self.streak, "escalate": self.escalate,
                "last_sent": self.last_sent.isoformat() if self.last_sent else None}


def pace(campaign: Campaign, now: datetime) -> float:
    """The share (%) of the programme's days gone by ``now``: unit targets are for the whole programme."""
    start, end = campaign.config.start, campaign.config.end
    today = now.astimezone(campaign.tz).date()
    total = (end - start).days + 1
    gone = min(max((today - start).days + 1, 0), total)
    return gone * 100.0 / total


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def standings(campaign: Campaign, store: Store, now: datetime, week: str) -> dict[str, Standing]:
    """Every unit's standing; streaks from the weeks recorded before ``week`` (read only)."""
    cfg = campaign.config.digest
    metric = main_metric(campaign)
    expected_all = pace(campaign, now)
    with store.session() as s:
        values = subtree_values(s, campaign, metric, at=now)  # as of the digest slot, not of the machine's clock
        last_sent = dict(s.exec(select(Delivery.unit_id, func.max(Delivery.sent_at))
                                .where(Delivery.state == DeliveryState.SENT, col(Delivery.sent_at) <= now)
                                .group_by(Delivery.unit_id)).all())
        history: dict[str, list[DigestWeek]] = defaultdict(list)
        for row in s.exec(select(DigestWeek).where(DigestWeek.week < week).order_by(col(DigestWeek.week).desc())):
            history[row.unit_id].append(row)
    out: dict[str, Standing] = {}
    for u in campaign.units:
        value = float(values.get(u.id, 0.0))
        pct = percent_floor(value * 100.0 / u.target) if u.target else None
        expected = percent_floor(expected_all) if u.target else None
        behind = pct is not None and expected is not None and expected - pct > cfg.behind_pace
        last = _aware(last_sent.get(u.id))
        quiet = bool(u.channels) and (last is None or now - last > timedelta(days=cfg.quiet_days))
        st = Standing(u, value, u.target, pct, expected, behind, last, quiet)
        if st.lagging:
            prev = history[u.id][0] if history[u.id] else None
            improved = prev is not None and (
                (st.percent or 0) - (st.expected or 0) > (prev.percent or 0) - (prev.expected or 0) or
                (prev.quiet and not quiet))
            st.streak = 1 if prev is None or improved or not (prev.behind or prev.quiet) else prev.streak + 1
            st.escalate = st.streak >= cfg.escalate_after
        out[u.id] = st
    groups: dict[str | None, list[Standing]] = defaultdict(list)
    for st in out.values():
        if st.target:
            groups[st.unit.parent].append(st)
    for group in groups.values():
        group.sort(key=lambda x: (-(x.percent or 0.0), x.name))
        for i, st in enumerate(group, 1):
            st.rank, st.siblings = i, len(group)
    return out


def record_standings(store: Store, campaign: Campaign, stands: dict[str, Standing], week: str, now: datetime) -> None:
    """Once per unit and week, whatever the number of processes (the first one's figures stay)."""
    with store.session() as s:
        for st in stands.values():
            alerts.insert_ignore(s, DigestWeek, {
                "unit_id": st.unit.id, "week": week, "value": st.value, "percent": st.percent,
                "expected": st.expected, "behind": st.behind, "quiet": st.quiet, "streak": st.streak, "at": now})


# --- what a digest says -----------------------------------------------------------------------


@dataclass
class Section:
    """One unit's part of a digest."""

    st: Standing
    nudge: str | None
    posted: list[tuple[str, str, str | None]]  # (when, "title · platform", link)
    coming: list[str]
    held: list[str]
    stories: list[str]
    below: list[Standing] = field(default_factory=list)
    below_more: int = 0
    escalations: list[Standing] = field(default_factory=list)


@dataclass
class Digest:
    address: str
    names: list[str]  # the contacts' names at this address
    units: list[str]
    subject: str = ""
    sections: list[Section] = field(default_factory=list)
    summary: list[Standing] = field(default_factory=list)  # the province's list of lagging units
    summary_more: int = 0
    text: str = ""
    html: str = ""


def standing_line(st: Standing, campaign: Campaign) -> str:
    """"12/120 sáng kiến (10%, cần 45,8% theo tiến độ) · hạng 3/5 · bài gần nhất 20/11/2026"."""
    label = metric_label(main_metric(campaign), campaign)
    parts = []
    if st.target:
        parts.append(f"{so(st.value)}/{so(st.target)} {label} ({phan_tram(st.percent)}; "
                     f"theo tiến độ cần {phan_tram(st.expected)})")
    else:
        parts.append(f"{so(st.value)} {label} (chưa giao chỉ tiêu)")
    if st.rank:
        parts.append(f"hạng {so(st.rank)}/{so(st.siblings)} trong các đơn vị cùng cấp")
    if st.unit.channels:
        parts.append(f"bài gần nhất {ngay(st.last_sent, campaign.tz)}" if st.last_sent else "chưa có bài nào")
    return " · ".join(parts)


def nudge_for(st: Standing, campaign: Campaign, stories: int) -> str | None:
    """Encouragement and the one next step, never a reproach."""
    if not st.lagging:
        return None
    step = (f"chia sẻ một trong {so(stories)} bài đã duyệt dưới đây" if stories
            else "gửi Ban Tuyên giáo một câu chuyện sáng kiến của đơn vị để duyệt và đăng")
    if st.quiet:
        days = campaign.config.digest.quiet_days
        return f"Kênh của đơn vị chưa có bài mới hơn {so(days)} ngày. Bước tiếp theo: {step}."
    gap = (st.expected or 0) - (st.percent or 0)
    return (f"Đơn vị đang cố gắng và còn cách tiến độ {so(gap, 1)} điểm phần trăm. Bước tiếp theo: cập nhật số "
            f"sáng kiến mới nhất vào tệp số liệu (data/*.csv) và {step}.")


def _section_data(campaign: Campaign, s: Session, st: Standing, slot: datetime, tree: Tree,
                  states: dict[str, ChannelState], rows: list[Delivery]) -> Section:
    uid, tz = st.unit.id, campaign.tz
    posted = []
    from bot.corrections import post_url

    titles = {c.id: c.title for c in s.exec(select(ContentItem).where(
        col(ContentItem.id).in_({d.content_id for d in rows} or {""}))).all()}
    for d in rows[:MAX_POSTS]:
        posted.append((ngay_gio(_aware(d.sent_at), tz), f"{titles.get(d.content_id, d.content_id)} · {d.platform}",
                       post_url(d)))
    platforms = {ch.platform for ch in st.unit.channels}
    coming = []
    for t, sch in next_slots(campaign, slot, slot + timedelta(days=7)):
        reach = platforms & set(sch.platforms)
        if reach and uid in tree.select(sch.units):
            coming.append(f"{thu(t.astimezone(tz))} {ngay_gio(t, tz)} · {', '.join(sorted(reach))}")
    held = []
    for ch in st.unit.channels:
        cs = states.get(f"{uid}/{ch.platform}")
        if cs is not None and cs.status == "held":
            waiting = s.exec(select(func.count()).select_from(Delivery).where(
                Delivery.channel_id == cs.channel_id, open_state(Delivery.__table__))).one()  # type: ignore[attr-defined]
            held.append(f"{ch.platform}: tạm giữ vì {cs.reason or 'token bị từ chối'}"
                        + (f", {so(waiting)} bài đang chờ (không mất bài nào)" if waiting else "")
                        + f". Cách sửa: {cs.fix or 'gia hạn token của kênh trong tệp .env'}; lượt chạy kế tiếp tự mở lại kênh.")
    offered = []
    for story in campaign.stories:
        f = story.front
        if not f.approved or f.withdrawn or not tree.may_post(uid, f.unit, f.audience):
            continue
        if f.expires is not None and campaign.local_datetime(f.expires, end_of_day=True) < slot:
            continue
        offered.append(story)
    done = already_planned(s, uid, [story.id for story in offered])
    stories = [f"{story.front.title} ({story.source})" for story in offered if story.id not in done]
    return Section(st, None, posted, coming[:7], held, stories)


def build(campaign: Campaign, store: Store, now: datetime, slot: datetime, week: str,
          stands: dict[str, Standing], unit: str | None = None) -> list[Digest]:
    """Every digest due at ``slot`` (one per address), rendered; ``unit`` keeps only that unit's contacts."""
    cfg = campaign.config.digest
    tree = Tree(campaign)
    by_address: dict[str, Digest] = {}
    for u in campaign.units:
        if not u.digest or (unit and u.id != unit):
            continue
        for c in u.contacts:
            if not c.digest:
                continue
            d = by_address.setdefault(c.email, Digest(c.email, [], []))
            if c.name not in d.names:
                d.names.append(c.name)
            if u.id not in d.units:
                d.units.append(u.id)
    roots = [u.id for u in campaign.units if not u.parent]
    if not unit:
        for addr in cfg.summary_to:
            by_address.setdefault(addr.lower(), Digest(addr.lower(), [], []))
    lagging_all = sorted((st for st in stands.values() if st.lagging),
                         key=lambda x: (not x.escalate, (x.percent or 0) - (x.expected or 0), x.name))
    with store.session() as s:
        states = {cs.channel_id: cs for cs in s.exec(select(ChannelState)).all()}
        week = sent_in_week(s, {uid for d in by_address.values() for uid in d.units}, slot)
        for d in by_address.values():
            for uid in d.units:
                sec = _section_data(campaign, s, stands[uid], slot, tree, states, week.get(uid, []))
                sec.nudge = nudge_for(sec.st, campaign, len(sec.stories))
                below = [stands[x] for x in tree.subtree(uid) if x != uid]
                below.sort(key=lambda x: (not x.lagging, (x.percent or 0) - (x.expected or 0), x.name))
                sec.below, sec.below_more = below[:MAX_ROWS], max(0, len(below) - MAX_ROWS)
                sec.escalations = [stands[x] for x in tree.children.get(uid, []) if stands[x].escalate]
                d.sections.append(sec)
            if any(uid in roots for uid in d.units) or d.address in {a.lower() for a in cfg.summary_to}:
                d.summary, d.summary_more = lagging_all[:MAX_ROWS], max(0, len(lagging_all) - MAX_ROWS)
    out = []
    for d in by_address.values():
        render(d, campaign, slot)
        out.append(d)
    return out


_TEXT = Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True).from_string("""\
{{ greeting }}

Bản tin tuần của {{ campaign }} ({{ week_label }}).
{% for sec in d.sections %}

== {{ sec.st.name }} ==
{{ line(sec.st) }}
{% if sec.nudge %}
>> {{ sec.nudge }}
{% endif %}
{% if sec.held %}
Kênh đang bị tạm giữ — cần làm ngay:
{% for h in sec.held %}
  ! {{ h }}
{% endfor %}
{% endif %}
Tuần qua đã đăng: {% if not sec.posted %}chưa có bài nào.{% endif %}

{% for when, what, link in sec.posted %}
  - {{ when }} {{ what }}{% if link %} {{ link }}{% endif %}

{% endfor %}
{% if sec.coming %}
Tuần này theo lịch:
{% for c in sec.coming %}
  - {{ c }}
{% endfor %}
{% endif %}
{% if sec.stories %}
Bài đã duyệt đơn vị có thể chia sẻ mà chưa đăng:
{% for t in sec.stories[:max_stories] %}
  - {{ t }}
{% endfor %}
{% if sec.stories|length > max_stories %}
  … và {{ sec.stories|length - max_stories }} bài khác.
{% endif %}
{% endif %}
{% if sec.escalations %}
Đơn vị trực thuộc cần quan tâm (chậm tiến độ {{ k }} tuần liền, chưa cải thiện):
{% for e in sec.escalations %}
  ! {{ e.name }}: {{ line(e) }}
{% endfor %}
{% endif %}
{% if sec.below %}
Các đơn vị trực thuộc (đơn vị chậm trước):
{% for b in sec.below %}
  {{ '*' if b.lagging else '-' }} {{ b.name }}: {{ line(b) }}
{% endfor %}
{% if sec.below_more %}
  … và {{ sec.below_more }} đơn vị khác.
{% endif %}
{% endif %}
{% endfor %}
{% if d.summary %}

== Tổng hợp đơn vị chậm tiến độ toàn tỉnh ({{ d.summary|length + d.summary_more }}) ==
{% for b in d.summary %}
  * {{ b.name }}: {{ line(b) }}{% if b.escalate %} (đã {{ b.streak }} tuần){% endif %}

{% endfor %}
{% if d.summary_more %}
  … và {{ d.summary_more }} đơn vị khác.
{% endif %}
{% endif %}

--
Thư tự động hằng tuần của campaign-bot, gửi lúc {{ when }}. Không muốn nhận: báo Ban Tuyên giáo ghi
"digest: false" cho tên bạn trong config/units.yaml.
""")
_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ subject }}</title></head>
<body style="font-family:sans-serif;line-height:1.45;color:#1b1b1b;max-width:640px">
<p>{{ greeting }}</p>
<p>Bản tin tuần của {{ campaign }} ({{ week_label }}).</p>
{% for sec in d.sections %}
<h3 style="margin:1em 0 .3em">{{ sec.st.name }}</h3>
<p style="margin:.2em 0" data-unit="{{ sec.st.unit.id }}" data-value="{{ sec.st.value }}" data-percent="{{ sec.st.percent }}">{{ line(sec.st) }}</p>
{% if sec.nudge %}<p style="background:#fff4d6;padding:.4em">{{ sec.nudge }}</p>{% endif %}
{% if sec.held %}<p><strong>Kênh đang bị tạm giữ — cần làm ngay:</strong></p><ul>
{% for h in sec.held %}<li>{{ h }}</li>{% endfor %}</ul>{% endif %}
<p><strong>Tuần qua đã đăng:</strong>{% if not sec.posted %} chưa có bài nào.{% endif %}</p>
{% if sec.posted %}<ul>{% for when, what, link in sec.posted %}<li>{{ when }} {% if link and link.startswith('http') %}<a href="{{ link }}">{{ what }}</a>{% else %}{{ what }}{% endif %}</li>{% endfor %}</ul>{% endif %}
{% if sec.coming %}<p><strong>Tuần này theo lịch:</strong></p><ul>{% for c in sec.coming %}<li>{{ c }}</li>{% endfor %}</ul>{% endif %}
{% if sec.stories %}<p><strong>Bài đã duyệt đơn vị có thể chia sẻ mà chưa đăng:</strong></p><ul>
{% for t in sec.stories[:max_stories] %}<li>{{ t }}</li>{% endfor %}
{% if sec.stories|length > max_stories %}<li>… và {{ sec.stories|length - max_stories }} bài khác.</li>{% endif %}</ul>{% endif %}
{% if sec.escalations %}<p><strong>Đơn vị trực thuộc cần quan tâm (chậm tiến độ {{ k }} tuần liền, chưa cải thiện):</strong></p><ul>
{% for e in sec.escalations %}<li class="escalate" data-unit="{{ e.unit.id }}">{{ e.name }}: {{ line(e) }}</li>{% endfor %}</ul>{% endif %}
{% if sec.below %}<p><strong>Các đơn vị trực thuộc (đơn vị chậm trước):</strong></p><ul>
{% for b in sec.below %}<li data-unit="{{ b.unit.id }}" data-value="{{ b.value }}" data-percent="{{ b.percent }}">{% if b.lagging %}<strong>{{ b.name }}</strong>{% else %}{{ b.name }}{% endif %}: {{ line(b) }}</li>{% endfor %}
{% if sec.below_more %}<li>… và {{ sec.below_more }} đơn vị khác.</li>{% endif %}</ul>{% endif %}
{% endfor %}
{% if d.summary %}<h3>Tổng hợp đơn vị chậm tiến độ toàn tỉnh ({{ d.summary|length + d.summary_more }})</h3><ul>
{% for b in d.summary %}<li class="lagging" data-unit="{{ b.unit.id }}">{{ b.name }}: {{ line(b) }}</li>{% endfor %}
{% if d.summary_more %}<li>… và {{ d.summary_more }} đơn vị khác.</li>{% endif %}</ul>{% endif %}
<p style="color:#666;font-size:90%">Thư tự động hằng tuần của campaign-bot, gửi lúc {{ when }}.</p>
</body></html>
""")


def render(d: Digest, campaign: Campaign, slot: datetime) -> None:
    """Subject, plain text and HTML (NFC), in Vietnamese."""
    tz = campaign.tz
    names = [sec.st.name for sec in d.sections] or ["Tổng hợp toàn tỉnh"]
    who = ", ".join(names[:2]) + (f" và {so(len(names) - 2)} đơn vị khác" if len(names) > 2 else "")
    d.subject = nfc(f"[campaign-bot] Bản tin tuần {ngay(slot, tz)} – {who}")
    ctx = {
        "d": d, "campaign": campaign.config.name, "week_label": f"tuần từ {ngay(slot, tz)}", "subject": d.subject,
        "greeting": "Kính gửi " + (", ".join(d.names) if d.names else "Văn phòng") + ",",
        "line": lambda st: standing_line(st, campaign), "when": ngay_gio(slot, tz), "max_stories": MAX_STORIES,
        "k": campaign.config.digest.escalate_after,
    }
    d.text, d.html = nfc(_TEXT.render(ctx)), nfc(_HTML.render(ctx))


# --- the pass ---------------------------------------------------------------------------------


@dataclass
class DigestReport:
    slot: datetime | None = None
    week: str | None = None
    recorded: int = 0
    skipped: str | None = None  # why nothing was recorded
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"slot": self.slot.isoformat() if self.slot else None, "week": self.week, "recorded": self.recorded,
                "skipped": self.skipped, "errors": self.errors}


def record_due(campaign: Campaign, store: Store, env: dict[str, str], now: datetime, *,
               offline: bool = False) -> DigestReport:
    """Record the digests due at ``now`` (sending is the alerts pass's job). ``offline``: record even
    without CAMPAIGN_SMTP_URL (the demo, which writes them as .eml files)."""
    report = DigestReport()
    cfg = campaign.config.digest
    if not cfg.enabled:
        report.skipped = "digest.enabled: false"
        return report
    slot = due_slot(campaign, now)
    if slot is None:
        report.skipped = "chưa đến giờ gửi bản tin"
        return report
    report.slot, report.week = slot, week_of(slot, campaign)
    if is_holiday(slot, campaign):
        report.skipped = f"ngày nghỉ {ngay(slot, campaign.tz)}"
        return report
    if not offline and not alerts.smtp_configured(env):
        report.skipped = "chưa đặt CAMPAIGN_SMTP_URL"
        return report
    week = report.week
    with store.session() as s:  # this week done already (by us or another process): nothing to compute
        known = set(s.exec(select(AlertMessage.message_id).where(AlertMessage.type == TYPE,
                                                                 col(AlertMessage.message_id).like(f"<digest.{week}.%"))).all())
    wanted = {c.email for u in campaign.units if u.digest for c in u.contacts if c.digest}
    wanted |= {a.lower() for a in cfg.summary_to}
    if {message_id(campaign, week, a) for a in wanted} <= known:
        return report  # every tick of the grace day after the first one: nothing to compute
    stands = standings(campaign, store, slot, week)
    record_standings(store, campaign, stands, week, now)
    for d in build(campaign, store, now, slot, week, stands):
        mid = message_id(campaign, week, d.address)
        if mid in known:
            continue
        with store.session() as s:
            new = alerts.insert_ignore(s, AlertMessage, {
                "recipient": d.address, "type": TYPE, "message_id": mid, "subject": d.subject, "text": d.text,
                "html": d.html, "events": len(d.units), "state": "pending", "attempts": 0, "next_attempt_at": now,
                "created_at": now})
            if new:
                for uid in d.units:
                    alerts.insert_ignore(s, DigestRecord, {"week": week, "recipient": d.address, "unit_id": uid,
                                                           "message_id": mid, "created_at": now})
                report.recorded += 1
    return report


def run_pass(campaign: Campaign, store: Store, env: dict[str, str], now: datetime, **kw: Any) -> DigestReport:
    """Never raises: a digest must not break a tick (the next tick tries again)."""
    try:
        return record_due(campaign, store, env, now, **kw)
    except Exception as exc:  # noqa: BLE001
        log.exception("lượt bản tin tuần lỗi; sẽ thử lại ở lượt sau")
        return DigestReport(errors=[f"lượt bản tin tuần lỗi: {type(exc).__name__}"])


def write_eml(store: Store, folder: Path, now: datetime, sender: str, owner: str | None = None) -> int:
    """Deliver the due digests into ``folder`` as .eml files (the demo, offline), through the same
    claim and finish as a real send, so each is written once."""
    owner = owner or alerts.default_owner()
    folder.mkdir(parents=True, exist_ok=True)
    with store.session() as s:
        ids = s.exec(select(AlertMessage.id).where(AlertMessage.type == TYPE,
                                                   col(AlertMessage.state).in_(("pending", "retry")))).all()
    n = 0
    for msg_id in ids:
        msg = alerts._claim(store, msg_id, owner, now)  # noqa: SLF001 - the one claim of the shared mailer
        if msg is None:
            continue
        name = re.sub(r"[^A-Za-z0-9.@-]", "_", msg.message_id.strip("<>"))[:150] + ".eml"
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(alerts.email_message(msg, sender).as_bytes())
        tmp.replace(folder / name)
        alerts._finish(store, msg, owner, state="sent", sent_at=now, error=None)  # noqa: SLF001
        n += 1
    return n


# --- seeing it first, and status ----------------------------------------------------------------


def preview(campaign: Campaign, store: Store, now: datetime, unit: str | None = None) -> tuple[datetime, list[Digest], dict[str, Standing]]:
    """The digests of the latest slot at or before ``now`` (or ``now`` itself), changing nothing."""
    slot = due_slot(campaign, now) or now
    week = week_of(slot, campaign)
    stands = standings(campaign, store, slot, week)
    return slot, build(campaign, store, now, slot, week, stands, unit=unit), stands


def last_sent(store: Store) -> dict[str, datetime]:
    """When each unit was last sent a digest (the server accepted it), for `status`."""
    with store.session() as s:
        rows = s.exec(select(DigestRecord.unit_id, func.max(AlertMessage.sent_at))
                      .join(AlertMessage, col(AlertMessage.message_id) == col(DigestRecord.message_id))
                      .where(AlertMessage.state == "sent").group_by(DigestRecord.unit_id)).all()
    return {uid: at for uid, at in rows if at is not None}


def unreachable(campaign: Campaign) -> list[str]:
    """Units nobody would hear about: no contact (a `check` warning, not an error)."""
    return [u.id for u in campaign.units if not u.contacts]
