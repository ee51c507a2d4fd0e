"""`campaign-bot demo` and `campaign-bot reset`: try the campaign without touching it, and undo an old demo.

The demo plays the coming days in simulated time. It used to play them into the campaign's own
store: every slot of the month was then marked done, future posts were marked sent, and a real
pending Facebook post could be "sent" to the outbox. Now it has a store and a folder of its own
(``demo/``), never reads a token, and says so in its first and last lines.

``reset`` is for a store that an old demo already filled: it forgets what never reached a real
platform (posts written to the outbox, posts not yet sent, slots and milestone news of the simulated
future), and keeps everything that did reach Facebook or Zalo, so nothing is ever posted twice.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import delete
from sqlmodel import select

from bot.messages import MOMENT
from bot.vn import ngay_gio, so

DEMO_FOLDER = "demo"  # under the workspace: demo/campaign.db and demo/outbox/
# tokens, platform addresses, the real store, and where alerts go (the demo tells nobody anything)
SECRET_PREFIXES = ("FB_", "ZALO_", "GRAPH_", "CAMPAIGN_DB_URL", "CAMPAIGN_SMTP_URL", "CAMPAIGN_NOTIFY_URLS",
                   "CAMPAIGN_MAIL_FROM")


def demo_folder(workspace: Path) -> Path:
    return workspace / DEMO_FOLDER


def demo_env(env: dict[str, str], campaign: Any) -> dict[str, str]:
    """The environment without any token, store address or alert address: the demo can never post
    for real, write to the campaign's store, or mail a person about a simulated milestone."""
    token_vars = {ch.token_env for u in campaign.units for ch in u.channels if ch.token_env}
    return {k: v for k, v in env.items() if k not in token_vars and not k.startswith(SECRET_PREFIXES)}


@click.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366), help="Số ngày phát lại.")
@click.option("--start", "start_text", type=MOMENT, metavar="NGÀY-GIỜ", help="Bắt đầu từ, ví dụ \"01/12/2026 07:00\" (mặc định: bây giờ).")
@click.pass_obj
def demo(obj: Any, days: int, start_text: str | None) -> None:
    """Chạy thử N ngày tới theo thời gian giả lập, vào dữ liệu và thư mục riêng demo/ (không đụng tới
    chiến dịch thật, không đăng thật)."""
    from tqdm import tqdm

    from bot.cli import parse_now
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
        f"(facebook {so(platforms['facebook'])}, zalo {so(platforms['zalo'])})."
    )
    if written:
        click.echo(f"Bản tin tuần: {so(written)} thư (.eml) trong {digests}/ — không gửi cho ai.")
    click.secho(
        f"Đây là bản CHẠY THỬ: bài nằm trong {outbox}/, chiến dịch thật không thay đổi. "
        "Xóa bản thử: `campaign-bot reset --demo`.",
        fg="cyan",
    )


@dataclass
class ResetPlan:
    """What ``reset`` would forget in the campaign's store, and what it keeps."""

    deliveries: list[int] = field(default_factory=list)
    outbox_files: list[Path] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    firings: list[int] = field(default_factory=list)
    kept_real: int = 0  # deliveries that reached (or may have reached) a real platform

    @property
    def empty(self) -> bool:
        return not (self.deliveries or self.slots or self.firings or self.outbox_files)


def plan_reset(store: Any, workspace: Path, now: datetime) -> ResetPlan:
    """Choose what to forget: nothing that reached a real platform; everything an old demo simulated."""
    from bot.store import Delivery, DeliveryState, MilestoneFiring, ScheduleSlot

    result = ResetPlan()
    with store.session() as s:
        deliveries = s.exec(select(Delivery)).all()
        removed_slots: set[tuple[str | None, Any]] = set()
        kept_slots: set[tuple[str | None, Any]] = set()
        removed_content: set[str] = set()
        kept_content: set[str] = set()
        for d in deliveries:
            post_id = d.platform_post_id or ""
            reached = (d.state == DeliveryState.SENDING or d.needs_check or d.first_sent_attempt_at is not None
                       or (post_id and not post_id.startswith("outbox:")))
            if d.state == DeliveryState.SENT and post_id.startswith("outbox:"):
                reached = False
            key = (d.schedule_id, _naive(d.slot_at))
            if reached:
                result.kept_real += 1
                kept_slots.add(key)
                kept_content.add(d.content_id)
                continue
            result.deliveries.append(d.id or 0)
            removed_slots.add(key)
            removed_content.add(d.content_id)
            if post_id.startswith("outbox:"):
                result.outbox_files += sorted((workspace / "outbox" / d.unit_id / d.platform).glob(f"{d.id:06d}-*"))
        for slot in s.exec(select(ScheduleSlot)).all():
            key = (slot.schedule_id, _naive(slot.slot_at))
            if key in kept_slots:
                continue
            if _aware(slot.slot_at) > now or key in removed_slots:
                result.slots.append(slot.id or 0)
        for firing in s.exec(select(MilestoneFiring)).all():
            if firing.content_id in kept_content:
                continue
            if _aware(firing.fired_at) > now or (firing.content_id and firing.content_id in removed_content):
                result.firings.append(firing.id or 0)
    return result


def _naive(value: datetime | None) -> datetime | None:
    """UTC without tzinfo: SQLite gives naive UTC back, PostgreSQL aware values in its session zone."""
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None) if value is not None and value.tzinfo else value


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def apply_reset(store: Any, plan: ResetPlan) -> None:
    """Forget the chosen rows in one transaction, then remove their outbox files."""
    from bot.store import AuditLog, Delivery, Engagement, MilestoneFiring, ScheduleSlot

    with store.session() as s:
        for start in range(0, len(plan.deliveries), 500):
            chunk = plan.deliveries[start:start + 500]
            s.exec(delete(Engagement).where(Engagement.delivery_id.in_(chunk)))  # type: ignore[attr-defined]
            s.exec(delete(Delivery).where(Delivery.id.in_(chunk)))  # type: ignore[union-attr]
        for start in range(0, len(plan.slots), 500):
            s.exec(delete(ScheduleSlot).where(ScheduleSlot.id.in_(plan.slots[start:start + 500])))  # type: ignore[union-attr]
        for start in range(0, len(plan.firings), 500):
            s.exec(delete(MilestoneFiring).where(MilestoneFiring.id.in_(plan.firings[start:start + 500])))  # type: ignore[union-attr]
        s.add(AuditLog(actor="cli", action="reset", detail={
            "deliveries": len(plan.deliveries), "slots": len(plan.slots), "firings": len(plan.firings),
            "kept_real": plan.kept_real}))
        s.commit()
    for path in plan.outbox_files:
        path.unlink(missing_ok=True)


@click.command()
@click.option("--demo", "demo_only", is_flag=True, help="Chỉ xóa bản chạy thử (thư mục demo/).")
@click.option("--dry-run", is_flag=True, help="Chỉ in những gì sẽ xóa, không xóa gì.")
@click.option("--yes", "-y", is_flag=True, help="Không hỏi lại.")
@click.pass_obj
def reset(obj: Any, demo_only: bool, dry_run: bool, yes: bool) -> None:
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
