"""`campaign-bot check`, `sync` and `plan`: the campaign folder checked, loaded into the store, planned."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from bot.channels import spec
from bot.cli.common import Ctx, parse_now
from bot.messages import MOMENT
from bot.vn import ngay_gio, so


@click.command()
@click.option("--check-links", is_flag=True, help="Tải thử từng đường dẫn (link:) của các bài: báo lỗi 4xx/5xx và thiếu ảnh xem trước.")
@click.pass_obj
def check(obj: Ctx, check_links: bool) -> None:
    """Kiểm tra toàn bộ thư mục chiến dịch (không thay đổi dữ liệu)."""
    from bot.alerts import check_notice
    from bot.banners import campaign_fit_warnings, layout_engine_name
    from bot.digest import unreachable

    c = obj.campaign
    approved = sum(1 for s in c.stories if s.front.approved)
    channels = [(u, ch) for u in c.units for ch in u.channels]
    missing = [ch.token_env for _, ch in channels if ch.token_env and not spec.is_live(ch.token_env, obj.env)]
    click.secho("✓ Thư mục chiến dịch hợp lệ.", fg="green")
    click.echo(f"  Chiến dịch: {c.config.name} ({c.config.start:%d/%m/%Y} – {c.config.end:%d/%m/%Y})")
    click.echo(f"  Đơn vị: {so(len(c.units))} · kênh: {so(len(channels))} · lịch đăng: {so(len(c.schedules))}")
    click.echo(f"  Bài viết: {so(len(c.stories))} ({so(approved)} đã duyệt) · mẫu banner: {so(len(c.banners))}")
    click.echo(f"  Quy tắc cột mốc: {so(len(c.milestones.milestones))}")
    click.echo(f"  Dàn chữ banner: {layout_engine_name()}")
    if missing:
        click.echo(f"  {so(len(missing))} kênh chưa có token → đăng vào outbox/ (thư mục xem trước), không đăng thật.")
    for warning in c.warnings:
        click.secho(f"  ⚠ {warning}", fg="yellow")
    if notice := check_notice(c, obj.env):
        click.echo(f"  {notice}")
    if lonely := unreachable(c):  # issue 17: a warning, not an error
        click.secho(f"  ⚠ {so(len(lonely))} đơn vị chưa có người phụ trách (contacts:) nên không nhận bản tin tuần: "
                    f"{', '.join(lonely[:10])}{' …' if len(lonely) > 10 else ''} (config/units.yaml).", fg="yellow")
    cut = campaign_fit_warnings(c)  # a warning, not an error: the banner is still drawn, with "…"
    if cut:
        click.secho(f"⚠ {so(len(cut))} banner có chữ không vừa khung:", fg="yellow")
        for message in cut:
            click.echo(f"  {message}")
    data_ok = check_data_and_env(obj)  # data/*.csv row by row; a .env readable by others (issue 12)
    from bot.links import echo_link_reports

    if not data_ok or (check_links and not echo_link_reports(obj.campaign)):  # issue 18: fetched only when asked
        sys.exit(1)


def check_data_and_env(obj: Ctx) -> bool:
    """Print what `check` says about the metric files (every row: unit, metric name, value, time)
    and a ``.env`` readable by others; False when a metric file has problems."""
    from bot.files import env_warning
    from bot.metrics import check_files
    from bot.milestones import csv_files

    campaign = obj.campaign
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


@click.command()
@click.pass_obj
def sync(obj: Ctx) -> None:
    """Nạp thư mục chiến dịch vào dữ liệu (tất cả hoặc không gì cả)."""
    from bot.store.sync import sync_campaign

    result = sync_campaign(obj.campaign, obj.store, actor="cli")
    if result.unchanged:
        click.echo("Không có gì thay đổi kể từ lần nạp trước.")
    else:
        click.echo(
            f"Đã nạp: {so(result.units)} đơn vị, {so(result.channels)} kênh; bài mới {so(result.content_added)}, "
            f"bài sửa {so(result.content_changed)}, bài gỡ {so(result.content_retired)}."
        )


@click.command("plan")
@click.option("--now", "now_text", type=MOMENT, metavar="NGÀY-GIỜ",
              help="Lập lịch như thể lúc này, ví dụ \"27/11/2026 08:00\" (mặc định: bây giờ).")
@click.pass_obj
def plan_cmd(obj: Ctx, now_text: str | None) -> None:
    """Lập lịch: tạo các lượt đăng cho các khung giờ đến hạn (không đăng)."""
    from bot.pipeline import plan_now
    from bot.store.sync import sync_campaign

    now = parse_now(now_text, obj.campaign)
    sync_campaign(obj.campaign, obj.store)
    created, slots = plan_now(obj.campaign, obj.store, now)
    click.echo(f"{ngay_gio(now, obj.campaign.tz)}: {so(slots)} khung giờ, {so(created)} lượt đăng mới.")


commands = [check, sync, plan_cmd]
