"""`campaign-bot alerts`: the alert messages sent and waiting, and the events not yet told.

Works from the store whatever the folder's state.
"""

from __future__ import annotations

import click

from bot.cli.common import Ctx, emit_json
from bot.vn import ngay_gio, so


@click.command("alerts")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 5000), help="Số thư gần nhất.")
@click.pass_obj
def alerts_cmd(obj: Ctx, as_json: bool, limit: int) -> None:
    """Cảnh báo đã gửi và đang chờ gửi (thư mục lỗi, kênh bị tạm giữ, bài lỗi hẳn, cột mốc, số liệu)."""
    from bot.alerts import STATE_LABELS, TYPE_LABELS, alerts_data, check_notice

    campaign = obj.campaign
    data = alerts_data(obj.store, limit)
    notice = check_notice(campaign, obj.env)
    data["notice"] = notice
    if as_json:
        emit_json(data)
        return
    tz = campaign.tz
    if notice:
        click.echo(notice)
    msgs = data["messages"]
    if not msgs and not data["waiting"]:
        click.echo("Chưa có cảnh báo nào.")
    for m in msgs:
        when = ngay_gio(m["sent_at"] or m["created_at"], tz)
        state = STATE_LABELS.get(m["state"], m["state"])
        line = f"{when}  {state:<16} {TYPE_LABELS.get(m['type'], m['type'])} → {m['to']}"
        click.echo(line + (f" ({so(m['events'])} sự kiện)" if m["events"] > 1 else ""))
        click.echo(f"    {m['subject']}")
        if m["state"] in ("retry", "failed") and m.get("error"):
            again = f"; thử lại lúc {ngay_gio(m['next_attempt_at'], tz)}" if m.get("next_attempt_at") else ""
            click.echo(f"    lỗi: {m['error']}{again}")
    for type_, w in data["waiting"].items():
        click.echo(f"Chờ gộp vào thư sau (giới hạn 1 thư/giờ): {so(w['items'])} × {TYPE_LABELS.get(type_, type_)} "
                   f"cho {', '.join(w['recipients'])}")


commands = [alerts_cmd]
