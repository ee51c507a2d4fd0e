"""`campaign-bot users` and `serve`'s refusals through the command line (Vietnamese, no library English)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.store import open_store
from bot.store.intake import StaffUser
from tests.web.conftest import KEY


def run(ws: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), *args], input=stdin, env=env or {})
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _no_outside_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CAMPAIGN_DB_URL", "CAMPAIGN_SECRET_KEY", "CAMPAIGN_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def test_users_add_list_and_refusals(mini: Path) -> None:
    code, out = run(mini, "users", "add", "hoa", "--unit", "huyen-x", "--password-stdin", stdin="mat-khau-du-dai-1\n")
    assert code == 2 and "Không có đơn vị 'huyen-x'" in out and "có phải ý bạn là 'huyen-" in out
    code, out = run(mini, "users", "add", "hoa", "--unit", "huyen-a", "--password-stdin", stdin="ngan\n")
    assert code == 2 and "ít nhất 10 ký tự" in out
    code, out = run(mini, "users", "add", "hoa", "--unit", "huyen-a", "--password-stdin", stdin="mat-khau-du-dai-1\n")
    assert code == 0 and "Đã thêm hoa" in out and "mat-khau-du-dai-1" not in out
    code, out = run(mini, "users", "add", "HOA", "--unit", "tinh", "--password-stdin", stdin="mat-khau-du-dai-2\n")
    assert code == 2 and "Đã có tài khoản 'hoa'" in out
    code, out = run(mini, "users", "add", "lan", "--unit", "tinh", "--role", "admin", "--generate")
    assert code == 0 and "chỉ hiện một lần" in out
    shown = out.rsplit(": ", 1)[1].strip()
    code, out = run(mini, "users", "add", "mai", "--unit", "tinh", stdin="mat-khau-du-dai-3\nmat-khau-du-dai-3\n")
    assert code == 0, out
    code, out = run(mini, "users", "list")
    assert code == 0 and "hoa" in out and "admin" in out and "mai" in out
    store = open_store(f"sqlite:///{mini / '.campaign' / 'campaign.db'}")
    with store.session() as s:
        users = {u.name: u for u in s.exec(select(StaffUser)).all()}
    store.close()
    assert set(users) == {"hoa", "lan", "mai"} and all(u.password_hash.startswith("$argon2id$") for u in users.values())
    from bot.web.security import HASHER

    assert HASHER.verify(users["lan"].password_hash, shown)


def test_serve_needs_the_secret_key(mini: Path) -> None:
    code, out = run(mini, "serve", "--port", "1")
    assert code == 1 and "CAMPAIGN_SECRET_KEY" in out and "cách sửa" in out


def test_serve_refuses_a_broken_folder(mini: Path) -> None:
    (mini / "config" / "units.yaml").write_text("units: [", encoding="utf-8")
    code, out = run(mini, "serve", "--port", "1", env={"CAMPAIGN_SECRET_KEY": KEY})
    assert code == 1 and "config/units.yaml" in out
