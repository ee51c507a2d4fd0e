"""Shared fixtures: campaign folders in tmp_path, stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store, open_store

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PARTS = ("config", "content", "schedules", "banners", "data")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


MINI_CAMPAIGN = """
campaign:
  id: thu-nghiem
  name: Chương trình “1 triệu sáng kiến”
  timezone: Asia/Ho_Chi_Minh
  start: 2026-01-01
  end: 2027-12-31
  phases:
    - {name: Giai đoạn 1, start: 2026-01-01, end: 2026-12-31}
    - {name: Giai đoạn 2, start: 2027-01-01, end: 2027-12-31}
  hashtags: ["#1TrieuSangKien"]
  slogans: ["Tự hào trí tuệ lao động Việt Nam", "1 triệu sáng kiến – triệu việc tốt"]
"""

MINI_UNITS = """
units:
  - id: tinh
    name: Liên đoàn Lao động tỉnh
    level: province
    target: 1000
    channels:
      - {platform: facebook, page_id: "1001", token_env: FB_TOKEN_TINH}
      - {platform: zalo, oa_id: "2001", token_env: ZALO_REFRESH_TINH}
  - id: huyen-a
    name: LĐLĐ huyện A
    level: district
    parent: tinh
    target: 300
    channels:
      - {platform: facebook, page_id: "1002", token_env: FB_TOKEN_A}
  - id: huyen-b
    name: LĐLĐ huyện B
    level: district
    parent: tinh
    target: 200
    channels:
      - {platform: facebook, page_id: "1003", token_env: FB_TOKEN_B}
      - {platform: zalo, oa_id: "2003", token_env: ZALO_REFRESH_B}
  - id: cs-a1
    name: CĐCS Trường Tiểu học A1
    level: grassroots
    parent: huyen-a
    target: 20
    channels:
      - {platform: facebook, page_id: "1004", token_env: FB_TOKEN_A1}
"""

MINI_SCHEDULES = """
schedules:
  - id: sang
    cron: "0 8 * * *"
    kinds: [initiative_story, good_practice]
    units: all
    grace: 2h
  - id: toi
    cron: "0 22 * * *"
    kinds: [guide]
    units: [tinh]
    grace: 1h
settings:
  quiet_hours: "21:30-06:30"
  daily_cap: 1
"""


def story(kind: str = "initiative_story", unit: str = "tinh", audience: str = "cascade", **extra: str) -> str:
    lines = [f"title: Bài {kind} của {unit}", f"kind: {kind}", f"unit: {unit}", f"audience: {audience}",
             "approved: true", "approved_by: Ban Tuyên giáo", "approved_at: 2026-11-01"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "---\n" + "\n".join(lines) + "\n---\nNội dung bài viết về sáng kiến của người lao động.\n"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A small campaign folder: 4 units, 6 channels, 2 schedules, 5 stories, no banners."""
    ws = tmp_path / "ws"
    write(ws, "config/campaign.yaml", MINI_CAMPAIGN)
    write(ws, "config/units.yaml", MINI_UNITS)
    write(ws, "schedules/lich.yaml", MINI_SCHEDULES)
    write(ws, "content/a.md", story(priority="1"))
    write(ws, "content/b.md", story())
    write(ws, "content/c.md", story("good_practice", "huyen-a", "own"))
    write(ws, "content/d.md", story("guide", "tinh", "own"))
    write(ws, "content/nhap.md", story().replace("approved: true", "approved: false"))
    return ws


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the repository's sample campaign."""
    ws = tmp_path / "sample"
    ws.mkdir()
    for part in SAMPLE_PARTS:
        if (REPO / part).exists():
            shutil.copytree(REPO / part, ws / part)
    return ws


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason to skip."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL on 127.0.0.1:5432 does not answer ({type(exc).__name__}); .ci/run starts it"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    reason = postgres_available()
    if reason:
        if os.environ.get("CAMPAIGN_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    name = f"cb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = open_store(url)
    yield store
    store.close()


# --- every command's output, across the whole suite, is free of library English (issue 13) -----------

# Phrases of click, pydantic, PyYAML and Python that once reached the staff. A test that runs a command
# through click's CliRunner fails if its output holds one, whatever the test itself checks.
LIBRARY_ENGLISH = re.compile(
    r"Traceback|Input should|mapping values|found a tab|found character|could not find|did not find|"
    r"No such (option|command)|Invalid value|Try '|Show this message|\[default|is not in the range|"
    r"is not a valid|day is out of range|invalid character|constrained-str|continuation byte|Usage:|"
    r"Error:|Options:|Commands:|Missing (argument|option)|Aborted!|value_error|literal\["
)


def library_english(text: str) -> list[str]:
    return [line for line in text.splitlines() if LIBRARY_ENGLISH.search(line)]


@pytest.fixture(autouse=True)
def _no_library_english_in_cli_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from click.testing import CliRunner

    seen: list[str] = []
    invoke = CliRunner.invoke

    def checked(self: CliRunner, *args: Any, **kwargs: Any) -> Any:
        result = invoke(self, *args, **kwargs)
        command = " ".join(str(a) for a in (args[1] if len(args) > 1 else kwargs.get("args") or []))
        for line in library_english(result.output):
            seen.append(f"campaign-bot {command}: {line}")
        return result

    monkeypatch.setattr(CliRunner, "invoke", checked)
    yield
    assert not seen, "library English in command output:\n" + "\n".join(seen[:20])
