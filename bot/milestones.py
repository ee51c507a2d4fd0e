"""Milestone announcements: import new metric readings, find crossed thresholds, announce them.

Each tick :func:`check`:

1. imports the metric source of config/milestones.yaml: every ``*.csv`` under ``metric_source.csv``
   whose content changed since its last import, and ``metric_source.url`` (CSV or JSON, read with a
   timeout) when ``metric_source.every`` has passed since the last fetch;
2. evaluates every rule for every unit it covers: the value is the sum over the unit's subtree of
   the latest readings; thresholds are absolute (``1000``) or percentages of the unit's target
   (``"120%"``);
3. announces each newly crossed (rule, unit, threshold): a ``milestone`` content item approved by
   the rule, with the rendered message and banner data, and deliveries due at once (after quiet
   hours) on the channels of ``announce_to`` — all in one transaction with the firing rows.

A firing row is unique per (rule, unit, threshold): once written, that threshold is never
announced again, whatever the readings do later (a restart, the same file again, a value that
falls and rises). A jump past several thresholds announces the highest and records the others as
passed (``announced=False``, ``content_id`` = the announcement that covered them).

A rule with ``phase:`` looks only at readings inside that phase (by the reading's time): what was
already reached before the phase began is recorded as passed, not announced.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.load import Campaign, MilestoneConfig, Phase
from bot.metric_source import (  # noqa: F401 - the metric source's names, as the tick and the tests know them
    META_FILE,
    META_URL_FETCH,
    META_URL_HASH,
    csv_files,
    fetch_source_url,
    import_file,
    import_files_in,
    import_sources,
)
from bot.metrics import STATUS_OK, ImportResult, metric_label, subtree_readings
from bot.plan import MILESTONE_PRIORITY, Tree, announce
from bot.posts import unit_info
from bot.store.db import Store
from bot.store.models import AuditLog, Channel, ContentItem, Meta, MetricReading, MilestoneFiring
from bot.templating import render_text
from bot.vn import lam_tron_phan_tram, nfc, ngay, phan_tram_so, so

log = logging.getLogger(__name__)

META_EVALUATED = "milestones:evaluated"  # fingerprint of the inputs of the last evaluation


# --- thresholds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    key: str  # as written and stored: "1000" or "120%"
    index: int  # position in the rule (ties go to the later one)
    amount: float | None = None  # absolute threshold
    percent: float | None = None  # percentage of the unit's target

    @classmethod
    def parse(cls, raw: int | float | str, index: int) -> Threshold:
        if isinstance(raw, str):
            text = raw.strip()
            if text.endswith("%"):
                number = float(text[:-1])
                return cls(f"{_plain(number)}%", index, percent=number)
            raw = float(text)
        return cls(_plain(float(raw)), index, amount=float(raw))

    def required(self, target: int | None) -> float | None:
        """The value that reaches this threshold; None for a percentage when the unit has no target."""
        if self.amount is not None:
            return self.amount
        if not target:
            return None
        return target * (self.percent or 0.0) / 100.0

    def reached(self, value: float, target: int | None) -> bool:
        if self.amount is not None:
            return value >= self.amount
        if not target:
            return False
        return value * 100.0 >= target * (self.percent or 0.0) - 1e-9

    @property
    def template_value(self) -> int | float | str:
        """What ``{{ threshold }}`` is: a number (for ``| so``) or "120%"."""
        return _number(self.amount) if self.amount is not None else self.key

    def label(self) -> str:
        """Vietnamese: "1.000" or "120% chỉ tiêu"."""
        return (
            so(self.amount)
            if self.amount is not None
            else f"{so(self.percent, 1 if _frac(self.percent) else 0)}% chỉ tiêu"
        )


def _frac(x: float | None) -> bool:
    return x is not None and abs(x - round(x)) > 1e-9


def _plain(number: float) -> str:
    return str(int(round(number))) if not _frac(number) else repr(number)


def _number(value: float | None) -> int | float | None:
    """1234.0 → 1234 (so that ``{{ value }}`` prints 1234)."""
    if value is None:
        return None
    return int(round(value)) if not _frac(value) else value


def thresholds_of(rule: MilestoneConfig) -> list[Threshold]:
    return [Threshold.parse(raw, i) for i, raw in enumerate(rule.thresholds)]


def percent_of(value: float, target: int | None) -> float | None:
    return value * 100.0 / target if target else None


def percent_floor(percent: float | None) -> float | None:
    """One decimal by the one rule of bot.vn (half up; never 100 before it is reached: 99.96 → 99.9)."""
    return lam_tron_phan_tram(percent)


def percent_text(percent: float | None) -> str:
    """Vietnamese percentage, an integer or one decimal, the same everywhere: 130, 108,9, 99,9."""
    return phan_tram_so(percent)


def rule_units(rule: MilestoneConfig, tree: Tree) -> list[str]:
    if rule.unit:
        return [rule.unit] if rule.unit in tree.parent else []
    return tree.select(rule.units)


def _phase(campaign: Campaign, name: str | None) -> Phase | None:
    return next((p for p in campaign.config.phases if p.name == name), None) if name else None


def phase_window(campaign: Campaign, phase: Phase) -> tuple[datetime, datetime]:
    """[start, end] of a phase as UTC instants (end = the last microsecond of its last day)."""
    start = campaign.local_datetime(phase.start).astimezone(UTC)
    end = campaign.local_datetime(phase.end, end_of_day=True).astimezone(UTC) - timedelta(microseconds=1)
    return start, end


# --- evaluation -----------------------------------------------------------------------------


@dataclass
class Crossing:
    """What one (rule, unit) has newly crossed and what is to be written."""

    rule: MilestoneConfig
    unit_id: str
    value: float
    target: int | None
    reading_at: datetime | None
    phase: str | None
    announce: Threshold | None  # the highest newly crossed threshold, or None (all passed)
    passed: list[Threshold]  # recorded as passed over by ``announce``
    before_phase: list[Threshold] = field(default_factory=list)  # reached before the rule's phase began


@dataclass
class Announcement:
    rule_id: str
    unit_id: str
    threshold: str
    label: str
    value: float
    percent: float | None
    phase: str | None
    content_id: str | None
    deliveries: int
    passed: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class CheckResult:
    imports: list[ImportResult] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Vietnamese: import problems, unreachable URL, …

    @property
    def descriptions(self) -> list[str]:
        return [a.description for a in self.announcements]


def find_crossings(s: Session, campaign: Campaign, tree: Tree, now: datetime) -> list[Crossing]:
    """Every (rule, unit) with thresholds reached that have no firing row yet."""
    fired: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule_id, unit_id, threshold in s.exec(
        select(MilestoneFiring.rule_id, MilestoneFiring.unit_id, MilestoneFiring.threshold)
    ).all():
        fired[(rule_id, unit_id)].add(threshold)
    cache: dict[tuple[str, datetime | None], dict[str, tuple[float, datetime | None]]] = {}

    def values(metric: str, at: datetime | None) -> dict[str, tuple[float, datetime | None]]:
        if (metric, at) not in cache:
            cache[(metric, at)] = subtree_readings(s, campaign, metric, at)
        return cache[(metric, at)]

    out: list[Crossing] = []
    for rule in campaign.milestones.milestones:
        ths = thresholds_of(rule)
        phase = _phase(campaign, rule.phase)
        if rule.phase and phase is None:
            continue
        base: dict[str, tuple[float, datetime | None]] | None = None
        start: datetime | None = None
        if phase is not None:
            start, end = phase_window(campaign, phase)
            current = values(rule.metric, end)
            base = values(rule.metric, start - timedelta(microseconds=1))
        else:
            current = values(rule.metric, None)
        for uid in rule_units(rule, tree):
            value, when = current.get(uid, (0.0, None))
            if when is None:
                continue  # no reading yet anywhere in the subtree
            if start is not None and when < start and now < start:
                continue  # the phase has not begun
            target = campaign.unit_by_id[uid].target
            done = fired.get((rule.id, uid), set())
            new = [t for t in ths if t.key not in done and t.reached(value, target)]
            if not new:
                continue
            before = [t for t in new if base is not None and t.reached(base.get(uid, (0.0, None))[0], target)]
            rest = [t for t in new if t not in before]
            top: Threshold | None = None
            if rest:
                top = max(rest, key=lambda t: (t.required(target) or 0.0, t.index))
                # A threshold added to the config below one already announced is only recorded.
                highest_done = max((t.required(target) or 0.0 for t in ths if t.key in done), default=float("-inf"))
                if (top.required(target) or 0.0) <= highest_done:
                    top = None
            label = phase.name if phase is not None else _phase_name(campaign, when or now)
            out.append(Crossing(rule, uid, value, target, when, label, top, [t for t in rest if t is not top], before))
    return out


def _phase_name(campaign: Campaign, when: datetime) -> str | None:
    p = campaign.phase_at(when)
    return p.name if p else None


# --- the announcement -----------------------------------------------------------------------


def content_id_for(rule_id: str, unit_id: str, threshold: str) -> str:
    return f"milestone/{rule_id}/{unit_id}/{threshold}"


def _title(message: str, limit: int = 120) -> str:
    first = re.split(r"(?<=[.!?…])\s+", message.strip(), maxsplit=1)[0].strip()
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:–-— ")
    return cut + "…"


def _next_slogan(s: Session, campaign: Campaign) -> str:
    slogans = campaign.config.slogans
    if not slogans:
        return ""
    n = s.exec(select(func.count()).select_from(ContentItem).where(ContentItem.kind == "milestone")).one()
    return slogans[n % len(slogans)]


def message_context(
    campaign: Campaign, c: Crossing, threshold: Threshold, slogan: str, now: datetime
) -> dict[str, Any]:
    unit = unit_info(campaign, c.unit_id).as_dict()
    return {
        "value": _number(c.value),
        "percent": percent_text(percent_of(c.value, c.target)),
        "threshold": threshold.template_value,
        "unit": unit,
        "target": c.target,
        "phase": c.phase or "",
        "slogan": slogan,
        "metric": metric_label(c.rule.metric, campaign),
        "campaign": {"id": campaign.config.id, "name": campaign.config.name},
        "date": ngay(now.astimezone(campaign.tz)),
    }


def render_message(rule: MilestoneConfig, context: dict[str, Any]) -> tuple[str, str | None]:
    """(text, problem): the rule's message, or a plain default if the template fails."""
    try:
        text = render_text(rule.message, context)
        if text:
            return text, None
        problem = "thông điệp rỗng"
    except Exception as exc:  # noqa: BLE001 - a staff-written template; never stop the tick for it
        problem = f"lỗi mẫu thông điệp: {exc}"
    unit = context["unit"]
    fallback = (
        f"{unit['name']} đã đạt mốc {context['threshold'] if isinstance(context['threshold'], str) else so(context['threshold'])}"
        f" với {so(context['value'])} {context['metric']}. {context['slogan']}"
    )
    return nfc(fallback.strip()), problem


def _channels_for(s: Session, rule: MilestoneConfig, unit_ids: list[str] | None) -> list[Channel]:
    query = select(Channel).where(col(Channel.active), col(Channel.platform).in_(list(rule.platforms)))
    if unit_ids is None:
        return sorted(s.exec(query).all(), key=lambda c: c.id)
    out: list[Channel] = []
    for i in range(0, len(unit_ids), 500):
        out.extend(s.exec(query.where(col(Channel.unit_id).in_(unit_ids[i : i + 500]))).all())
    order = {u: i for i, u in enumerate(unit_ids)}
    return sorted(out, key=lambda c: (order.get(c.unit_id, 0), c.platform))


def write_crossing(s: Session, campaign: Campaign, tree: Tree, c: Crossing, now: datetime) -> Announcement | None:
    """Firing rows, content item and deliveries of one crossing (the caller's transaction)."""
    rule = c.rule
    percent = percent_of(c.value, c.target)
    content_id = content_id_for(rule.id, c.unit_id, c.announce.key) if c.announce else None
    # Thresholds reached before the rule's phase, and those passed over by a jump, are recorded, not announced.
    unannounced = [(t, None) for t in c.before_phase] + [(t, content_id) for t in c.passed]
    for t, announced_in in unannounced:
        s.add(
            MilestoneFiring(
                rule_id=rule.id,
                unit_id=c.unit_id,
                threshold=t.key,
                value=c.value,
                percent=percent,
                announced=False,
                content_id=announced_in,
                phase=c.phase,
                fired_at=now,
            )
        )
    if c.announce is None or content_id is None:
        s.flush()
        return None
    s.add(
        MilestoneFiring(
            rule_id=rule.id,
            unit_id=c.unit_id,
            threshold=c.announce.key,
            value=c.value,
            percent=percent,
            announced=True,
            content_id=content_id,
            phase=c.phase,
            fired_at=now,
        )
    )
    s.flush()  # the unique constraint speaks here, before anything is announced

    item = s.get(ContentItem, content_id)
    problem = None
    if item is None:
        slogan = _next_slogan(s, campaign)
        ctx = message_context(campaign, c, c.announce, slogan, now)
        body, problem = render_message(rule, ctx)
        if problem:
            log.warning("milestone %s: %s", rule.id, problem)
        maximum = c.target if c.target else c.announce.required(c.target)
        item = ContentItem(
            id=content_id,
            title=_title(body),
            kind="milestone",
            unit_id=c.unit_id,
            audience=rule.announce_to,
            platforms=list(rule.platforms),
            approved=True,
            approved_by=f"Quy tắc cột mốc '{rule.id}' (config/milestones.yaml)",
            approved_at=now,
            priority=MILESTONE_PRIORITY,
            banner=rule.banner,
            banner_data={
                "value": ctx["value"],
                "max": _number(maximum),
                "percent": ctx["percent"],
                "threshold": ctx["threshold"],
                "phase": ctx["phase"],
                "slogan": slogan,
                "metric": {rule.metric: ctx["value"]},
                "rule": rule.id,
            },
            body=body,
            source=None,
            tags=["cot-moc", rule.id],
        )
        s.add(item)
        s.flush()
    audience = rule.announce_to
    units = None if audience == "all" else tree.audience_units(c.unit_id, audience)
    deliveries = announce(s, campaign, item, _channels_for(s, rule, units), now)
    return _describe(campaign, c, content_id, len(deliveries), problem)


def _describe(campaign: Campaign, c: Crossing, content_id: str, n: int, problem: str | None) -> Announcement:
    assert c.announce is not None
    unit = unit_info(campaign, c.unit_id)
    percent = percent_of(c.value, c.target)
    what = f"{so(c.value)} {metric_label(c.rule.metric, campaign)}"
    if percent is not None:
        what += f", {percent_text(percent)}% chỉ tiêu"
    text = f"{unit.short_name or unit.name} đạt mốc {c.announce.label()} ({what}) — tin cột mốc tới {so(n)} kênh"
    if c.passed:
        text += f"; đã vượt qua cả mốc {', '.join(t.label() for t in c.passed)}"
    if problem:
        text += f" (dùng lời nhắn mặc định: {problem})"
    return Announcement(
        rule_id=c.rule.id,
        unit_id=c.unit_id,
        threshold=c.announce.key,
        label=c.announce.label(),
        value=c.value,
        percent=percent,
        phase=c.phase,
        content_id=content_id,
        deliveries=n,
        passed=[t.key for t in c.passed],
        description=f"[{c.rule.id}] {text}",
    )


def _fingerprint(s: Session, campaign: Campaign, now: datetime) -> str:
    n, total, newest = s.exec(
        select(func.count(), func.sum(MetricReading.value), func.max(MetricReading.imported_at))
        .select_from(MetricReading)
        .where(MetricReading.status == STATUS_OK)  # confirming or dropping a reading changes the inputs
    ).one()
    firings = s.exec(select(func.count()).select_from(MilestoneFiring)).one()
    phase = campaign.phase_at(now)
    return f"{campaign.config_hash}|{n}|{total}|{newest}|{firings}|{phase.name if phase else ''}"


def announce_in(s: Session, campaign: Campaign, tree: Tree, c: Crossing, now: datetime) -> Announcement | None:
    """One crossing announced in the caller's session, with its audit row: what :func:`evaluate` does
    for each crossing in its own transaction, and the preview inside its rolled-back one."""
    made = write_crossing(s, campaign, tree, c, now)
    s.add(AuditLog(actor=f"milestone:{c.rule.id}", action="milestone", subject=c.unit_id, detail={
        "announced": c.announce.key if c.announce else None,
        "passed": [t.key for t in c.passed],
        "before_phase": [t.key for t in c.before_phase],
        "value": c.value,
        "deliveries": made.deliveries if made else 0,
    }))
    return made


def step_in_session(s: Session, campaign: Campaign, tree: Tree, now: datetime) -> list[Announcement]:
    """The tick's milestone step (:func:`check_all`) inside one session, for the preview: the metric
    files whose content changed are imported, then every new crossing is announced. The URL source
    is not read: a preview makes no network call. The caller rolls the session back."""
    if not campaign.milestones.milestones:
        return []
    import_files_in(s, campaign, now)
    made = (announce_in(s, campaign, tree, c, now) for c in find_crossings(s, campaign, tree, now))
    return [a for a in made if a is not None]


def evaluate(
    campaign: Campaign, store: Store, now: datetime, *, force: bool = False, notes: list[str] | None = None
) -> list[Announcement]:
    """Announce every newly crossed threshold. Skipped when nothing changed since the last run.

    One unit's crossing that fails (whatever is stored for it) is skipped with a note in ``notes``
    and the others go on: nothing stored may stop every tick."""
    if not campaign.milestones.milestones:
        return []
    tree = Tree(campaign)
    with store.session() as s:
        fingerprint = _fingerprint(s, campaign, now)
        meta = s.get(Meta, META_EVALUATED)
        if not force and meta is not None and meta.value == fingerprint:
            return []
        crossings = find_crossings(s, campaign, tree, now)
    out: list[Announcement] = []
    for c in crossings:
        try:
            with store.session() as s:
                made = announce_in(s, campaign, tree, c, now)
        except IntegrityError:
            # Another process recorded this crossing first: nothing to do, it fires once.
            log.info("milestone %s/%s already recorded elsewhere", c.rule.id, c.unit_id)
            continue
        except Exception as exc:  # noqa: BLE001 - one unit's data must not stop the others
            log.exception("milestone %s/%s skipped", c.rule.id, c.unit_id)
            if notes is not None:
                notes.append(f"✗ Cột mốc [{c.rule.id}] của {c.unit_id} bị bỏ qua lượt này: "
                             f"{type(exc).__name__}: {str(exc)[:200]}")
            continue
        if made is not None:
            out.append(made)
    with store.session() as s:
        value = _fingerprint(s, campaign, now)
        meta = s.get(Meta, META_EVALUATED) or Meta(key=META_EVALUATED, value=value)
        meta.value = value
        s.add(meta)
    return out


def check_all(campaign: Campaign, store: Store, env: dict[str, str], now: datetime) -> CheckResult:
    """Import the metric source, then announce what was crossed; everything that happened."""
    result = CheckResult()
    result.imports = import_sources(campaign, store, env, now)
    for imp in result.imports:
        if imp.changed or imp.problems:
            result.notes.append("Số liệu " + imp.summary())
        for p in imp.problems[:20]:
            result.notes.append(f"  ✗ {p}")
        if len(imp.problems) > 20:
            result.notes.append(f"  … và {so(len(imp.problems) - 20)} lỗi khác (xem `campaign-bot metrics import`)")
        for p in imp.problems:
            log.warning("metric source: %s", p)
        for p in imp.held[:20]:
            result.notes.append(f"  ⚠ {p}")
    try:
        result.announcements = evaluate(campaign, store, now, notes=result.notes)
    except Exception as exc:  # noqa: BLE001 - milestones never stop the planning and publishing of the tick
        log.exception("milestones skipped this tick")
        result.notes.append(f"✗ Lượt này bỏ qua việc xét cột mốc ({type(exc).__name__}: {str(exc)[:200]}); "
                            "các bài khác vẫn được lập lịch và đăng. Xem `campaign-bot metrics held` và số liệu trong data/.")
    return result


def check(campaign: Campaign, store: Store, env: dict[str, str], now: datetime) -> list[str]:
    """One tick's milestone work; returns a short Vietnamese line per announcement made."""
    return check_all(campaign, store, env, now).descriptions
