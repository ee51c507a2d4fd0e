"""`campaign-bot worker`: a publishing process that runs beside the planner, on any machine.

Any number of workers on any number of machines share one PostgreSQL store: each claims due
deliveries in small batches (``SELECT … FOR UPDATE SKIP LOCKED``), posts them and records the
outcome; a worker that dies leaves leases that expire, and another worker reconciles what it
left before sending again. Planning stays with `campaign-bot run` (one planner at a time).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

import click

from bot.cli.common import Ctx, report_problems
from bot.load import Campaign, LoadError, load_campaign
from bot.pipeline import current_metrics
from bot.store import utcnow
from bot.vn import so
from bot.worker import BATCH, Worker

log = logging.getLogger("bot.worker")

RELOAD_EVERY = 60.0  # seconds between re-reads of the campaign folder (staff edit it while workers run)
PASS_KEYS = ("sent", "reconciled", "retry", "paused", "failed", "held", "skipped", "reclaimed", "lease-lost", "error")


def pass_line(owner: str, outcomes: Counter[str], tz: Any) -> str:
    o = outcomes
    text = (
        f"{datetime.now(tz):%H:%M:%S} {owner}: đã đăng {so(o['sent'] + o['reconciled'])}"
        f" (đối soát {so(o['reconciled'])}), thử lại {so(o['retry'] + o['paused'])}, lỗi {so(o['failed'])},"
        f" tạm giữ {so(o['held'])}, bỏ qua {so(o['skipped'])}"
    )
    if o["reclaimed"]:
        text += f", thu hồi {so(o['reclaimed'])} lượt của tiến trình đã dừng"
    if o["lease-lost"] or o["error"]:
        text += f", mất quyền giữ {so(o['lease-lost'])}, lỗi nội bộ {so(o['error'])}"
    return text + "."


@click.command()
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 200),
              help="Số kênh (mỗi kênh kèm lượt đăng đầu tiên) nhận về trong một lần truy vấn.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Số kênh đăng song song trong tiến trình này (mỗi kênh vẫn chỉ một bài một lúc).")
@click.option("--once", is_flag=True, help="Đăng hết những gì đang đến hạn rồi thoát (không chờ việc mới).")
@click.option("--owner", metavar="TÊN",
              help="Tên của tiến trình ghi vào các lượt đang giữ (mặc định: tên-máy:pid). Mỗi tiến trình một tên.")
@click.option("--poll", default=5.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Số giây chờ trước khi tìm việc lại khi không có gì đến hạn.")
@click.option("--outbox", "force_outbox", is_flag=True, help="Chỉ ghi vào outbox/, không đăng thật dù có token.")
@click.pass_obj
def worker(obj: Ctx, batch: int, concurrency: int, once: bool, owner: str | None, poll: float,
           force_outbox: bool) -> None:
    """Tiến trình đăng bài: nhận các lượt đăng đến hạn từ dữ liệu chung, đăng, ghi kết quả.

    \b
    Chạy bao nhiêu tiến trình, trên bao nhiêu máy cũng được khi dữ liệu là PostgreSQL
    (CAMPAIGN_DB_URL): mỗi lượt đăng chỉ một tiến trình nhận, mỗi kênh chỉ một bài một lúc.
    Tiến trình bị dừng đột ngột: lượt đang gửi được tiến trình khác kiểm tra trên nền tảng
    rồi mới gửi lại (sau CAMPAIGN_LEASE_SECONDS giây, mặc định 300).
    Lập lịch vẫn do `campaign-bot run` làm. SIGTERM/Ctrl-C: gửi nốt bài đang gửi rồi dừng.
    """
    store = obj.store
    campaign = obj.campaign
    if store.dialect == "sqlite" and not once:
        click.echo("Dữ liệu SQLite: chỉ chạy một tiến trình (run hoặc worker) trên một máy; "
                   "nhiều máy cần PostgreSQL (CAMPAIGN_DB_URL).", err=True)
    stop = threading.Event()
    current: list[Worker] = []

    def build(c: Campaign) -> Worker:
        w = Worker(c, store, obj.env, owner=owner, max_workers=concurrency, batch=batch, force_outbox=force_outbox)
        w.metrics = current_metrics(c, store)
        return w

    w = build(campaign)
    current.append(w)

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            # A second signal: leave at once. What was in flight is reconciled by the next worker.
            os._exit(1)
        stop.set()
        current[-1].stopping.set()
        click.echo("Đang dừng: gửi nốt các bài đang gửi… (nhấn lần nữa để thoát ngay)", err=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(
        f"Worker {w.name}: {concurrency} kênh song song, nhận {batch} kênh một lần; dữ liệu: {store.display_url()}"
    )
    totals: Counter[str] = Counter()
    reload_at = time.monotonic() + RELOAD_EVERY
    try:
        while not stop.is_set():
            if time.monotonic() >= reload_at:
                reload_at = time.monotonic() + RELOAD_EVERY
                try:
                    fresh = load_campaign(obj.workspace)
                except LoadError as exc:
                    report_problems(exc)
                    click.echo("Tiếp tục với dữ liệu cũ cho đến khi tệp được sửa.", err=True)
                else:
                    if fresh.config_hash != campaign.config_hash:
                        w.close()
                        campaign, w = fresh, build(fresh)
                        current.append(w)
                        if stop.is_set():
                            w.stopping.set()
                    else:
                        w.metrics = current_metrics(campaign, store)
            try:
                report = w.run_once(utcnow())
            except Exception:  # noqa: BLE001 - the store may be briefly unreachable: try again
                log.exception("lượt nhận việc lỗi; thử lại sau %s giây", poll)
                stop.wait(poll)
                continue
            outcomes = Counter({k: v for k, v in report.outcomes.items() if v})
            totals.update(outcomes)
            if outcomes:
                click.echo(pass_line(w.name, outcomes, campaign.tz))
                sys.stdout.flush()
            worked = sum(v for k, v in outcomes.items() if k != "reclaimed")
            if once and not worked:
                break
            if not worked:
                stop.wait(poll)
    finally:
        w.close()
    click.echo(f"Đã dừng. {pass_line(w.name, totals, campaign.tz)}")


commands = [worker]
