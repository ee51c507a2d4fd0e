"""`campaign-bot preview`: what the next days will post, as a static site, changing nothing.

One session: sync the campaign into it, plan at every moment the ticks would run (the same
moments as the demo: every slot and every end of quiet hours), note the deliveries created and
the slots left empty, read what the pages need, then ROLL BACK. The store is untouched; only
banners are rendered into their cache (``.campaign/banners``), as the worker would.

What a card shows is what the worker will post: the text from :func:`bot.posts.compose_text`,
the images from :func:`bot.posts.images_for` (copied beside the page).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.channels.spec import is_live
from bot.load import Campaign
from bot.metrics import metric_names, subtree_values
from bot.milestones import step_in_session
from bot.pipeline import demo_moments
from bot.plan import Tree, in_quiet_hours, plan, quiet_end
from bot.posts import compose_text, images_for
from bot.reports import (
    gio,
    kind_label,
    platform_label,
)
from bot.reports.report_queries import lean_pragmas, restore_pragmas
from bot.store.db import Store
from bot.store.models import ChannelState, ContentItem, Delivery, DeliveryState, open_state
from bot.store.sync import sync_session
from bot.vn import ngay, ngay_gio, so

URL_OR_TAG = re.compile(r"(https?://[^\s<>\"']+)|(#[\w]+)", re.UNICODE)


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def segments(text: str) -> list[tuple[str, str]]:
    """The post's text split into ("text" | "url" | "tag", piece): links and hashtags are marked
    up by the template, everything else is plain escaped text."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in URL_OR_TAG.finditer(text):
        value = m.group(0)
        kind = "url" if m.group(1) else "tag"
        if kind == "url":
            while value and value[-1] in ".,;:!?)]}»”":
                if value[-1] == ")" and value.count("(") >= value.count(")"):
                    break  # https://vi.wikipedia.org/wiki/A_(b): the parenthesis belongs to the link
                value = value[:-1]
        elif m.start() > 0 and (text[m.start() - 1].isalnum() or text[m.start() - 1] == "&"):
            continue  # "C#" or an entity, not a hashtag
        if m.start() > pos:
            out.append(("text", text[pos : m.start()]))
        out.append((kind, value))
        pos = m.start() + len(value)
    if pos < len(text):
        out.append(("text", text[pos:]))
    return out


@dataclass
class Check:
    level: str  # ok | info | warn | error
    text: str
    fix: str | None = None
    items: list[str] = field(default_factory=list)


@dataclass
class Card:
    """One planned delivery, as it will appear."""

    index: int
    content_id: str
    channel_id: str
    unit_id: str
    unit_name: str
    platform: str
    kind: str
    title: str
    schedule_id: str | None
    slot_at: datetime | None
    due_at: datetime
    expected_at: datetime
    text: str
    link: str | None
    sources: list[Path] = field(default_factory=list)  # images as posted, in order
    photo_count: int = 0
    images: list[str] = field(default_factory=list)  # hrefs beside the page (set when written)
    notes: list[str] = field(default_factory=list)
    status: str = "planned"  # planned | existing | held | skip
    mode: str = "outbox"  # outbox | facebook | zalo: where it will really go
    problem: str | None = None
    quiet_wait: datetime | None = None  # held by quiet hours until then

    @property
    def anchor(self) -> str:
        return f"bai-{self.index}"

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    @property
    def segments(self) -> list[tuple[str, str]]:
        return segments(self.text)

    @property
    def will_post(self) -> bool:
        return self.status in ("planned", "existing")

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "content_id": self.content_id,
            "channel_id": self.channel_id,
            "unit": self.unit_id,
            "platform": self.platform,
            "kind": self.kind,
            "title": self.title,
            "schedule_id": self.schedule_id,
            "slot_at": self.slot_at.isoformat() if self.slot_at else None,
            "due_at": self.due_at.isoformat(),
            "expected_at": self.expected_at.isoformat(),
            "status": self.status,
            "mode": self.mode,
            "images": self.images,
            "notes": self.notes,
        }


@dataclass
class Empty:
    schedule_id: str
    slot_at: datetime
    channel_id: str
    unit_id: str
    unit_name: str
    platform: str
    reason: str


@dataclass
class GridRow:
    channel_id: str
    unit_id: str
    unit_name: str
    level: str
    platform: str
    mode: str
    held: bool
    cells: list[list[dict[str, Any]]]
    posts: int = 0
    empties: int = 0


@dataclass
class SlotGroup:
    at: datetime
    schedule_id: str | None
    cards: list[Card]
    empties: dict[str, list[Empty]]  # reason -> slots

    @property
    def label(self) -> str:
        if self.schedule_id:
            return f"lịch {self.schedule_id}"
        if self.cards and all(c.kind == "milestone" for c in self.cards):
            return "tin cột mốc: đăng ngay khi đạt mốc"
        return "bài đã lên lịch từ trước"


@dataclass
class Day:
    day: date
    groups: list[SlotGroup]

    @property
    def count(self) -> int:
        return sum(len(g.cards) for g in self.groups)


@dataclass
class Preview:
    campaign: Campaign
    start: datetime
    end: datetime
    days: int
    generated_at: datetime
    cards: list[Card]
    empties: list[Empty]
    checks: list[Check]
    grid: list[GridRow] = field(default_factory=list)
    dates: list[date] = field(default_factory=list)
    calendar: list[Day] = field(default_factory=list)
    store_url: str = ""

    @property
    def to_post(self) -> int:
        return sum(1 for c in self.cards if c.will_post)

    def summary(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.config.id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "posts": [c.as_dict() for c in self.cards],
            "empty": [
                {"schedule_id": e.schedule_id, "slot_at": e.slot_at.isoformat(), "channel_id": e.channel_id,
                 "reason": e.reason}
                for e in self.empties
            ],
        }


def _channels(campaign: Campaign) -> list[tuple[str, Any, Any]]:
    return [(f"{u.id}/{ch.platform}", u, ch) for u in campaign.units for ch in u.channels]


def _snapshot(row: ContentItem) -> ContentItem:
    return ContentItem(**row.model_dump())


@dataclass
class Simulation:
    """What the ticks of the window would do, read from the rolled-back session."""

    planned: list[tuple[dict[str, Any], bool, datetime | None]]  # (delivery fields, existed, planned at)
    empties: list[Any]  # bot.plan's empty slots, with their reasons
    announced: list[str]  # milestone news, "time: description"
    states: dict[str, ChannelState]
    contents: dict[str, ContentItem]
    metrics: dict[str, dict[str, float]]


def simulate(campaign: Campaign, store: Store, start: datetime, end: datetime) -> Simulation:
    """Every tick of the window in one session, rolled back: the tick's own milestone step
    (bot.milestones.step_in_session) then the tick's own planner (bot.plan.plan), at each moment."""
    sim = Simulation([], [], [], {}, {}, {})
    tree = Tree(campaign)
    with Session(store.engine, expire_on_commit=False) as s:  # on the engine: the planner caches per engine
        conn = s.connection()  # held until the rollback below: lean while the window is played
        saved = lean_pragmas(conn)
        try:
            sync_session(s, campaign, actor="preview")
            s.flush()
            sim.states = {st.channel_id: ChannelState(**st.model_dump()) for st in s.exec(select(ChannelState)).all()}
            last_id = s.exec(select(func.max(Delivery.id))).one() or 0  # new rows get larger ids
            for d in s.exec(
                select(Delivery).where(open_state(Delivery.__table__), col(Delivery.due_at) <= end)  # type: ignore[attr-defined]
            ).all():
                sim.planned.append((d.model_dump(), True, None))
            for moment in demo_moments(campaign, start, (end - start).days):  # each tick: milestones, then the plan
                sim.announced += [f"{ngay_gio(moment, campaign.tz)}: {a.description}"
                                  for a in step_in_session(s, campaign, tree, moment)]
                sim.empties.extend(plan(s, campaign, moment, tree).empty)
                s.flush()
                for d in s.exec(select(Delivery).where(col(Delivery.id) > last_id).order_by(col(Delivery.id))).all():
                    last_id = max(last_id, d.id or 0)
                    sim.planned.append((d.model_dump(), False, moment))
            sim.metrics = {name: subtree_values(s, campaign, name) for name in metric_names(campaign)}
            for cid in sorted({fields["content_id"] for fields, _, _ in sim.planned}):
                row = s.get(ContentItem, cid)
                if row is not None:
                    sim.contents[cid] = _snapshot(row)
        finally:
            restore_pragmas(conn, saved)
            s.rollback()
    return sim


def build_preview(
    campaign: Campaign, store: Store, env: dict[str, str], start: datetime, days: int
) -> Preview:
    """Plan ``days`` from ``start`` inside a transaction that is rolled back; see the module."""
    start = start.astimezone(UTC)
    end = start + timedelta(days=days)
    sim = simulate(campaign, store, start, end)
    checks = campaign_checks(campaign, env, sim.states)
    if sim.announced:
        checks.append(Check("info", f"Số liệu trong thư mục dữ liệu sẽ được nhập và {so(len(sim.announced))} cột mốc "
                            "được thông báo (tin cột mốc có trong lịch dưới đây).", None, sim.announced))
    if campaign.milestones.metric_source.url:
        checks.append(Check("info", "Số liệu từ địa chỉ URL không được đọc khi xem trước: tin cột mốc do số liệu mới "
                            "từ URL chưa có trong lịch này."))
    rendered: dict[str, tuple[list[Path], str | None]] = {}
    cards = [make_card(campaign, env, sim, fields, existed, planned_at, start, rendered)
             for fields, existed, planned_at in sim.planned]
    order = {u.id: i for i, u in enumerate(campaign.units)}
    cards.sort(key=lambda c: (c.expected_at, order.get(c.unit_id, 0), c.platform, c.content_id))
    for i, c in enumerate(cards, start=1):
        c.index = i
    empties = [_empty(campaign, e) for e in sim.empties]
    empties.sort(key=lambda e: (e.slot_at, order.get(e.unit_id, 0), e.platform))
    checks += outcome_checks(campaign, cards, days)
    preview = Preview(campaign, start, end, days, datetime.now(UTC), cards, empties, checks,
                      store_url=store.display_url())
    _layout(preview, env, sim.states)
    return preview


def _empty(campaign: Campaign, e: Any) -> Empty:
    u = campaign.unit_by_id.get(e.channel_id.split("/")[0])
    return Empty(e.schedule_id, utc(e.slot_at), e.channel_id, u.id if u else "",  # type: ignore[arg-type]
                 (u.short_name or u.name) if u else "", e.channel_id.split("/")[-1], e.reason)


def outcome_checks(campaign: Campaign, cards: list[Card], days: int) -> list[Check]:
    """Banners that could not be drawn; approved stories that the window does not post."""
    out = []
    failed_banners = sorted({c.problem for c in cards if c.problem})
    if failed_banners:
        out.append(Check("error", "Có banner không vẽ được: các bài này sẽ chờ thử lại khi đăng.", None, failed_banners))
    planned_ids = {c.content_id for c in cards}
    unused = [s for s in campaign.stories if s.front.approved and s.id not in planned_ids]
    if unused:
        out.append(Check("info", f"{so(len(unused))} bài đã duyệt không được lên lịch trong {so(days)} ngày tới "
                         "(đã đăng hết, chưa đến ngày, hết hạn, hoặc không có lịch cho loại bài/đơn vị đó).",
                         None, [f"{s.front.title} ({s.source})" for s in unused]))
    return out


def _timing(campaign: Campaign, fields: dict[str, Any], st: ChannelState | None, planned_at: datetime | None,
            start: datetime) -> tuple[datetime, datetime | None, list[str]]:
    """When the post really goes (pause, quiet hours), whether quiet hours hold it, and why, in words."""
    tz = campaign.tz
    quiet = campaign.settings.quiet_hours
    due = utc(fields["due_at"]) or start
    slot = utc(fields.get("slot_at"))
    next_attempt = utc(fields.get("next_attempt_at"))
    expected = max(due, next_attempt or due, start)
    notes: list[str] = []
    if st is not None and st.paused_until is not None and utc(st.paused_until) > expected:  # type: ignore[operator]
        expected = utc(st.paused_until)  # type: ignore[assignment]
        notes.append(f"Kênh tạm dừng đến {ngay_gio(expected, tz)}: {st.pause_reason or 'giới hạn của nền tảng'}.")
    expected = quiet_end(campaign, expected)
    # Held by quiet hours: a slot inside them, or a milestone reached inside them (its news waits too).
    origin = slot if slot is not None else planned_at
    quiet_wait: datetime | None = None
    if origin is not None and due > origin and in_quiet_hours(campaign, origin):
        quiet_wait = due
        what = f"Khung {gio(slot, tz)}" if slot is not None else f"Tin được tạo lúc {gio(origin, tz)}"
        notes.append(f"{what} rơi vào giờ yên lặng ({quiet}): bài chờ đến {ngay_gio(due, tz)}.")
    elif in_quiet_hours(campaign, max(due, start)) and expected > max(due, start):
        quiet_wait = expected
        notes.append(f"Đến hạn trong giờ yên lặng ({quiet}): bài chờ đến {ngay_gio(expected, tz)}.")
    return expected, quiet_wait, notes


def _status(fields: dict[str, Any], existed: bool, st: ChannelState | None, content: ContentItem | None,
            expected: datetime, tz: Any) -> tuple[str, list[str]]:
    """Will it go (planned, existing), wait for a held channel, or be skipped; and why, in words."""
    notes: list[str] = []
    status = "existing" if existed else "planned"
    if existed:
        state = fields["state"]
        if state == DeliveryState.RETRY:
            notes.append(f"Đã lên lịch từ trước, đang chờ thử lại: {fields.get('reason') or 'lỗi tạm thời'}.")
        elif state == DeliveryState.SENDING:
            notes.append("Đang gửi hoặc chờ đối soát với nền tảng (không gửi trùng).")
        else:
            notes.append("Đã lên lịch từ trước, chưa đăng.")
    if st is not None and st.status == "held":
        status = "held"
        notes.append(f"Kênh đang bị tạm giữ: {st.reason or 'cần người xử lý'} — bài chờ đến khi kênh được mở lại."
                     + (f" Cách sửa: {st.fix}" if st.fix else ""))
    if content is None:
        status = "skip"
        notes.append("Không tìm thấy bài trong dữ liệu: sẽ không đăng.")
    elif not content.approved:
        status = "skip"
        notes.append("Bài không còn được duyệt: sẽ không đăng.")
    elif content.expires is not None and utc(content.expires) <= expected:  # type: ignore[operator]
        status = "skip"
        notes.append(f"Bài hết hạn ({ngay(utc(content.expires), tz)}) trước giờ đăng: sẽ bị bỏ qua.")
    return status, notes


def make_card(campaign: Campaign, env: dict[str, str], sim: Simulation, fields: dict[str, Any], existed: bool,
              planned_at: datetime | None, start: datetime,
              rendered: dict[str, tuple[list[Path], str | None]]) -> Card:
    """One delivery as it will appear: the worker's own text and images, when and where it goes."""
    content = sim.contents.get(fields["content_id"])
    unit = campaign.unit_by_id.get(fields["unit_id"])
    st = sim.states.get(fields["channel_id"])
    expected, quiet_wait, notes = _timing(campaign, fields, st, planned_at, start)
    status, more = _status(fields, existed, st, content, expected, campaign.tz)
    if content is not None:  # issue 18: what goes with the text (a video, a document, a link)
        from bot.posts import media_note

        more += media_note(content, campaign, fields["platform"])
    card = Card(
        index=0,
        content_id=fields["content_id"],
        channel_id=fields["channel_id"],
        unit_id=fields["unit_id"],
        unit_name=(unit.short_name or unit.name) if unit else fields["unit_id"],
        platform=fields["platform"],
        kind=content.kind if content else "",
        title=content.title if content else fields["content_id"],
        schedule_id=fields.get("schedule_id"),
        slot_at=utc(fields.get("slot_at")),
        due_at=utc(fields["due_at"]) or start,
        expected_at=expected,
        text=compose_text(content, campaign) if content else "",
        link=content.link if content else None,
        notes=notes + more,
        status=status,
        mode=_mode(campaign, env, fields["channel_id"], fields["platform"]),
        quiet_wait=quiet_wait,
    )
    if content is not None:
        if content.id not in rendered:
            try:
                rendered[content.id] = (images_for(content, campaign, sim.metrics), None)
            except Exception as exc:  # noqa: BLE001 - the page shows it; the worker would retry
                rendered[content.id] = ([], f"Không vẽ được banner: {type(exc).__name__}: {exc}")
        card.sources, card.problem = rendered[content.id]
        card.photo_count = len(content.images or ([content.image] if content.image else []))
    return card


def _mode(campaign: Campaign, env: dict[str, str], channel_id: str, platform: str) -> str:
    """Where the channel's posts go now: its platform with a token, else the outbox."""
    unit_id = channel_id.split("/")[0]
    unit = campaign.unit_by_id.get(unit_id)
    token_env = next((ch.token_env for ch in unit.channels if f"{unit_id}/{ch.platform}" == channel_id), None) \
        if unit else None
    return platform if is_live(token_env, env) else "outbox"


def campaign_checks(campaign: Campaign, env: dict[str, str], states: dict[str, ChannelState]) -> list[Check]:
    """What `campaign-bot check` says, plus what the staff should know before the posts go."""
    c = campaign
    approved = sum(1 for s in c.stories if s.front.approved)
    channels = _channels(c)
    checks = [
        Check("ok", "Thư mục chiến dịch hợp lệ.", None, [
            f"Chiến dịch: {c.config.name} ({ngay(c.config.start)} – {ngay(c.config.end)})",
            f"Đơn vị: {so(len(c.units))} · kênh: {so(len(channels))} · lịch đăng: {so(len(c.schedules))}",
            f"Bài viết: {so(len(c.stories))} ({so(approved)} đã duyệt) · mẫu banner: {so(len(c.banners))}",
            f"Quy tắc cột mốc: {so(len(c.milestones.milestones))}",
        ])
    ]
    missing = [(cid, u, ch) for cid, u, ch in channels if not is_live(ch.token_env, env)]
    if missing:
        checks.append(Check(
            "info",
            f"{so(len(missing))} kênh chưa có token → bài được ghi vào outbox/ (xem trước), không đăng thật.",
            "đặt token trong tệp .env với tên biến ghi ở token_env (config/units.yaml)",
            [f"{u.short_name or u.name} · {platform_label(ch.platform)} ({ch.token_env or 'không có token_env'})"
             for _, u, ch in missing],
        ))
    held = [st for cid, st in sorted(states.items()) if st.status == "held" and not cid.startswith("app:")]
    if held:
        checks.append(Check(
            "warn", f"{so(len(held))} kênh đang bị tạm giữ: bài của các kênh này chờ đến khi được mở lại.",
            "sửa theo hướng dẫn rồi chạy `campaign-bot channels --release KÊNH`",
            [f"{st.channel_id}: {st.reason or ''}" + (f" → {st.fix}" if st.fix else "") for st in held],
        ))
    from bot.banners import campaign_fit_warnings

    cut = campaign_fit_warnings(c)
    if cut:
        checks.append(Check(
            "warn", f"{so(len(cut))} banner có chữ không vừa khung: chữ bị cắt bằng “…” hoặc thu quá nhỏ.",
            "rút ngắn tiêu đề (hoặc chọn mẫu banner khác bằng banner: trong bài) rồi xem trước lại",
            [m.split(" | fix: ")[0] for m in cut],
        ))
    drafts = [s for s in c.stories if not s.front.approved]
    if drafts:
        checks.append(Check(
            "info", f"{so(len(drafts))} bài chưa duyệt: sẽ không được đăng.",
            "khi bài đã được duyệt, ghi approved: true, approved_by và approved_at",
            [f"{s.front.title} ({s.source})" for s in drafts],
        ))
    return checks


def _layout(p: Preview, env: dict[str, str], states: dict[str, ChannelState]) -> None:
    """The calendar grid (channels × days) and the day-by-day list."""
    tz = p.campaign.tz
    first = p.start.astimezone(tz).date()
    last = (p.end - timedelta(microseconds=1)).astimezone(tz).date()
    for c in p.cards:
        last = max(last, c.expected_at.astimezone(tz).date())
    first = min([first] + [c.expected_at.astimezone(tz).date() for c in p.cards])
    p.dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    col_of = {d: i for i, d in enumerate(p.dates)}

    rows: dict[str, GridRow] = {}
    for cid, u, ch in _channels(p.campaign):
        st = states.get(cid)
        rows[cid] = GridRow(
            channel_id=cid, unit_id=u.id, unit_name=u.short_name or u.name, level=u.level, platform=ch.platform,
            mode=ch.platform if is_live(ch.token_env, env) else "outbox",
            held=bool(st and st.status == "held"), cells=[[] for _ in p.dates],
        )
    for c in p.cards:
        row = rows.get(c.channel_id)
        if row is None:  # a channel removed from the config that still has open deliveries
            continue
        row.cells[col_of[c.expected_at.astimezone(tz).date()]].append(
            {"type": "post", "at": c.expected_at, "href": "#" + c.anchor, "kind": c.kind, "status": c.status,
             "title": f"{c.kind_label}: {c.title}"}
        )
        row.posts += c.will_post
    for e in p.empties:
        row = rows.get(e.channel_id)
        if row is None:
            continue
        row.cells[col_of[e.slot_at.astimezone(tz).date()]].append(
            {"type": "empty", "at": e.slot_at, "title": f"Bỏ trống ({e.schedule_id}): {e.reason}"}
        )
        row.empties += 1
    for row in rows.values():
        for cell in row.cells:
            cell.sort(key=lambda x: x["at"])
    p.grid = list(rows.values())

    groups: dict[tuple[date, datetime, str | None], SlotGroup] = {}
    for c in p.cards:
        key = (c.expected_at.astimezone(tz).date(), c.expected_at, c.schedule_id)
        groups.setdefault(key, SlotGroup(c.expected_at, c.schedule_id, [], defaultdict(list))).cards.append(c)
    for e in p.empties:
        key = (e.slot_at.astimezone(tz).date(), e.slot_at, e.schedule_id)
        groups.setdefault(key, SlotGroup(e.slot_at, e.schedule_id, [], defaultdict(list))).empties[e.reason].append(e)
    by_day: dict[date, list[SlotGroup]] = defaultdict(list)
    for (d, _, _), g in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2] or "")):
        g.empties = dict(g.empties)
        by_day[d].append(g)
    p.calendar = [Day(d, by_day.get(d, [])) for d in p.dates]
