"""The command line: `campaign-bot COMMAND`. Everything the staff read is in Vietnamese.

Exit codes: 0 success, 1 the campaign folder has problems (nothing was changed), 2 usage error,
3 another pass holds the store's tick lock.

One module per command group, each exporting ``commands`` (its click commands); this module only
builds the root group and registers them. To add a command group, write a module whose commands
use :mod:`bot.cli.common` (never another command module) and add it to :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

from types import ModuleType

import click

from bot.cli import (
    alerts,
    campaign,
    channels,
    corrections,
    demo,
    digest,
    metrics,
    milestones,
    new,
    reports,
    status,
    ticks,
    worker,
)
from bot.cli.common import COMMAND_METAVAR, FROM_STORE, OPTIONS_METAVAR, CampaignGroup, Ctx
from bot.messages import install_click_vietnamese, setup_logging
from bot.web import cli as web_cli

install_click_vietnamese()  # click's own messages (usage errors, --help) in Vietnamese

# Every command group, one module each, registered below: a new group is one more module here
# (the web's `serve` and `users` live beside the web application, in bot.web.cli).
COMMAND_MODULES: tuple[ModuleType, ...] = (
    campaign, ticks, status, channels, worker, metrics, milestones, reports, demo, alerts, new, corrections, digest,
    web_cli,
)

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


def register(module: ModuleType) -> None:
    """Add every command of one command-group module (its ``commands`` list) to the root group."""
    for command in module.commands:
        cli.add_command(command)


for _module in COMMAND_MODULES:
    register(_module)


def main() -> None:
    cli(prog_name="campaign-bot")


__all__ = ["COMMAND_MODULES", "Ctx", "cli", "main", "register"]
