"""The command line as the staff use it: help, run and Ctrl-C, bad --now."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli


def test_help_lists_every_command_with_a_description() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("check", "sync", "plan", "tick", "run", "status", "demo", "channels"):
        assert f"  {name} " in result.output
        sub = CliRunner().invoke(cli, [name, "--help"])
        assert sub.exit_code == 0 and len(sub.output.splitlines()) > 3


def test_bad_now_is_a_usage_error(mini: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "tick", "--now", "ngày mai"])
    assert result.exit_code == 2 and "'--now'" in result.output and "24/11/2026 08:00" in result.output


def test_not_a_campaign_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "check"])
    assert result.exit_code == 1 and "--workspace" in result.output


def test_run_ticks_and_stops_cleanly_on_ctrl_c(mini: Path) -> None:
    import threading

    env = {**os.environ, "CAMPAIGN_WORKSPACE": str(mini)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--every", "1", "--outbox"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        # Ctrl-C once two passes have run (a busy machine may take a while to start, so wait for it)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum("lượt mới" in line for line in lines) < 2:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "Đang chạy" in out and "Đã dừng" in out
    assert out.count("lượt mới") >= 2  # at least two passes ran
    assert "Traceback" not in out


# --- the shape of the package (issue 14): anyone can run these checks again -------------------------

CLI_DIR = Path(__file__).resolve().parents[1] / "bot" / "cli"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_command_modules_share_one_helper_module_and_no_database_library() -> None:
    modules = sorted(p for p in CLI_DIR.glob("*.py") if p.name != "__init__.py")
    commands = {f"bot.cli.{p.stem}" for p in modules if p.stem != "common"}
    assert len(commands) >= 12
    for path in modules:
        found = _imports(path)
        assert not found & commands, f"{path.name} imports another command module: {found & commands}"
        assert not {n for n in found if n.split(".")[0] in ("sqlalchemy", "sqlmodel")}, path.name
        assert "bot.cli" not in found or path.stem != "common", "common imports nothing of the command line"
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 600, path.name
    assert "bot.cli.common" not in commands


def test_every_command_is_registered_and_its_help_is_vietnamese_and_complete() -> None:
    import click

    from bot.cli import COMMAND_MODULES

    registered = set(cli.commands.values())
    for module in COMMAND_MODULES:
        assert module.commands and set(module.commands) <= registered, module.__name__

    def walk(cmd: click.Command, path: list[str]) -> None:
        result = CliRunner().invoke(cli, [*path, "--help"], prog_name="campaign-bot")
        assert result.exit_code == 0, path
        out = result.output
        assert out.startswith("Cách dùng: campaign-bot"), (path, out[:80])
        for english in ("Usage:", "Options:", "Show this message", "[OPTIONS]", "Commands:"):
            assert english not in out, (path, english)
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, (path, param.name)  # every option explained
                assert param.opts[0] in out, (path, param.opts[0])
        assert cmd.help and cmd.help.strip(), path
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    for name, command in cli.commands.items():
        walk(command, [name])
