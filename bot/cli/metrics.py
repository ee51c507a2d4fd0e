"""`campaign-bot metrics import|held|confirm|drop`: the programme's figures (initiatives per unit) read
from a CSV file, and the suspicious jumps a person confirms or drops. The work is bot.milestones' and
bot.metric_source's; these commands say what it did."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from bot.cli.common import Ctx, emit_json, parse_now
from bot.load import Campaign
from bot.messages import MOMENT
from bot.metrics import main_metric
from bot.milestones import evaluate, import_file
from bot.store.db import Store
from bot.vn import ngay_gio, so


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
def metrics_import(obj: Ctx, file: Path, no_check: bool, now_text: str | None, as_json: bool) -> None:
    """Nhập một tệp số liệu CSV (cột unit,metric,value,at) rồi xét các cột mốc.

    \b
    Dòng lỗi (đơn vị không có, số âm hoặc không phải số, thời điểm sai) được báo kèm
    tệp:dòng và bỏ qua; các dòng đúng vẫn được nhập. Nhập lại cùng một tệp không thay đổi gì.
    Mã thoát 1 nếu có dòng lỗi.
    """
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


def _review(obj: Ctx, unit: str, at_text: str | None, metric: str | None, statuses: tuple[str, ...],
            new_status: str, by: str | None, verb: str) -> None:
    from bot.metric_source import review_readings

    campaign: Campaign = obj.campaign
    metric = metric or main_metric(campaign)
    if unit not in campaign.unit_by_id:
        from bot.load import _suggest

        raise click.BadParameter(f"không có đơn vị '{unit[:80]}' — {_suggest(unit, set(campaign.unit_by_id))}")
    when = _reading_time(at_text, campaign)
    rows = review_readings(obj.store, unit, metric, when, statuses, new_status, by or "cli", verb)
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
def metrics_held(obj: Ctx) -> None:
    """Các số liệu tăng đột biến đang chờ người xác nhận (chưa được tính)."""
    from bot.metric_source import held_readings

    campaign: Campaign = obj.campaign
    rows = held_readings(obj.store)
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
def metrics_confirm(obj: Ctx, unit: str, at_text: str | None, metric: str | None, by: str | None) -> None:
    """Xác nhận số liệu tăng đột biến của ĐƠN-VỊ (tất cả, hoặc chỉ lúc THỜI-ĐIỂM) để được tính."""
    from bot.metrics import STATUS_HELD, STATUS_OK

    _review(obj, unit, at_text, metric, (STATUS_HELD,), STATUS_OK, by, "confirm")


@metrics_group.command("drop")
@click.argument("unit")
@click.argument("at_text", metavar="THỜI-ĐIỂM")
@click.option("--metric", help="Tên chỉ số (mặc định: chỉ số chính).")
@click.option("--by", help="Người loại bỏ (ghi vào nhật ký).")
@click.pass_obj
def metrics_drop(obj: Ctx, unit: str, at_text: str, metric: str | None, by: str | None) -> None:
    """Loại bỏ một số liệu sai đã lưu (của ĐƠN-VỊ lúc THỜI-ĐIỂM): không còn được tính, kể cả khi
    nhập lại cùng tệp; dòng trong tệp CSV vẫn nên được sửa."""
    from bot.metrics import STATUS_DROPPED, STATUS_HELD, STATUS_OK

    _review(obj, unit, at_text, metric, (STATUS_OK, STATUS_HELD), STATUS_DROPPED, by, "drop")


commands = [metrics_group]
