"""`campaign-bot milestones`: the milestones reached, per rule and unit, and how far their news went."""

from __future__ import annotations

from datetime import datetime

import click

from bot.cli.common import Ctx, emit_json
from bot.load import Campaign
from bot.milestones import percent_text
from bot.reports import milestones as milestone_data
from bot.vn import ngay_gio, so


@click.command("milestones")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.option("--rule", "rule_id", metavar="QUY-TẮC", help="Chỉ một quy tắc (id trong config/milestones.yaml).")
@click.option("--unit", "unit_id", metavar="ĐƠN-VỊ", help="Chỉ một đơn vị.")
@click.pass_obj
def milestones_cmd(obj: Ctx, as_json: bool, rule_id: str | None, unit_id: str | None) -> None:
    """Các cột mốc đã đạt: quy tắc, đơn vị, mốc, số liệu, lúc nào, đã thông báo tới bao nhiêu kênh."""
    campaign: Campaign = obj.campaign
    data = [
        f
        for f in milestone_data.firings_data(campaign, obj.store)
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
            f"{mark} {ngay_gio(when, tz)}  [{f['rule']}] {f['unit_name']}: mốc {milestone_data.threshold_label(f['threshold'])}"
            f" — {so(f['value'])}{pct}"
        )
        click.echo(f"    {milestone_data.firing_status(f)}")


commands = [milestones_cmd]
