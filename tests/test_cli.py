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
    env = {**os.environ, "CAMPAIGN_WORKSPACE": str(mini)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--every", "1", "--outbox"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (mini / ".campaign" / "campaign.db").exists():
            time.sleep(0.2)
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Đang chạy" in out and "Đã dừng" in out
    assert out.count("lượt mới") >= 2  # at least two passes ran
    assert "Traceback" not in out
