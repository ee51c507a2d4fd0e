"""`campaign-bot digest`: see the weekly digests first (``--preview``), or send those due (issue 17).

``--preview`` writes HTML files and an index and changes
nothing (it reads the store only); without it the digests due at ``--now`` are recorded and sent
through the alerts' mailer (bot.alerts.send_due), once.
"""

from __future__ import annotations

import html
import json
import sys
from typing import Any

import click

from bot.cli.common import emit_json, out_dir, parse_now, preview_store
from bot.messages import MOMENT
from bot.vn import ngay_gio, so


@click.command("digest")
@click.option("--preview", is_flag=True, help="Chỉ xem trước: ghi các bản tin thành trang HTML, không gửi, không thay đổi gì.")
@click.option("--unit", "unit", metavar="MÃ_ĐƠN_VỊ", help="Chỉ bản tin gửi người phụ trách của đơn vị này (với --preview).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Thư mục ghi trang xem trước (mặc định: digest-preview/).")
@click.option("--now", "now_text", type=MOMENT, metavar="NGÀY-GIỜ", help="Thời điểm, ví dụ \"07/12/2026 07:30\" (mặc định: bây giờ).")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def digest_cmd(obj: Any, preview: bool, unit: str | None, out: str | None, now_text: str | None, as_json: bool) -> None:
    """Bản tin tuần gửi người phụ trách từng đơn vị: xem trước (--preview) hoặc gửi các bản tin đến hạn."""
    from bot import alerts, digest

    c = obj.campaign
    now = parse_now(now_text, c)
    if unit and unit not in c.unit_by_id:
        from bot.load import _suggest

        click.secho(f"✗ Không có đơn vị '{unit}' trong config/units.yaml: {_suggest(unit, set(c.unit_by_id))}.",
                    fg="red", err=True)
        sys.exit(1)
    if preview:
        store = preview_store(obj)  # never creates a store
        try:
            slot, digests, stands = digest.preview(c, store, now, unit)
        finally:
            store.close()
        target = out_dir(obj, out, "digest-preview")
        _write_preview(target, digests, slot, c)
        data = {"slot": slot.isoformat(), "folder": str(target), "digests": [
            {"to": d.address, "units": d.units, "subject": d.subject, "file": _file_name(i, d),
             "summary": [st.unit.id for st in d.summary]} for i, d in enumerate(digests, 1)],
            "units": {uid: st.as_dict() for uid, st in stands.items()}}
        if as_json:
            emit_json(data)
            return
        click.echo(f"Bản tin của lượt {ngay_gio(slot, c.tz)}: {so(len(digests))} thư, ghi trong {target}/index.html.")
        if not digests:
            click.echo("Chưa đơn vị nào có người phụ trách (contacts: trong config/units.yaml).")
        return
    rec = digest.record_due(c, obj.store, obj.env, now)
    report = alerts.AlertsReport()
    if alerts.smtp_configured(obj.env):
        alerts.send_due(obj.store, obj.env, now, alerts.default_owner(), report)
    data = {**rec.as_dict(), "sent": report.sent, "retry": report.retry, "failed": report.failed, "errors": report.errors}
    if as_json:
        emit_json(data)
        return
    if rec.skipped:
        click.echo(f"Không ghi bản tin mới: {rec.skipped}.")
    else:
        click.echo(f"Lượt {ngay_gio(rec.slot, c.tz)}: ghi {so(rec.recorded)} bản tin mới.")
    click.echo(f"Đã gửi {so(report.sent)} thư; sẽ gửi lại {so(report.retry)}; không gửi được {so(report.failed)}.")
    for e in report.errors[:10]:
        click.echo(f"  ⚠ {e}")


def _file_name(i: int, d: Any) -> str:
    return f"{i:03d}-{'-'.join(d.units)[:60] or 'tong-hop'}.html"


def _write_preview(target: Any, digests: list[Any], slot: Any, c: Any) -> None:
    from bot.files import atomic_write_text

    target.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, d in enumerate(digests, 1):
        name = _file_name(i, d)
        atomic_write_text(target / name, d.html, root=target)
        rows.append(f'<li><a href="{name}">{html.escape(d.subject)}</a> → {html.escape(d.address)}</li>')
    index = ("<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Bản tin tuần — xem trước</title></head>"
             f"<body style=\"font-family:sans-serif\"><h1>Bản tin tuần {html.escape(ngay_gio(slot, c.tz))} — xem trước</h1>"
             f"<p>{so(len(digests))} thư (chưa gửi).</p><ol>{''.join(rows)}</ol></body></html>")
    atomic_write_text(target / "index.html", index, root=target)
    atomic_write_text(target / "digests.json", json.dumps(
        [{"to": d.address, "units": d.units, "subject": d.subject, "text": d.text} for d in digests],
        ensure_ascii=False, indent=1), root=target)


commands = [digest_cmd]
