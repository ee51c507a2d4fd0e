"""Commands and status of metrics and milestones: `campaign-bot metrics import FILE`,
`campaign-bot milestones [--json]`, and the milestone part of `campaign-bot status`.

``bot.cli`` registers everything in :data:`commands` and calls :func:`status_section` /
:func:`print_status_section` from its status command.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func
from sqlmodel import col, select

from bot.load import Campaign
from bot.messages import MOMENT
from bot.metrics import main_metric, metric_label, subtree_values
from bot.milestones import (
    Threshold,
    evaluate,
    import_file,
    percent_floor,
    percent_of,
    percent_text,
    rule_units,
    thresholds_of,
)
from bot.plan import Tree
from bot.store.db import Store
from bot.store.models import AuditLog, Delivery, DeliveryState, MilestoneFiring
from bot.vn import ngay, ngay_gio, so

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


# --- campaign-bot metrics import FILE -------------------------------------------------------


@click.group("metrics")
def metrics_group() -> None:
    """Số liệu của Chương trình (số sáng kiến của từng đơn vị): nhập tệp CSV."""


@metrics_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-check", is_flag=True, help="Chỉ nhập số liệu, không xét cột mốc.")
@click.option("--now", "now_text", type=MOMENT, metavar="NGÀY-GIỜ",
              help="Xét cột mốc như thể lúc này, ví dụ \"24/11/2026 08:00\" (mặc định: bây giờ).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@click.pass_obj
def metrics_import(obj: Any, file: Path, no_check: bool, now_text: str | None, as_json: bool) -> None:
    """Nhập một tệp số liệu CSV (cột unit,metric,value,at) rồi xét các cột mốc.

    \b
    Dòng lỗi (đơn vị không có, số âm hoặc không phải số, thời điểm sai) được báo kèm
    tệp:dòng và bỏ qua; các dòng đúng vẫn được nhập. Nhập lại cùng một tệp không thay đổi gì.
    Mã thoát 1 nếu có dòng lỗi.
    """
    from bot.cli import emit_json, parse_now
    from bot.store.sync import sync_campaign

    campaign: Campaign = obj.campaign
    store: Store = obj.store
    now = parse_now(now_text, campaign)
    sync_campaign(campaign, store)
    result = import_file(campaign, store, file, now, force=True)
    announcements = [] if no_check else evaluate(campaign, store, now, force=True)
    if as_json:
        emit_json({"import": result.as_dict(), "milestones": [a.__dict__ for a in announcements]})
        sys.exit(1 if result.problems else 0)
    click.echo(
        f"Đã đọc {so(result.rows)} dòng số liệu của {result.source}: {so(result.imported)} dòng mới"
        + (f", {so(result.corrected)} dòng sửa số liệu cũ" if result.corrected else "")
        + (f", {so(result.unchanged)} dòng đã có từ trước" if result.unchanged else "")
        + (f", {so(len(result.problems))} lỗi." if result.problems else ".")
    )
    for p in result.problems:
        click.secho(f"  ✗ {p}", fg="red", err=True)
    for p in result.held:
        click.secho(f"  ⚠ {p}", fg="yellow", err=True)
    if result.problems:
        click.echo(
            "Các dòng đúng đã được nhập; dòng lỗi bị bỏ qua. Sửa các dòng trên rồi nhập lại tệp "
            "(những dòng đã nhập sẽ không bị nhập trùng).",
            err=True,
        )
    if not no_check:
        if announcements:
            for a in announcements:
                click.echo(f"  ★ {a.description}")
            click.echo("Tin cột mốc sẽ được đăng ở lượt chạy tới (`campaign-bot tick` hoặc `campaign-bot run`).")
        else:
            click.echo("Không có cột mốc mới.")
    sys.exit(1 if result.problems else 0)


def _reading_time(text: str | None, campaign: Campaign) -> datetime | None:
    """The AT argument: a time as printed by the bot (campaign time unless a zone is written)."""
    from bot.metrics import parse_timestamp

    if text is None:
        return None
    when = parse_timestamp(text, campaign.tz)
    if when is None:
        raise click.BadParameter(f"'{text[:40]}' không phải thời điểm; ghi như 2026-11-29T10:00 (giờ Việt Nam)")
    return when


def _review(obj: Any, unit: str, at_text: str | None, metric: str | None, statuses: tuple[str, ...],
            new_status: str, by: str | None, verb: str) -> None:
    from bot.metrics import find_readings, review

    campaign: Campaign = obj.campaign
    metric = metric or main_metric(campaign)
    if unit not in campaign.unit_by_id:
        from bot.load import _suggest

        raise click.BadParameter(f"không có đơn vị '{unit[:80]}' — {_suggest(unit, set(campaign.unit_by_id))}")
    when = _reading_time(at_text, campaign)
    store: Store = obj.store
    who = by or "cli"
    with store.session() as s:
        rows = find_readings(s, unit, metric, when, statuses)
        for r in rows:
            review(s, r, new_status, who)
            s.add(AuditLog(actor=who, action=f"metric_{verb}", subject=f"{unit}/{metric}",
                           detail={"at": _iso(r.at), "value": r.value, "status": new_status}))
    if not rows:
        where = f" lúc {ngay_gio(when, campaign.tz)}" if when else ""
        click.secho(f"Không có số liệu nào của {unit} ({metric}){where} để {VERBS[verb]}.", fg="yellow", err=True)
        sys.exit(1)
    for r in rows:
        click.echo(f"Đã {VERBS[verb]}: {unit} · {metric} · {so(r.value)} lúc {ngay_gio(r.at, campaign.tz)}")
    click.echo("Cột mốc được xét lại ở lượt chạy tới (`campaign-bot tick` hoặc `campaign-bot run`).")


VERBS = {"confirm": "xác nhận", "drop": "loại bỏ"}


@metrics_group.command("held")
@click.pass_obj
def metrics_held(obj: Any) -> None:
    """Các số liệu tăng đột biến đang chờ người xác nhận (chưa được tính)."""
    from bot.metrics import STATUS_HELD
    from bot.store.models import MetricReading

    campaign: Campaign = obj.campaign
    with obj.store.session() as s:
        rows = s.exec(select(MetricReading).where(MetricReading.status == STATUS_HELD)
                      .order_by(col(MetricReading.unit_id), col(MetricReading.at))).all()
    if not rows:
        click.echo("Không có số liệu nào chờ xác nhận.")
        return
    for r in rows:
        local = r.at.astimezone(campaign.tz).strftime("%Y-%m-%dT%H:%M")
        click.echo(f"⚠ {r.unit_id} · {r.metric} · {so(r.value)} lúc {ngay_gio(r.at, campaign.tz)}: {r.note or ''}")
        click.echo(f"    campaign-bot metrics confirm {r.unit_id} {local} --metric {r.metric}   (đúng)")
        click.echo(f"    campaign-bot metrics drop {r.unit_id} {local} --metric {r.metric}      (sai)")


@metrics_group.command("confirm")
@click.argument("unit")
@click.argument("at_text", metavar="[THỜI-ĐIỂM]", required=False)
@click.option("--metric", help="Tên chỉ số (mặc định: chỉ số chính).")
@click.option("--by", help="Người xác nhận (ghi vào nhật ký).")
@click.pass_obj
def metrics_confirm(obj: Any, unit: str, at_text: str | None, metric: str | None, by: str | None) -> None:
    """Xác nhận số liệu tăng đột biến của ĐƠN-VỊ (tất cả, hoặc chỉ lúc THỜI-ĐIỂM) để được tính."""
    from bot.metrics import STATUS_HELD, STATUS_OK

    _review(obj, unit, at_text, metric, (STATUS_HELD,), STATUS_OK, by, "confirm")


@metrics_group.command("drop")
@click.argument("unit")
@click.argument("at_text", metavar="THỜI-ĐIỂM")
@click.option("--metric", help="Tên chỉ số (mặc định: chỉ số chính).")
@click.option("--by", help="Người loại bỏ (ghi vào nhật ký).")
@click.pass_obj
def metrics_drop(obj: Any, unit: str, at_text: str, metric: str | None, by: str | None) -> None:
    """Loại bỏ một số liệu sai đã lưu (của ĐƠN-VỊ lúc THỜI-ĐIỂM): không còn được tính, kể cả khi
    nhập lại cùng tệp; dòng trong tệp CSV vẫn nên được sửa."""
    from bot.metrics import STATUS_DROPPED, STATUS_HELD, STATUS_OK

    _review(obj, unit, at_text, metric, (STATUS_OK, STATUS_HELD), STATUS_DROPPED, by, "drop")


# --- campaign-bot milestones ----------------------------------------------------------------


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


def _threshold_label(key: str) -> str:
    return Threshold.parse(key, 0).label()


def _firing_status(f: dict[str, Any]) -> str:
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
        return f"đã vượt qua (gộp vào tin mốc {_threshold_label(covered)})"
    return "đã đạt trước khi giai đoạn bắt đầu (không thông báo)"


@click.command("milestones")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.option("--rule", "rule_id", metavar="QUY-TẮC", help="Chỉ một quy tắc (id trong config/milestones.yaml).")
@click.option("--unit", "unit_id", metavar="ĐƠN-VỊ", help="Chỉ một đơn vị.")
@click.pass_obj
def milestones_cmd(obj: Any, as_json: bool, rule_id: str | None, unit_id: str | None) -> None:
    """Các cột mốc đã đạt: quy tắc, đơn vị, mốc, số liệu, lúc nào, đã thông báo tới bao nhiêu kênh."""
    from bot.cli import emit_json

    campaign: Campaign = obj.campaign
    data = [
        f
        for f in firings_data(campaign, obj.store)
        if (rule_id is None or f["rule"] == rule_id) and (unit_id is None or f["unit"] == unit_id)
    ]
    if as_json:
        emit_json(data)
        return
    if not data:
        click.echo("Chưa có cột mốc nào được ghi nhận.")
        return
    tz = campaign.tz
    announced = sum(1 for f in data if f["announced"])
    click.echo(f"{so(len(data))} cột mốc đã đạt ({so(announced)} đã thông báo):")
    for f in data:
        when = datetime.fromisoformat(f["fired_at"]) if f["fired_at"] else None
        pct = f" ({percent_text(f['percent'])}% chỉ tiêu)" if f["percent"] is not None else ""
        mark = "★" if f["announced"] else "·"
        click.echo(
            f"{mark} {ngay_gio(when, tz)}  [{f['rule']}] {f['unit_name']}: mốc {_threshold_label(f['threshold'])}"
            f" — {so(f['value'])}{pct}"
        )
        click.echo(f"    {_firing_status(f)}")


commands = [metrics_group, milestones_cmd]


# --- the milestone part of `campaign-bot status` --------------------------------------------


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
                            "label": _threshold_label(f.threshold),
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


def print_status_section(data: dict[str, Any], tz: Any = None, *, per_rule: int = 10) -> None:
    """The status section in Vietnamese, for people."""
    from zoneinfo import ZoneInfo

    tz = tz or ZoneInfo(data.get("timezone") or "Asia/Ho_Chi_Minh")
    click.echo("")
    click.secho(f"CỘT MỐC ({so(data['announced'])} đã thông báo, {so(data['fired'])} đã đạt)", bold=True)
    for rule in data["rules"]:
        ths = ", ".join(_threshold_label(k) for k in rule["thresholds"])
        phase = f", chỉ trong {rule['phase']}" if rule.get("phase") else ""
        click.echo(f"  Quy tắc {rule['id']} (mốc {ths}{phase}):")
        for u in rule["units"][:per_rule]:
            pct = f" ({percent_text(u['percent'])}% chỉ tiêu)" if u["percent"] is not None else ""
            nxt = u["next"]
            if nxt is None:
                nxt_text = "đã đạt mọi mốc"
            elif nxt.get("needed") is None:
                nxt_text = f"mốc tiếp theo {nxt['label']}: {nxt.get('note', '')}"
            else:
                need = f" ({so(nxt['needed'])})" if nxt["threshold"].endswith("%") else ""
                nxt_text = f"mốc tiếp theo {nxt['label']}{need}, còn {so(nxt['remaining'])}"
            click.echo(f"    • {u['name']}: {so(u['value'])} {rule['metric_label']}{pct} — {nxt_text}")
            for f in u["fired"]:
                when = ngay_gio(datetime.fromisoformat(f["at"]), tz) if f["at"] else ""
                how = (
                    "đã thông báo" if f["announced"] else ("đã vượt qua" if f["content_id"] else "đạt trước giai đoạn")
                )
                click.echo(f"        ✓ mốc {f['label']} lúc {when} ({how})")
        hidden = len(rule["units"]) - per_rule + rule.get("more_units", 0)
        if hidden > 0:
            click.echo(f"    … và {so(hidden)} đơn vị khác (xem `campaign-bot status --json`)")

    lag = data["lagging"]
    if lag["behind"]:
        click.echo("")
        click.secho(
            f"ĐƠN VỊ CHẬM TIẾN ĐỘ (thấp nhất theo % chỉ tiêu; theo thời gian Chương trình đã qua "
            f"{percent_text(data['expected_percent'])}%)",
            bold=True,
        )
        for level, items in lag["behind"].items():
            parts = [
                f"{e['name']} {so(e['value'])}/{so(e['target'])} ({percent_text(e['percent'])}%)"
                + (" ⚠" if e["percent"] < data["expected_percent"] else "")
                for e in items
            ]
            click.echo(f"  {LEVEL_LABELS.get(level, level)}: " + "; ".join(parts))
    click.echo("")
    quiet = lag["quiet"]
    if quiet:
        click.secho(f"ĐƠN VỊ KHÔNG CÓ BÀI ĐĂNG TRONG {lag['quiet_days']} NGÀY QUA ({so(len(quiet))}):", bold=True)
        for e in quiet:
            when = (
                f"bài cuối ngày {ngay(datetime.fromisoformat(e['last_sent']), tz)} ({so(e['days'])} ngày trước)"
                if e["last_sent"]
                else "chưa đăng bài nào"
            )
            click.echo(f"  • {e['name']} — {when}")
    else:
        click.echo(f"Mọi đơn vị có kênh đều đã đăng bài trong {lag['quiet_days']} ngày qua.")
    if data["imports"]:
        click.echo("")
        click.secho("SỐ LIỆU NHẬP GẦN NHẤT", bold=True)
        for imp in data["imports"][:5]:
            when = ngay_gio(datetime.fromisoformat(imp["at"]), tz) if imp["at"] else ""
            if not imp["ok"]:
                click.secho(f"  ⚠ {imp['source']} ({when}): {imp['problems'][0]['message']}", fg="yellow")
                continue
            text = f"  {imp['source']} ({when}): {so(imp['imported'])} dòng mới"
            if imp["corrected"]:
                text += f", {so(imp['corrected'])} dòng sửa"
            if imp["problem_count"]:
                text += f", {so(imp['problem_count'])} lỗi"
            click.echo(text)
            for p in imp["problems"][:3]:
                where = p["file"] + (f":{p['line']}" if p.get("line") else "")
                click.secho(f"      ✗ {where}: {p['message']}", fg="red")


# --- campaign-bot check: the metric files and the .env ----------------------------------------


def check_data_and_env(campaign: Campaign) -> bool:
    """Print what `check` says about the metric files (every row: unit, metric name, value, time)
    and a ``.env`` readable by others; False when a metric file has problems."""
    from bot.files import env_warning
    from bot.metrics import check_files
    from bot.milestones import csv_files

    if warning := env_warning(campaign.workspace):
        click.secho(f"  {warning}", fg="yellow")
    files = csv_files(campaign)
    problems = check_files(campaign, files, datetime.now(UTC))
    if not problems:
        if files:
            click.echo(f"  Tệp số liệu: {so(len(files))} tệp, không có dòng lỗi.")
        return True
    click.secho(f"✗ Tệp số liệu có {so(len(problems))} dòng lỗi (các dòng này sẽ bị bỏ qua khi nhập):",
                fg="red", err=True)
    for p in problems[:50]:
        click.echo(f"  ✗ {p}", err=True)
    if len(problems) > 50:
        click.echo(f"  … và {so(len(problems) - 50)} lỗi khác", err=True)
    return False
