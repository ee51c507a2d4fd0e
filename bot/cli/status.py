"""`campaign-bot status`: posts by unit, channel and state, why they wait, held channels, milestones,
edits and removals, the weekly digests. The figures come from bot.reports.status (also ``--json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from bot.cli.common import Ctx, emit_json
from bot.messages import CORRECTION_LABELS, CORRECTION_STATES
from bot.milestones import percent_text
from bot.reports import platform_label
from bot.reports.milestones import LEVEL_LABELS, threshold_label
from bot.store import utcnow
from bot.vn import ngay, ngay_gio, so


@click.command()
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON (số lượt đăng theo kênh và trạng thái).")
@click.pass_obj
def status(obj: Ctx, as_json: bool) -> None:
    """Tình hình: lượt đăng theo đơn vị, kênh và trạng thái; kênh bị tạm giữ; cột mốc."""
    from bot.reports.status import status_data

    c = obj.campaign
    data = status_data(c, obj.store, obj.env, utcnow(), obj.folder)
    if as_json:
        emit_json(data)
        return
    names = {u.id: u.short_name or u.name for u in obj.campaign.units}
    t = data["totals"]
    click.echo(
        f"Tổng: đã đăng {so(t['sent'])}, chờ {so(t['pending'] + t['retry'])}, đang gửi {so(t['sending'])}, "
        f"lỗi {so(t['failed'])}, bỏ qua {so(t['skipped'])}."
    )
    labels = {cid: f"{names.get(e['unit'], e['unit'])} · {platform_label(e['platform'])}"
              for cid, e in data["channels"].items()}
    width = max([len("Kênh"), *map(len, labels.values())])  # never cut a name: the column grows instead
    click.echo(f"{'Kênh':<{width}} {'đã đăng':>8} {'chờ':>6} {'lỗi':>6}  ghi chú")
    for cid, e in data["channels"].items():
        st = e["states"]
        note = "TẠM GIỮ: " + (e.get("reason") or "") if e.get("held") else ("outbox" if e.get("mode") == "outbox" else "")
        click.echo(f"{labels[cid]:<{width}} {so(st['sent']):>8} {so(st['pending'] + st['retry']):>6} {so(st['failed']):>6}  {note}")
        for reason in e.get("waiting", []):
            click.echo(f"    ↳ {reason}")
    if data.get("milestones"):
        print_milestones(data["milestones"])
    print_corrections(data.get("corrections"), obj.campaign.tz)
    digests = data.get("digests") or {}
    if any(digests.values()):
        click.echo("Bản tin tuần gửi lần gần nhất:")
        for uid, at in digests.items():
            when = ngay_gio(datetime.fromisoformat(at), obj.campaign.tz) if at else "chưa gửi"
            click.echo(f"  {names.get(uid, uid)}: {when}")


def print_milestones(data: dict[str, Any], tz: Any = None, *, per_rule: int = 10) -> None:
    """The status section in Vietnamese, for people."""
    from zoneinfo import ZoneInfo

    tz = tz or ZoneInfo(data.get("timezone") or "Asia/Ho_Chi_Minh")
    click.echo("")
    click.secho(f"CỘT MỐC ({so(data['announced'])} đã thông báo, {so(data['fired'])} đã đạt)", bold=True)
    for rule in data["rules"]:
        ths = ", ".join(threshold_label(k) for k in rule["thresholds"])
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

    _print_lagging(data, tz)
    _print_imports(data, tz)


def _print_lagging(data: dict[str, Any], tz: Any) -> None:
    """Units behind their target per level, and those with no post for two weeks."""
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


def _print_imports(data: dict[str, Any], tz: Any) -> None:
    """The latest import of each metric file or URL, with its first problems."""
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


def print_corrections(data: dict[str, Any] | None, tz: Any) -> None:
    """Edits and removals of published posts by state, withdrawn items, and those that need a person."""
    if not data or not (data["counts"] or data["withdrawn"]):
        return
    click.echo("Sửa/gỡ bài đã đăng:")
    for action, states in sorted(data["counts"].items()):
        parts = ", ".join(f"{CORRECTION_STATES.get(k, k)} {v}" for k, v in sorted(states.items()))
        click.echo(f"  {CORRECTION_LABELS.get(action, action)}: {parts}")
    for w in data["withdrawn"]:
        click.echo(f"  đã rút {w['content']} lúc {ngay_gio(w['at'], tz)}: {w['reason']}")
    for a in data["attention"]:
        mark = "✗" if a["state"] == "failed" else "…"
        click.echo(f"  {mark} {CORRECTION_LABELS.get(a['action'], a['action'])} {a['content']} trên {a['channel']}: "
                   f"{CORRECTION_STATES.get(a['state'], a['state'])}" + (f" — {a['reason']}" if a["reason"] else ""))


commands = [status]
