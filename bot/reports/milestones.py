"""Milestones as the staff follow them: every firing and the state of its posts (`campaign-bot
milestones`), and per rule and unit the value, the next threshold, the units that lag or went quiet
and the latest imports (the milestone part of `campaign-bot status`).

Read only; the command line prints these dictionaries (they are also its ``--json``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from bot.load import Campaign
from bot.metrics import main_metric, metric_label, subtree_values
from bot.milestones import Threshold, percent_floor, percent_of, rule_units, thresholds_of
from bot.plan import Tree
from bot.store.db import Store
from bot.store.models import AuditLog, Delivery, DeliveryState, MilestoneFiring
from bot.vn import so

QUIET_DAYS = 14
LEVEL_LABELS = {
    "province": "Cấp tỉnh",
    "district": "Liên đoàn Lao động huyện, thành phố",
    "sector": "Công đoàn ngành",
    "civil_servants": "Công đoàn viên chức",
    "industrial_zone": "Công đoàn các khu công nghiệp",
    "grassroots": "Công đoàn cơ sở",
}


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def _unit_name(campaign: Campaign, uid: str) -> str:
    u = campaign.unit_by_id.get(uid)
    return (u.short_name or u.name) if u else uid


def _num(value: float) -> int | float:
    return int(round(value)) if abs(value - round(value)) < 1e-9 else round(value, 2)


def threshold_label(key: str) -> str:
    return Threshold.parse(key, 0).label()


def firing_status(f: dict[str, Any]) -> str:
    if f["announced"]:
        d = f.get("deliveries") or {}
        total = sum(d.values())
        sent = d.get(DeliveryState.SENT, 0)
        waiting = sum(d.get(st, 0) for st in DeliveryState.OPEN)
        text = f"đã thông báo: {so(sent)}/{so(total)} kênh đã đăng"
        if waiting:
            text += f", {so(waiting)} đang chờ"
        if d.get(DeliveryState.FAILED):
            text += f", {so(d[DeliveryState.FAILED])} lỗi"
        return text
    if f["content_id"]:
        covered = f["content_id"].rsplit("/", 1)[-1]
        return f"đã vượt qua (gộp vào tin mốc {threshold_label(covered)})"
    return "đã đạt trước khi giai đoạn bắt đầu (không thông báo)"


def firings_data(campaign: Campaign, store: Store) -> list[dict[str, Any]]:
    """Every firing with its rule, unit, threshold, value, and the state of its posts."""
    with store.session() as s:
        rows = s.exec(select(MilestoneFiring).order_by(col(MilestoneFiring.fired_at), col(MilestoneFiring.id))).all()
        ids = sorted({r.content_id for r in rows if r.content_id})
        states: dict[str, dict[str, int]] = defaultdict(dict)
        for i in range(0, len(ids), 500):
            for cid, state, n in s.exec(
                select(Delivery.content_id, Delivery.state, func.count())
                .where(col(Delivery.content_id).in_(ids[i : i + 500]))
                .group_by(Delivery.content_id, Delivery.state)
            ).all():
                states[cid][state] = n
    out = []
    for r in rows:
        entry: dict[str, Any] = {
            "rule": r.rule_id,
            "unit": r.unit_id,
            "unit_name": _unit_name(campaign, r.unit_id),
            "threshold": r.threshold,
            "value": _num(r.value),
            "percent": percent_floor(r.percent),
            "announced": r.announced,
            "fired_at": _iso(r.fired_at),
            "phase": r.phase,
            "content_id": r.content_id,
        }
        if r.announced and r.content_id:
            entry["deliveries"] = dict(states.get(r.content_id, {}))
        out.append(entry)
    return out


def _next_threshold(ths: list[Threshold], done: set[str], value: float, target: int | None) -> dict[str, Any] | None:
    pending = [t for t in ths if t.key not in done]
    if not pending:
        return None
    with_req = [(t.required(target), t) for t in pending]
    reachable = sorted(((r, t) for r, t in with_req if r is not None), key=lambda p: (p[0], p[1].index))
    if not reachable:
        return {
            "threshold": pending[0].key,
            "label": pending[0].label(),
            "needed": None,
            "remaining": None,
            "note": "đơn vị chưa có chỉ tiêu (target) trong config/units.yaml",
        }
    need, t = reachable[0]
    return {"threshold": t.key, "label": t.label(), "needed": _num(need), "remaining": _num(max(0.0, need - value))}


def _gap(nxt: dict[str, Any] | None) -> float:
    if not nxt or not nxt.get("needed"):
        return float("inf")
    return nxt["remaining"] / nxt["needed"]


def status_section(campaign: Campaign, store: Store, now: datetime, *, per_rule: int = 50, per_level: int = 5) -> dict:
    """Milestones and lagging units for `campaign-bot status` (JSON-friendly).

    * ``rules``: per rule and unit the value, the next threshold and what fired when;
    * ``lagging.behind``: per level, the units furthest behind their target (lowest percentage);
    * ``lagging.quiet``: units with channels and no post sent in the last 14 days;
    * ``imports``: the latest import of each metric file or URL, with its problems.
    """
    tree = Tree(campaign)
    metric = main_metric(campaign)
    with store.session() as s:
        values_by_metric = {
            m: subtree_values(s, campaign, m) for m in {r.metric for r in campaign.milestones.milestones} | {metric}
        }
        firings = s.exec(select(MilestoneFiring)).all()
        last_sent = dict(
            s.exec(
                select(Delivery.unit_id, func.max(Delivery.sent_at))
                .where(Delivery.state == DeliveryState.SENT)
                .group_by(Delivery.unit_id)
            ).all()
        )
        audits = s.exec(
            select(AuditLog)
            .where(AuditLog.action.in_(["metrics_import", "metrics_fetch_failed"]))  # type: ignore[attr-defined]
            .order_by(col(AuditLog.at).desc())
            .limit(200)
        ).all()

    fired: dict[tuple[str, str], list[MilestoneFiring]] = defaultdict(list)
    for f in firings:
        fired[(f.rule_id, f.unit_id)].append(f)

    rules = []
    for rule in campaign.milestones.milestones:
        ths = thresholds_of(rule)
        values = values_by_metric[rule.metric]
        units = []
        for uid in rule_units(rule, tree):
            target = campaign.unit_by_id[uid].target
            value = values.get(uid, 0.0)
            done = sorted(fired.get((rule.id, uid), []), key=lambda f: f.fired_at)
            units.append(
                {
                    "unit": uid,
                    "name": _unit_name(campaign, uid),
                    "value": _num(value),
                    "target": target,
                    "percent": percent_floor(percent_of(value, target)),
                    "next": _next_threshold(ths, {f.threshold for f in done}, value, target),
                    "fired": [
                        {
                            "threshold": f.threshold,
                            "label": threshold_label(f.threshold),
                            "announced": f.announced,
                            "at": _iso(f.fired_at),
                            "value": _num(f.value),
                            "content_id": f.content_id,
                        }
                        for f in done
                    ],
                }
            )

        # Nearest to their next threshold first; then those that fired, the latest first.
        units.sort(key=lambda u: (_gap(u["next"]), u["name"]))
        units.sort(key=lambda u: max((f["at"] for f in u["fired"]), default=""), reverse=True)
        rules.append(
            {
                "id": rule.id,
                "metric": rule.metric,
                "metric_label": metric_label(rule.metric),
                "phase": rule.phase,
                "thresholds": [t.key for t in ths],
                "announce_to": rule.announce_to,
                "units": units[:per_rule],
                "more_units": max(0, len(units) - per_rule),
            }
        )

    # Units furthest behind their target, per level.
    values = values_by_metric[metric]
    by_level: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for u in campaign.units:
        if not u.target:
            continue
        v = values.get(u.id, 0.0)
        by_level[u.level].append(
            {
                "unit": u.id,
                "name": u.short_name or u.name,
                "value": _num(v),
                "target": u.target,
                "percent": percent_floor(v * 100.0 / u.target),
            }
        )
    behind = {
        level: sorted(items, key=lambda e: (e["percent"], e["name"]))[:per_level] for level, items in by_level.items()
    }
    behind = {lvl: behind[lvl] for lvl in LEVEL_LABELS if lvl in behind}

    # Units with channels and no post sent in the last 14 days.
    since = now - timedelta(days=QUIET_DAYS)
    quiet = []
    for u in campaign.units:
        if not u.channels:
            continue
        last = last_sent.get(u.id)
        last = last.replace(tzinfo=UTC) if last is not None and last.tzinfo is None else last
        if last is None or last < since:
            quiet.append(
                {
                    "unit": u.id,
                    "name": u.short_name or u.name,
                    "level": u.level,
                    "last_sent": _iso(last),
                    "days": (now - last).days if last else None,
                }
            )
    quiet.sort(key=lambda e: (e["last_sent"] is not None, e["last_sent"] or "", e["name"]))

    imports: dict[str, dict[str, Any]] = {}
    for a in audits:
        if a.subject and a.subject not in imports:
            d = a.detail or {}
            imports[a.subject] = {
                "source": a.subject,
                "at": _iso(a.at),
                "ok": a.action == "metrics_import",
                "imported": d.get("imported", 0),
                "corrected": d.get("corrected", 0),
                "problem_count": d.get("problem_count", len(d.get("problems", []))),
                "problems": [p for p in d.get("problems", [])][:10]
                if a.action == "metrics_import"
                else [{"file": a.subject, "line": None, "message": d.get("error", ""), "fix": None}],
            }

    start = campaign.local_datetime(campaign.config.start)
    end = campaign.local_datetime(campaign.config.end, end_of_day=True)
    elapsed = min(1.0, max(0.0, (now - start) / (end - start)))
    return {
        "timezone": campaign.config.timezone,
        "metric": metric,
        "metric_label": metric_label(metric),
        "expected_percent": round(elapsed * 100, 1),
        "fired": len(firings),
        "announced": sum(1 for f in firings if f.announced),
        "rules": rules,
        "lagging": {"behind": behind, "quiet": quiet, "quiet_days": QUIET_DAYS},
        "imports": sorted(imports.values(), key=lambda e: e["at"] or "", reverse=True),
    }
