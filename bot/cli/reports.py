"""`campaign-bot preview` and `campaign-bot report`: the pages and tables are built by bot.reports."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import click

from bot.bounds import DATE_MAX, DATE_MIN, PREVIEW_DAYS_MAX, REPORT_DAYS_MAX
from bot.cli.common import Ctx, out_dir, parse_now, preview_store, report_problems
from bot.messages import MOMENT
from bot.vn import TZ, ngay, ngay_gio, parse_moment, so


def parse_day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:  # one rule for dates on every command (bot.vn.parse_moment): 24/11/2026 or 2026-11-24
        return parse_moment(value).date()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None


@click.command()
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, PREVIEW_DAYS_MAX), help="Số ngày xem trước.")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Thư mục ghi trang (mặc định: preview/ trong thư mục chiến dịch).")
@click.option("--from", "from_text", type=MOMENT, metavar="NGÀY-GIỜ",
              help="Bắt đầu từ thời điểm này, ví dụ \"30/11/2026 07:00\" (mặc định: bây giờ).")
@click.pass_obj
def preview(obj: Ctx, days: int, out: str | None, from_text: str | None) -> None:
    """Xem trước N ngày tới: lịch đăng theo đơn vị và nền tảng, từng bài như sẽ đăng, khung giờ bỏ trống
    và lý do, các lỗi của thư mục. Không đăng gì, không thay đổi dữ liệu."""
    from bot.load import LoadError, load_campaign
    from bot.reports.preview import build_preview
    from bot.reports.preview_pages import write_preview, write_problems

    target = out_dir(obj, out, "preview")
    store = preview_store(obj)
    notice: list[str] = []
    try:
        try:
            campaign = load_campaign(obj.workspace)
        except LoadError as exc:
            # The folder has errors: preview the last good version kept in the store, if there is one (issue 11).
            from bot.lastgood import load_running

            running = load_running(obj.workspace, store, record=False)
            if running.campaign is None:
                page = write_problems(exc.problems, obj.workspace, target)
                report_problems(exc)
                click.echo(f"Trang liệt kê các lỗi: {page}", err=True)
                sys.exit(1)
            campaign, notice = running.campaign, running.header_lines()
            for line in notice:
                click.secho(line, fg="yellow", err=True)
        start = parse_now(from_text, campaign)
        result = build_preview(campaign, store, obj.env, start, days)
    finally:
        store.close()
    page = write_preview(result, target, notice)
    held = sum(1 for c in result.cards if c.status == "held")
    click.echo(
        f"Xem trước {so(days)} ngày từ {ngay_gio(result.start, campaign.tz)}: {so(result.to_post)} bài sẽ đăng, "
        f"{so(len(result.empties))} lượt bỏ trống" + (f", {so(held)} bài chờ kênh bị tạm giữ" if held else "") + "."
    )
    click.echo("Không đăng gì, dữ liệu không thay đổi.")
    click.echo(f"Mở trang: {page}")


@click.command()
@click.option("--from", "from_text", metavar="NGÀY", help="Từ ngày (24/11/2026 hoặc 2026-11-24; mặc định: ngày bắt đầu chiến dịch).")
@click.option("--to", "to_text", metavar="NGÀY", help="Đến hết ngày (mặc định: hôm nay, hoặc ngày của hoạt động cuối cùng nếu muộn hơn).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Thư mục ghi báo cáo (mặc định: report/ trong thư mục chiến dịch).")
@click.pass_obj
def report(obj: Ctx, from_text: str | None, to_text: str | None, out: str | None) -> None:
    """Báo cáo chiến dịch (HTML và CSV): bài đã đăng, chờ, tạm giữ, lỗi theo cấp và đơn vị; tương tác;
    tiến độ chỉ số so với chỉ tiêu; đơn vị chậm và đơn vị im lặng; các cột mốc đã đạt."""
    from bot.reports.report import build_report
    from bot.reports.report_files import write_report

    campaign = obj.campaign
    first = parse_day(from_text, "--from")
    last = parse_day(to_text, "--to")
    if first and last and last < first:
        raise click.BadParameter(f"ngày kết thúc {ngay(last)} trước ngày bắt đầu {ngay(first)}", param_hint="--to")
    for day, hint in ((first, "--from"), (last, "--to")):
        if day is not None and not DATE_MIN <= day <= DATE_MAX:
            raise click.BadParameter(f"ngày {day.isoformat()} ngoài khoảng {ngay(DATE_MIN)} – {ngay(DATE_MAX)}", param_hint=hint)
    if first and last and (last - first).days > REPORT_DAYS_MAX:
        raise click.BadParameter(f"báo cáo tối đa {REPORT_DAYS_MAX} ngày; chia thành nhiều báo cáo", param_hint="--to")
    data = build_report(campaign, obj.store, first, last, datetime.now(UTC))
    from bot.alerts import alerts_data, check_notice

    alerts = {**alerts_data(obj.store), "notice": check_notice(campaign, obj.env)}
    notice = obj.folder.header_lines(campaign.tz) if obj.folder is not None else []
    page = write_report(data, out_dir(obj, out, "report"), notice, alerts)
    t = data.totals
    click.echo(
        f"Báo cáo {ngay(data.first, TZ)} – {ngay(data.last, TZ)}: đã đăng {so(t['sent'])}, chờ {so(t['waiting'])}, "
        f"tạm giữ {so(t['held'])}, lỗi {so(t['failed'])}; {so(len(data.firings))} cột mốc."
    )
    click.echo(f"Mở trang: {page}")
    click.echo(f"Các tệp CSV trong: {page.parent}")


commands = [preview, report]
