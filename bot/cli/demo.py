"""`campaign-bot demo` and `campaign-bot reset`: try the campaign without touching it, and undo an old demo
(what both do is bot.demo's)."""

from __future__ import annotations

import shutil
import sys
from collections import Counter

import click

from bot.channels import spec
from bot.cli.common import Ctx, parse_now
from bot.demo import apply_reset, demo_env, demo_folder, plan_reset
from bot.messages import MOMENT
from bot.vn import ngay_gio, so


@click.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366), help="Số ngày phát lại.")
@click.option("--start", "start_text", type=MOMENT, metavar="NGÀY-GIỜ", help="Bắt đầu từ, ví dụ \"01/12/2026 07:00\" (mặc định: bây giờ).")
@click.pass_obj
def demo(obj: Ctx, days: int, start_text: str | None) -> None:
    """Chạy thử N ngày tới theo thời gian giả lập, vào dữ liệu và thư mục riêng demo/ (không đụng tới
    chiến dịch thật, không đăng thật)."""
    from tqdm import tqdm

    from bot.pipeline import demo_moments, tick
    from bot.store import open_store
    from bot.store.sync import sync_campaign
    from bot.worker import Worker

    c = obj.campaign
    folder = demo_folder(obj.workspace)
    folder.mkdir(parents=True, exist_ok=True)
    outbox = folder / "outbox"
    click.secho(
        f"CHẠY THỬ: dữ liệu riêng {folder / 'campaign.db'}, bài ghi vào {outbox}/. "
        "Dữ liệu thật và outbox/ thật không bị đụng tới; không đăng gì lên Facebook hay Zalo.",
        fg="cyan",
    )
    start = parse_now(start_text, c)
    env = demo_env(obj.env, c)
    store = open_store(f"sqlite:///{folder / 'campaign.db'}")  # never CAMPAIGN_DB_URL: the demo is local
    totals: Counter[str] = Counter()
    try:
        sync_campaign(c, store, actor="demo")
        from datetime import timedelta

        from bot import digest

        # the weekly digests are played too, into demo/digests/*.eml (issue 17): nobody is mailed
        moments = sorted(set(demo_moments(c, start, days)) | set(digest.slots_between(c, start, start + timedelta(days=days))))
        digests = folder / "digests"
        written = 0
        worker = Worker(c, store, env, force_outbox=True, max_workers=4)
        worker.ctx.workspace = folder  # the outbox channel writes under <ctx.workspace>/outbox
        try:
            with tqdm(total=len(moments), unit="lượt", desc=f"Phát lại {days} ngày", file=sys.stderr,
                      mininterval=0.5) as bar:
                for moment in moments:
                    report = tick(c, store, env, moment, worker=worker, force_outbox=True, send_alerts=False)
                    if digest.run_pass(c, store, env, moment, offline=True).recorded:
                        written += digest.write_eml(store, digests, moment, "campaign-bot@demo.example.vn")
                    totals.update(report.worker.outcomes)
                    totals["milestones"] += len(report.milestones)
                    bar.set_postfix_str(ngay_gio(moment, c.tz))
                    bar.update(1)
                    for m in report.milestones:
                        tqdm.write(f"  ★ {m}", file=sys.stderr)
        finally:
            worker.close()
    finally:
        store.close()
    posts = list(outbox.glob("*/*/*.json"))
    platforms = Counter(p.parent.name for p in posts)
    click.echo(
        f"Xong: {so(totals['sent'])} bài mới ({so(totals['milestones'])} tin cột mốc); bản thử có {so(len(posts))} bài "
        f"cho {so(len({p.parent.parent.name for p in posts}))} đơn vị "
        f"({', '.join(f'{label} {so(platforms[name])}' for name, label in spec.labels().items())})."
    )
    if written:
        click.echo(f"Bản tin tuần: {so(written)} thư (.eml) trong {digests}/ — không gửi cho ai.")
    click.secho(
        f"Đây là bản CHẠY THỬ: bài nằm trong {outbox}/, chiến dịch thật không thay đổi. "
        "Xóa bản thử: `campaign-bot reset --demo`.",
        fg="cyan",
    )


@click.command()
@click.option("--demo", "demo_only", is_flag=True, help="Chỉ xóa bản chạy thử (thư mục demo/).")
@click.option("--dry-run", is_flag=True, help="Chỉ in những gì sẽ xóa, không xóa gì.")
@click.option("--yes", "-y", is_flag=True, help="Không hỏi lại.")
@click.pass_obj
def reset(obj: Ctx, demo_only: bool, dry_run: bool, yes: bool) -> None:
    """Xóa dấu vết của lần chạy thử cũ trong dữ liệu: bài đã ghi vào outbox, bài chưa đăng, khung giờ và
    tin cột mốc của thời gian giả lập. Giữ nguyên mọi bài đã lên Facebook/Zalo."""
    from bot.store import utcnow

    if demo_only:
        folder = demo_folder(obj.workspace)
        if not folder.exists():
            click.echo(f"Không có bản chạy thử ({folder} không tồn tại). Không có gì để xóa.")
            return
        files = [p for p in folder.rglob("*") if p.is_file()]
        click.echo(f"Sẽ xóa thư mục chạy thử {folder} ({so(len(files))} tệp).")
        if dry_run:
            click.echo("Chạy thử (--dry-run): chưa xóa gì.")
            return
        if not yes and not click.confirm("Xóa?", default=False):
            click.echo("Đã hủy, không xóa gì.")
            return
        shutil.rmtree(folder)
        click.echo("Đã xóa bản chạy thử.")
        return
    plan = plan_reset(obj.store, obj.workspace, utcnow())
    click.echo(f"Dữ liệu: {obj.store.display_url()}")
    if plan.empty:
        click.echo(f"Không có gì để xóa: dữ liệu không có dấu vết chạy thử ({so(plan.kept_real)} bài đã đăng thật được giữ).")
        return
    click.echo(f"  {so(len(plan.deliveries))} lượt đăng chưa lên nền tảng thật (đã ghi vào outbox hoặc chưa gửi) sẽ bị quên;")
    click.echo(f"  {so(len(plan.outbox_files))} tệp tương ứng trong outbox/ sẽ bị xóa;")
    click.echo(f"  {so(len(plan.slots))} khung giờ đã đánh dấu xong sẽ được lập lịch lại;")
    click.echo(f"  {so(len(plan.firings))} tin cột mốc sẽ được xét lại ở lượt sau;")
    click.echo(f"  giữ nguyên {so(plan.kept_real)} lượt đăng đã lên (hoặc có thể đã lên) Facebook/Zalo, token, số liệu.")
    if dry_run:
        click.echo("Chạy thử (--dry-run): chưa xóa gì.")
        return
    if not yes and not click.confirm("Xóa những mục trên?", default=False):
        click.echo("Đã hủy, không xóa gì.")
        return
    apply_reset(obj.store, plan)
    click.echo("Đã xóa. Lượt `campaign-bot tick` sau sẽ lập lịch lại các khung giờ sắp tới.")


commands = [demo, reset]
