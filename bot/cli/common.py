"""What every command group shares: the lazily loaded workspace (:class:`Ctx`), the Vietnamese way of
reporting a broken folder, moments given on the command line, JSON output and output folders.

This module imports no command module (they all import it), so the command groups never import
each other in a circle. It talks to no database library either: the store is reached through
``bot.store`` and the role modules.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot.load import Campaign, LoadError, load_campaign, load_env, resolve_workspace
from bot.store import Store, default_url, open_store, utcnow
from bot.vn import parse_moment

# Commands that keep working on the last good version when the folder has errors (issue 11).
FROM_STORE = {"status", "channels", "milestones", "preview", "report", "tick", "run", "alerts", "worker"}
OPTIONS_METAVAR = "[TÙY CHỌN]"
COMMAND_METAVAR = "LỆNH [THAM SỐ]..."
GLOBAL_OPTIONS_WITH_VALUE = ("--workspace", "-w")


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

    def unit_name(self, uid: str) -> str:
        """The unit's short name as the staff know it, its id when it is no longer in the folder."""
        u = self.campaign.unit_by_id.get(uid)
        return (u.short_name or u.name) if u else uid

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def report_problems(exc: LoadError) -> None:
    """The folder's problems, each with its file, line and fix, and the promise that nothing changed."""
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


def emit_json(data: Any) -> None:
    """``--json`` output: Vietnamese kept readable (no \\u escapes), dates as ISO text."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def fail(message: str, code: int = 1) -> None:
    """A refusal in red on stderr, then exit: the message says what is wrong and how to fix it."""
    click.secho(message, fg="red", err=True)
    sys.exit(code)


def out_dir(obj: Ctx, out: str | None, default: str) -> Path:
    """The output folder; refused (exit 1) if it or a folder inside it is a symlink leading out of
    the workspace, or out of the folder named with --out (see bot.files.OutputFolder)."""
    from bot.files import OutputFolder, UnsafePath, clean_stale_temp

    target = Path(out).expanduser().resolve() if out else obj.workspace / default
    try:
        OutputFolder(target, target if out else obj.workspace).check()
    except UnsafePath as exc:
        fail(f"✗ {exc}")
    clean_stale_temp(target)  # left by a preview or report that was killed while writing
    return target


def preview_store(obj: Ctx) -> Store:
    """The campaign's store; a throwaway in-memory one when it has never been created, so that a
    preview creates nothing (not even an empty database)."""
    url = obj.env.get("CAMPAIGN_DB_URL")  # the environment over .env
    if not url:
        db = obj.workspace / ".campaign" / "campaign.db"
        url = f"sqlite:///{db}" if db.exists() else "sqlite://"
    return open_store(url)


# --- the Vietnamese command line itself ----------------------------------------------------------


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
