"""The command line: `campaign-bot COMMAND`. Everything the staff read is in Vietnamese.

Exit codes: 0 success, 1 the campaign folder has problems (nothing was changed), 2 usage error.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import func
from sqlmodel import select

from bot.load import Campaign, LoadError, load_campaign, load_env, resolve_workspace
from bot.messages import MOMENT, install_click_vietnamese, setup_logging, yes_no
from bot.store import Channel, ChannelState, Delivery, DeliveryState, Store, default_url, open_store, utcnow
from bot.vn import ngay_gio, parse_moment, so

log = logging.getLogger("bot")
install_click_vietnamese()  # click's own messages (usage errors, --help) in Vietnamese


class Ctx:
    """Lazily loaded workspace, environment, campaign and store for one command."""

    def __init__(self, workspace: str | None) -> None:
        self.workspace = resolve_workspace(workspace)
        self._env: dict[str, str] | None = None
        self._campaign: Campaign | None = None
        self._store: Store | None = None
        # Commands that work from the store whatever the folder's state (issue 11, see bot.lastgood).
        self.lenient = False
        self.folder: Any = None  # bot.lastgood.FolderState once a lenient command loaded the campaign

    @property
    def env(self) -> dict[str, str]:
        if self._env is None:
            try:
                self._env = load_env(self.workspace)
            except LoadError as exc:  # a .env that is not UTF-8: its line and the fix, no traceback
                report_problems(exc)
                sys.exit(1)
        return self._env

    @property
    def campaign(self) -> Campaign:
        if self._campaign is None and self.lenient:
            self._campaign = self._last_good()
        if self._campaign is None:
            try:
                self._campaign = load_campaign(self.workspace)
            except LoadError as exc:
                report_problems(exc)
                sys.exit(1)
        return self._campaign

    def _last_good(self) -> Campaign:
        """The folder, or the last good version kept in the store when the folder fails validation;
        the Vietnamese notice goes to stderr, at the top of the command's output."""
        from bot.lastgood import load_running

        running = load_running(self.workspace, self.store, record=False)
        self.folder = running.folder
        if running.campaign is None:
            report_problems(LoadError(running.problems))
            sys.exit(1)
        ctx = click.get_current_context(silent=True)
        if ctx is None or ctx.info_name not in ("tick", "run"):  # those name the errors in each pass's output
            for line in running.header_lines():
                click.secho(line, fg="yellow", err=True)
        return running.campaign

    @property
    def store(self) -> Store:
        if self._store is None:
            from bot.store.db import StoreError

            try:
                self._store = open_store(default_url(self.workspace, self.env))  # the .env may name the store
            except StoreError as exc:  # a malformed or unreachable CAMPAIGN_DB_URL: Vietnamese, password masked
                click.secho(f"✗ {exc}", fg="red", err=True)
                sys.exit(1)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def report_problems(exc: LoadError) -> None:
    n = len(exc.problems)
    click.secho(f"Thư mục chiến dịch có {n} lỗi — chưa thay đổi gì trong dữ liệu:", fg="red", err=True)
    for p in exc.problems:
        click.echo(f"  ✗ {p}", err=True)
    click.echo("Sửa các lỗi trên rồi chạy lại `campaign-bot check`.", err=True)


def parse_now(value: str | None, campaign: Campaign) -> datetime:
    """A moment given on the command line (``--now``, ``--from``, ``--start``): 24/11/2026 08:00 or ISO."""
    if not value:
        return utcnow()
    try:
        return parse_moment(value, campaign.tz).astimezone(UTC)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


GLOBAL_OPTIONS_WITH_VALUE = ("--workspace", "-w")


class CampaignGroup(click.Group):
    """The top-level group. ``--workspace`` is accepted after the subcommand too
    (``campaign-bot status --workspace DIR``), as the README and the bot's own hints promise:
    it is moved in front of the subcommand before click parses the line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_workspace(args, set(self.commands)))

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        vietnamese_usage(cmd)
        super().add_command(cmd, name)


def vietnamese_usage(cmd: click.Command) -> None:
    """"Cách dùng: campaign-bot tick [TÙY CHỌN]" instead of click's "[OPTIONS]", in nested groups too."""
    cmd.options_metavar = OPTIONS_METAVAR
    if isinstance(cmd, click.Group):
        cmd.subcommand_metavar = COMMAND_METAVAR
        for sub in cmd.commands.values():
            vietnamese_usage(sub)


OPTIONS_METAVAR = "[TÙY CHỌN]"
COMMAND_METAVAR = "LỆNH [THAM SỐ]..."




def hoist_workspace(args: list[str], commands: set[str]) -> list[str]:
    """Move ``--workspace DIR`` / ``-w DIR`` / ``--workspace=DIR`` found after the subcommand to the front."""
    try:
        first = next(i for i, a in enumerate(args) if a in commands)
    except StopIteration:
        return args
    head, rest = args[:first], args[first:]
    tail: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--":
            tail.extend(rest[i:])
            break
        if a in GLOBAL_OPTIONS_WITH_VALUE and i + 1 < len(rest):
            moved += [a, rest[i + 1]]
            i += 2
            continue
        if a.startswith("--workspace="):
            moved.append(a)
        else:
            tail.append(a)
        i += 1
    return head + moved + tail


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(cls=CampaignGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             options_metavar=OPTIONS_METAVAR, subcommand_metavar=COMMAND_METAVAR)
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False),
    envvar="CAMPAIGN_WORKSPACE",
    help="Thư mục chiến dịch (mặc định: thư mục hiện tại; hoặc biến CAMPAIGN_WORKSPACE).",
)
@click.option("-v", "--verbose", count=True, help="In thêm chi tiết (-vv: gỡ lỗi).")
@click.version_option(package_name="campaign-bot")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, verbose: int) -> None:
    """Bot chiến dịch của tổ chức Công đoàn: lên lịch và đăng bài, banner, tin cột mốc lên
    Trang Facebook và Zalo OA của từng cấp công đoàn.

    \b
    Dữ liệu: SQLite trong .campaign/ của thư mục chiến dịch, hoặc CAMPAIGN_DB_URL.
    Token đặt trong tệp .env (không bao giờ in ra). Kênh chưa có token → ghi vào outbox/.
    Bắt đầu: `campaign-bot check`, rồi `campaign-bot demo` hoặc `campaign-bot run`.
    """
    setup_logging(verbose)  # Vietnamese levels, local time; Alembic and tracebacks only with -vv
    ctx.obj = Ctx(workspace)
    ctx.obj.lenient = ctx.invoked_subcommand in FROM_STORE
    ctx.call_on_close(ctx.obj.close)


# Commands that keep working on the last good version when the folder has errors (issue 11).
FROM_STORE = {"status", "channels", "milestones", "preview", "report", "tick", "run", "alerts", "worker"}


@cli.command()
@click.pass_obj
def check(obj: Ctx) -> None:
    """Kiểm tra toàn bộ thư mục chiến dịch (không thay đổi dữ liệu)."""
    from bot.banners import layout_engine_name

    c = obj.campaign
    approved = sum(1 for s in c.stories if s.front.approved)
    channels = [(u, ch) for u in c.units for ch in u.channels]
    missing = [ch.token_env for _, ch in channels if ch.token_env and not obj.env.get(ch.token_env)]
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
    from bot.alerts import check_notice

    if notice := check_notice(c, obj.env):
        click.echo(f"  {notice}")
    from bot.digest import unreachable

    if lonely := unreachable(c):  # issue 17: a warning, not an error
        click.secho(f"  ⚠ {so(len(lonely))} đơn vị chưa có người phụ trách (contacts:) nên không nhận bản tin tuần: "
                    f"{', '.join(lonely[:10])}{' …' if len(lonely) > 10 else ''} (config/units.yaml).", fg="yellow")
    from bot.banners import campaign_fit_warnings

    cut = campaign_fit_warnings(c)  # a warning, not an error: the banner is still drawn, with "…"
    if cut:
        click.secho(f"⚠ {so(len(cut))} banner có chữ không vừa khung:", fg="yellow")
        for message in cut:
            click.echo(f"  {message}")
    from bot.cli_milestones import check_data_and_env

    if not check_data_and_env(c):  # data/*.csv row by row; a .env readable by others (issue 12)
        sys.exit(1)


@cli.command()
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


@cli.command("plan")
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


@cli.command()
@click.option("--now", "now_text", type=MOMENT, metavar="NGÀY-GIỜ",
              help="Chạy như thể lúc này, ví dụ \"27/11/2026 08:00\" hoặc 2026-11-27T08:00 (giờ chiến dịch).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@click.option("--outbox", "force_outbox", is_flag=True, help="Chỉ ghi vào outbox/, không đăng thật dù có token.")
@click.pass_obj
def tick(obj: Ctx, now_text: str | None, as_json: bool, force_outbox: bool) -> None:
    """Một lượt: nạp, kiểm tra cột mốc, lập lịch, vẽ banner, đăng, đối soát."""
    from bot.pipeline import run_pass

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


def quiet_waiting(campaign: Campaign, store: Store, now: datetime) -> tuple[int, datetime | None]:
    """How many posts are due but held back by the quiet hours now, and when those end.

    A tick at 23:55 that plans nothing but leaves four milestone posts for 06:30 must say so,
    not just "0 lượt mới"."""
    from bot.plan import in_quiet_hours, quiet_end

    if not in_quiet_hours(campaign, now):
        return 0, None
    until = quiet_end(campaign, now)
    with store.session() as s:
        n = s.exec(
            select(func.count()).select_from(Delivery).where(
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.RETRY]),  # type: ignore[attr-defined]
                Delivery.due_at > now,  # held back now, not overdue for another reason (a held channel)
                Delivery.due_at <= until,
            )
        ).one()
    return int(n), until


@cli.command()
@click.option("--every", default=60, show_default=True, help="Số giây giữa hai lượt.")
@click.option("--outbox", "force_outbox", is_flag=True, help="Chỉ ghi vào outbox/, không đăng thật.")
@click.pass_obj
def run(obj: Ctx, every: int, force_outbox: bool) -> None:
    """Chạy liên tục: APScheduler gọi một lượt `tick` mỗi phút. Ctrl-C để dừng."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.files import clean_stale_temp
    from bot.leader import Leader
    from bot.pipeline import run_pass
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
                report = run_pass(workspace, obj.store, obj.env, utcnow(), force_outbox=force_outbox, lead=lead)
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


def status_data(obj: Ctx) -> dict[str, Any]:
    c = obj.campaign
    with obj.store.session() as s:
        rows = s.exec(
            select(Delivery.unit_id, Delivery.channel_id, Delivery.platform, Delivery.state, func.count()).group_by(
                Delivery.unit_id, Delivery.channel_id, Delivery.platform, Delivery.state
            )
        ).all()
        states = {st.channel_id: st for st in s.exec(select(ChannelState)).all()}
        channels = {ch.id: ch for ch in s.exec(select(Channel)).all()}
    per_channel: dict[str, dict[str, Any]] = {}
    totals: Counter[str] = Counter()
    for unit_id, channel_id, platform, state, n in rows:
        entry = per_channel.setdefault(
            channel_id, {"unit": unit_id, "platform": platform, "states": dict.fromkeys(DeliveryState.ALL, 0)}
        )
        entry["states"][state] = n
        totals[state] += n
    for cid, ch in channels.items():
        st = states.get(cid)
        entry = per_channel.setdefault(
            cid, {"unit": ch.unit_id, "platform": ch.platform, "states": dict.fromkeys(DeliveryState.ALL, 0)}
        )
        entry["mode"] = "outbox" if not (ch.token_env and obj.env.get(ch.token_env)) else ch.platform
        entry["held"] = st.status == "held" if st else False
        if st and st.status == "held":
            entry["reason"], entry["fix"] = st.reason, st.fix
    per_unit: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in per_channel.values():
        per_unit[entry["unit"]].update(entry["states"])
    data: dict[str, Any] = {
        "campaign": c.config.id,
        "store": obj.store.display_url(),
        "totals": {k: totals.get(k, 0) for k in DeliveryState.ALL},
        "channels": dict(sorted(per_channel.items())),
        "units": {u.id: dict(per_unit.get(u.id, Counter())) for u in c.units},
    }
    from bot.cli_milestones import status_section

    data["milestones"] = status_section(c, obj.store, utcnow())
    if obj.folder is not None:
        data["folder"] = obj.folder.as_dict()  # errors of the folder and the version running (issue 11)
    for cid, reasons in waiting_reasons(c, obj.store, utcnow(), states).items():
        if cid in data["channels"]:
            data["channels"][cid]["waiting"] = reasons
    from bot.cli_corrections import status_section as corrections_section

    data["corrections"] = corrections_section(obj.store)  # issue 16: edits and removals of published posts
    from bot.digest import last_sent as last_digest

    sent = last_digest(obj.store)  # issue 17: when each unit was last sent its weekly digest
    data["digests"] = {u.id: _aware(sent[u.id]).isoformat() if u.id in sent else None for u in c.units}
    return data


def waiting_reasons(campaign: Campaign, store: Store, now: datetime, states: dict[str, ChannelState]) -> dict[str, list[str]]:
    """Why each channel's open deliveries wait, in words: its time has not come, quiet hours, a retry
    after an error, a held or paused channel. "chờ 2" alone left the staff guessing."""
    from bot.plan import in_quiet_hours

    tz = campaign.tz
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    with store.session() as s:
        rows = s.exec(
            select(Delivery.channel_id, Delivery.state, Delivery.slot_at, Delivery.due_at, Delivery.next_attempt_at,
                   Delivery.reason, Delivery.schedule_id)
            .where(Delivery.state.in_(DeliveryState.OPEN))  # type: ignore[attr-defined]
        ).all()
    for cid, state, slot_at, due_at, next_at, reason, schedule_id in rows:
        st = states.get(cid)
        due = _aware(due_at)
        if st is not None and st.status == "held":
            why = "kênh đang bị tạm giữ (xem `campaign-bot channels`)"
        elif st is not None and st.paused_until and _aware(st.paused_until) > now:
            why = f"kênh tạm dừng đến {ngay_gio(_aware(st.paused_until), tz)}" + (f": {st.pause_reason}" if st.pause_reason else "")
        elif state == DeliveryState.SENDING:
            why = "đang gửi"
        elif state == DeliveryState.RETRY:
            when = ngay_gio(_aware(next_at), tz) if next_at else "lượt sau"
            why = f"thử lại lúc {when}" + (f" sau lỗi: {reason}" if reason else "")
        elif due > now:
            base = _aware(slot_at) if slot_at else None
            if base is not None and base < due and in_quiet_hours(campaign, base):
                why = f"chờ hết giờ yên lặng, đăng lúc {ngay_gio(due, tz)}"
            elif schedule_id is None:
                why = f"tin cột mốc chờ hết giờ yên lặng, đăng lúc {ngay_gio(due, tz)}"
            else:
                why = f"chờ đến giờ đăng {ngay_gio(due, tz)}"
        else:
            why = "đến hạn, đăng ở lượt chạy tới"
        groups[cid][why] += 1
    return {cid: [f"{so(n)} bài: {why}" for why, n in c.most_common()] for cid, c in groups.items()}


def _aware(value: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON (số lượt đăng theo kênh và trạng thái).")
@click.pass_obj
def status(obj: Ctx, as_json: bool) -> None:
    """Tình hình: lượt đăng theo đơn vị, kênh và trạng thái; kênh bị tạm giữ; cột mốc."""
    data = status_data(obj)
    if as_json:
        emit_json(data)
        return
    names = {u.id: u.short_name or u.name for u in obj.campaign.units}
    t = data["totals"]
    click.echo(
        f"Tổng: đã đăng {so(t['sent'])}, chờ {so(t['pending'] + t['retry'])}, đang gửi {so(t['sending'])}, "
        f"lỗi {so(t['failed'])}, bỏ qua {so(t['skipped'])}."
    )
    labels = {cid: f"{names.get(e['unit'], e['unit'])} · {e['platform']}" for cid, e in data["channels"].items()}
    width = max([len("Kênh"), *map(len, labels.values())])  # never cut a name: the column grows instead
    click.echo(f"{'Kênh':<{width}} {'đã đăng':>8} {'chờ':>6} {'lỗi':>6}  ghi chú")
    for cid, e in data["channels"].items():
        st = e["states"]
        note = "TẠM GIỮ: " + (e.get("reason") or "") if e.get("held") else ("outbox" if e.get("mode") == "outbox" else "")
        click.echo(f"{labels[cid]:<{width}} {so(st['sent']):>8} {so(st['pending'] + st['retry']):>6} {so(st['failed']):>6}  {note}")
        for reason in e.get("waiting", []):
            click.echo(f"    ↳ {reason}")
    ms = data.get("milestones")
    if ms:
        from bot.cli_milestones import print_status_section

        print_status_section(ms)
    from bot.cli_corrections import print_status_section as print_corrections

    print_corrections(data.get("corrections"), obj.campaign)
    digests = data.get("digests") or {}
    if any(digests.values()):
        click.echo("Bản tin tuần gửi lần gần nhất:")
        for uid, at in digests.items():
            when = ngay_gio(datetime.fromisoformat(at), obj.campaign.tz) if at else "chưa gửi"
            click.echo(f"  {names.get(uid, uid)}: {when}")


DETAIL_LABELS = {
    "page_name": "Trang",
    "token_type": "loại token",
    "permissions": "quyền",
    "missing_permissions": "THIẾU quyền",
    "expires": "hết hạn",
    "data_access_expires_at": "quyền đọc dữ liệu hết hạn",
    "can_read_posts": "đọc được bài đã đăng (để đối soát)",
    "note": "ghi chú",
    "outbox": "thư mục outbox",
    "oa_name": "OA",
    "verified": "đã xác thực",
    "broadcast": "gửi tới người quan tâm",
    "access_expires_at": "access token hết hạn",
    "token_state": "trạng thái token",
}


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.option("--release", metavar="KÊNH", multiple=True, help="Mở lại một kênh đang bị tạm giữ (sau khi đã sửa).")
@click.option("--offline", is_flag=True, help="Không gọi nền tảng; chỉ in trạng thái lưu trong dữ liệu.")
@click.pass_obj
def channels(obj: Ctx, as_json: bool, release: tuple[str, ...], offline: bool) -> None:
    """Kiểm tra token từng kênh (Trang nào, quyền gì, hết hạn khi nào) và các kênh bị tạm giữ."""
    from bot.channels import ChannelContext, open_channel
    from bot.files import env_warning
    from bot.store.sync import sync_campaign

    if warning := env_warning(obj.workspace):
        click.secho(warning, fg="yellow", err=True)
    sync_campaign(obj.campaign, obj.store)
    with obj.store.session() as s:
        for cid in release:
            st = s.get(ChannelState, cid)
            if st is None:
                raise click.BadParameter(f"không có kênh '{cid}' (dạng: <mã đơn vị>/<facebook|zalo>)")
            st.status, st.reason, st.fix, st.held_at, st.token_fingerprint = "active", None, None, None, None
            st.paused_until = None
            s.add(st)
            from bot.store import AuditLog

            # Read by bot.alerts like the worker's own releases: the people told of the hold hear of the release.
            s.add(AuditLog(actor="cli", action="channel.released", subject=cid, detail={"why": "mở lại bằng lệnh"}))
            click.echo(f"Đã mở lại kênh {cid}.")
        rows = s.exec(select(Channel).where(Channel.active)).all()
        states = {st.channel_id: st for st in s.exec(select(ChannelState)).all()}
    ctx = ChannelContext(obj.workspace, obj.store, obj.env, obj.campaign)
    out = []
    for row in sorted(rows, key=lambda r: r.id):
        st = states.get(row.id)
        entry: dict[str, Any] = {"channel": row.id, "platform": row.platform, "account_id": row.account_id,
                                 "token_env": row.token_env, "held": bool(st and st.status == "held")}
        if st and st.status == "held":
            entry.update(reason=st.reason, fix=st.fix, held_at=st.held_at)
        if st and st.paused_until and st.paused_until > utcnow():
            entry.update(paused_until=st.paused_until, pause_reason=st.pause_reason)
        if not offline:
            channel = open_channel(row, ctx)
            try:
                result = channel.check()
            finally:
                channel.close()
            entry.update(ok=result.ok, mode=channel.platform, account_name=result.account_name,
                         details=result.details, problem=result.problem, fix=entry.get("fix") or result.fix)
        out.append(entry)
    if as_json:
        emit_json(out)
        return
    for e in out:
        mark = "⚠" if e["held"] or e.get("ok") is False else "✓"
        line = f"{mark} {e['channel']:<32} {e.get('mode', e['platform']):<9}"
        if e.get("account_name"):
            line += f" {e['account_name']}"
        click.echo(line)
        for key, value in (e.get("details") or {}).items():
            if value not in (None, "", [], {}):
                shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
                click.echo(f"    {DETAIL_LABELS.get(key, key)}: {yes_no(shown)}")
        if e["held"]:
            click.secho(f"    TẠM GIỮ từ {ngay_gio(e.get('held_at'), obj.campaign.tz)}: {e.get('reason')}", fg="yellow")
        elif e.get("problem"):
            click.echo(f"    {e['problem']}")
        if e.get("fix") and (e["held"] or e.get("ok") is False):
            click.echo(f"    → cách sửa: {e['fix']}")
        if e.get("paused_until"):
            click.echo(f"    tạm dừng đến {ngay_gio(e['paused_until'], obj.campaign.tz)}: {e.get('pause_reason')}")


def _register_commands() -> None:
    """Commands that live beside the role they serve: milestones, reports, workers, demo and reset."""
    from bot import cli_alerts, cli_demo, cli_milestones, cli_new, cli_worker
    from bot.reports import cli as reports_cli

    for module in (cli_milestones, reports_cli, cli_worker, cli_demo, cli_alerts, cli_new):
        for command in module.commands:
            cli.add_command(command)
    from bot import cli_corrections  # issue 16: withdraw, corrections, history

    for command in cli_corrections.commands:
        cli.add_command(command)
    from bot import cli_digest  # issue 17: the weekly digest

    for command in cli_digest.commands:
        cli.add_command(command)
    from bot.web import cli as web_cli  # issue 19: serve, users

    for command in web_cli.commands:
        cli.add_command(command)


_register_commands()


def main() -> None:
    cli(prog_name="campaign-bot")


if __name__ == "__main__":  # pragma: no cover
    main()



