"""`campaign-bot tick` (one pass) and `campaign-bot run` (a pass every minute): what each pass did, in Vietnamese.

The pass itself is bot.pipeline's; these commands hold the store's tick lock around it and print its report.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from bot.cli.common import Ctx, emit_json, parse_now
from bot.messages import MOMENT
from bot.store import utcnow
from bot.vn import ngay_gio, so

log = logging.getLogger("bot")


def _print_tick(report: Any, as_json: bool, tz: Any) -> None:
    if as_json:
        emit_json(report.summary())
        return
    o = report.worker.outcomes
    click.echo(
        f"{ngay_gio(report.at, tz)}: {so(report.planned)} lượt mới, đã đăng {so(o['sent'] + o['reconciled'])}, "
        f"thử lại {so(o['retry'] + o['paused'] + o['waiting'])}, lỗi {so(o['failed'])}, tạm giữ {so(o['held'])}."
    )
    for m in report.milestones:
        click.echo(f"  ★ {m}")
    for note in report.notes:
        click.echo(f"  {note}")
    for cid, reason in report.worker.held.items():
        click.secho(f"  ⚠ Kênh {cid} bị tạm giữ: {reason} — xem `campaign-bot channels`.", fg="yellow")
    _print_folder_and_alerts(report, tz)


def _print_folder_and_alerts(report: Any, tz: Any) -> None:
    """The folder's errors (the pass ran on the last good version) and the alerts sent (issue 11)."""
    from bot.lastgood import problem_text

    folder = report.folder
    if not folder.ok:
        when = f" nạp lúc {ngay_gio(folder.version_loaded_at, tz)}" if folder.version_loaded_at else ""
        click.secho(f"  ⚠ Thư mục chiến dịch có {so(len(folder.problems))} lỗi; lượt này chạy theo phiên bản "
                    f"hợp lệ{when}:", fg="yellow")
        for p in folder.problems[:5]:
            click.echo(f"    ✗ {problem_text(p)}")
    a = report.alerts
    if report.digest.recorded:  # issue 17: recorded now, sent below with the alerts
        click.echo(f"  ✉ Bản tin tuần: {so(report.digest.recorded)} thư mới cho người phụ trách các đơn vị.")
    if a.sent:
        click.echo(f"  ✉ Đã gửi {so(a.sent)} thư (cảnh báo và bản tin tuần).")
    for err in a.errors[:3]:
        click.secho(f"  ✉ Cảnh báo chưa gửi được: {err} (sẽ thử lại).", fg="yellow")


@click.command()
@click.option("--now", "now_text", type=MOMENT, metavar="NGÀY-GIỜ",
              help="Chạy như thể lúc này, ví dụ \"27/11/2026 08:00\" hoặc 2026-11-27T08:00 (giờ chiến dịch).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@click.option("--outbox", "force_outbox", is_flag=True, help="Chỉ ghi vào outbox/, không đăng thật dù có token.")
@click.pass_obj
def tick(obj: Ctx, now_text: str | None, as_json: bool, force_outbox: bool) -> None:
    """Một lượt: nạp, kiểm tra cột mốc, lập lịch, vẽ banner, đăng, đối soát."""
    from bot.pipeline import run_pass
    from bot.reports.status import quiet_waiting

    now = parse_now(now_text, obj.campaign)
    # A folder with errors does not stop the pass: it runs on the last good version (bot.lastgood).
    with one_pass(obj):
        report = run_pass(obj.workspace, obj.store, obj.env, now, force_outbox=force_outbox)
    waiting, until = quiet_waiting(obj.campaign, obj.store, now)
    if waiting:
        report.notes.append(f"{so(waiting)} bài chờ hết giờ yên lặng, sẽ đăng lúc {ngay_gio(until, obj.campaign.tz)}.")
    _print_tick(report, as_json, obj.campaign.tz)


@contextmanager
def one_pass(obj: Ctx, wait: float | None = None) -> Iterator[None]:
    """Hold the store's tick lock for one pass (issue 12): a second `tick` on the same SQLite store
    waits, then says clearly that another is running (exit 3); stale temp files are cleaned."""
    from bot.files import clean_stale_temp
    from bot.store.db import tick_lock, tick_wait_seconds

    limit = tick_wait_seconds() if wait is None else wait
    notice = "Một lượt khác đang chạy trên cùng dữ liệu; đang chờ lượt đó xong…"
    with tick_lock(obj.store, wait=limit, on_wait=lambda: click.echo(notice, err=True)) as held:
        if not held:
            click.secho(f"✗ Một lượt khác (`campaign-bot tick` hoặc `run`) vẫn đang chạy trên dữ liệu này"
                        f" sau {so(limit)} giây chờ; lượt này không chạy. Chạy lại sau khi lượt kia xong.",
                        fg="red", err=True)
            sys.exit(3)
        clean_stale_temp(obj.workspace / "outbox", obj.workspace / ".campaign")
        yield


@click.command()
@click.option("--every", default=60, show_default=True, help="Số giây giữa hai lượt.")
@click.option("--outbox", "force_outbox", is_flag=True, help="Chỉ ghi vào outbox/, không đăng thật.")
@click.pass_obj
def run(obj: Ctx, every: int, force_outbox: bool) -> None:
    """Chạy liên tục: APScheduler gọi một lượt `tick` mỗi phút. Ctrl-C để dừng."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.files import clean_stale_temp
    from bot.leader import Leader
    from bot.load import reload_env
    from bot.pipeline import run_pass
    from bot.reports.status import quiet_waiting
    from bot.store.db import tick_lock

    workspace = obj.workspace
    # On PostgreSQL several `run` may share the store: one at a time plans (advisory lock), all publish.
    leader = Leader(obj.store)
    leading: list[bool | None] = [None]

    def job() -> None:
        try:
            lead = leader.acquire()
            if lead != leading[0] and leader.shared:
                click.echo("Máy này giữ vai trò lập lịch." if lead else "Máy khác đang lập lịch; máy này chỉ đăng bài.")
            leading[0] = lead
            # Staff edit files while it runs: each pass reloads, and a broken folder runs on the last good version.
            with tick_lock(obj.store, wait=0) as held:  # a manual `tick` running: skip this minute
                if not held:
                    click.echo("Một lượt `tick` khác đang chạy; bỏ qua phút này.", err=True)
                    return
                clean_stale_temp(workspace / "outbox", workspace / ".campaign")  # what a killed pass left (>10 min old)
                env, env_problems = reload_env(workspace, obj.env)  # .env edited while it runs: used now
                for problem in env_problems:  # unreadable now: the last good .env is kept, the fix is told
                    click.secho(f"⚠ {problem.one_line()}", fg="yellow", err=True)
                report = run_pass(workspace, obj.store, env, utcnow(), force_outbox=force_outbox, lead=lead)
            if report.planned or report.milestones:  # new posts this minute: say if they wait for the morning
                waiting, until = quiet_waiting(obj.campaign, obj.store, report.at)
                if waiting:
                    report.notes.append(f"{so(waiting)} bài chờ hết giờ yên lặng, sẽ đăng lúc {ngay_gio(until, obj.campaign.tz)}.")
            _print_tick(report, False, obj.campaign.tz)
        except Exception:  # noqa: BLE001 - one bad pass must not stop the service
            log.exception("lượt chạy lỗi; sẽ thử lại ở lượt sau")

    obj.campaign  # validate once before starting  # noqa: B018
    scheduler = BlockingScheduler(timezone=obj.campaign.config.timezone)
    scheduler.add_job(job, "interval", seconds=every, next_run_time=datetime.now(UTC), id="tick",
                      max_instances=1, coalesce=True, misfire_grace_time=every)

    def stop(*_: Any) -> None:
        click.echo("Đang dừng…")
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"Đang chạy (mỗi {every} giây). Ctrl-C để dừng. Dữ liệu: {obj.store.display_url()}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        leader.release()
    click.echo("Đã dừng.")



commands = [tick, run]
