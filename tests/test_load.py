"""The loader: every problem names the file, the line and the fix; a bad folder changes nothing."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.load import LoadError, load_campaign
from bot.store import AuditLog, ContentItem, Unit, open_store
from bot.store.sync import sync_campaign
from tests.conftest import story, write


def problems_of(ws: Path) -> list:
    with pytest.raises(LoadError) as info:
        load_campaign(ws)
    return info.value.problems


def test_mini_campaign_loads(mini: Path) -> None:
    c = load_campaign(mini)
    assert [u.id for u in c.units] == ["tinh", "huyen-a", "huyen-b", "cs-a1"]
    assert {s.id for s in c.stories} == {"a", "b", "c", "d", "nhap"}
    assert c.settings.daily_cap == 1
    assert c.schedules[0].grace_delta.total_seconds() == 7200


@pytest.mark.parametrize(
    ("rel", "text", "line", "needle", "fix"),
    [
        ("config/units.yaml", "units:\n  - id: tinh\n    name: [unclosed\n", 3, "YAML", "dấu ]"),
        (
            "config/units.yaml",
            "units:\n  - id: tinh\n    name: T\n    level: province\n    parnet: x\n",
            5,
            "'parnet'",
            "'parent'",
        ),
        ("schedules/lich.yaml", "schedules:\n  - id: s\n    cron: \"0 8 * *\"\n    kinds: [guide]\n", 3, "5 trường", "0 8"),
        ("schedules/lich.yaml", "schedules:\n  - id: s\n    cron: \"0 25 * * *\"\n    kinds: [guide]\n", 3, "cron", None),
        (
            "schedules/lich.yaml",
            "schedules:\n  - id: s\n    cron: \"0 8 * * *\"\n    kinds: [guide]\n    units: [tinh, khong-co]\n",
            5,
            "khong-co",
            None,
        ),
        (
            "schedules/lich.yaml",
            "schedules:\n  - id: s\n    cron: \"0 8 * * *\"\n    kinds: [guid]\n",
            4,
            "guid",
            "guide",
        ),
    ],
)
def test_bad_config_files_name_file_line_and_fix(
    mini: Path, rel: str, text: str, line: int, needle: str, fix: str | None
) -> None:
    write(mini, rel, text)
    problems = problems_of(mini)
    match = [p for p in problems if p.file == rel and needle in str(p)]
    assert match, [str(p) for p in problems]
    assert match[0].line == line
    if fix:
        assert fix in (match[0].fix or "")


def test_unknown_unit_in_story_points_at_its_line(mini: Path) -> None:
    write(mini, "content/sai.md", story(unit="huyen-c"))
    (p,) = [p for p in problems_of(mini) if p.file == "content/sai.md"]
    assert p.line == 4  # '---' is line 1, title 2, kind 3, unit 4
    assert "huyen-c" in p.message and "có phải ý bạn là 'huyen-" in (p.fix or "")


def test_unknown_key_in_front_matter_suggests_closest(mini: Path) -> None:
    write(mini, "content/sai.md", story(aproved_by="X"))
    (p,) = [p for p in problems_of(mini) if p.file == "content/sai.md"]
    assert "aproved_by" in p.message and "approved_by" in (p.fix or "")
    assert p.line == 9


def test_image_outside_content_is_an_error(mini: Path) -> None:
    (mini / "secret.png").write_bytes(b"x")
    write(mini, "content/sai.md", story(image="../secret.png"))
    (p,) = [p for p in problems_of(mini) if p.file == "content/sai.md"]
    assert "ngoài thư mục content/" in p.message


def test_missing_image_and_duplicate_keys(mini: Path) -> None:
    write(mini, "content/sai.md", story(image="anh/khong-co.jpg").replace("kind: initiative_story", "kind: initiative_story\nkind: guide"))
    found = [str(p) for p in problems_of(mini) if p.file == "content/sai.md"]
    assert any("lặp lại" in p for p in found), found


def test_parent_cycle_and_unknown_parent(mini: Path) -> None:
    text = (mini / "config/units.yaml").read_text().replace("parent: tinh\n    target: 300", "parent: cs-a1\n    target: 300")
    write(mini, "config/units.yaml", text)
    assert any("vòng lặp" in p.message for p in problems_of(mini))


def test_token_value_in_token_env_is_refused_without_echoing_it(mini: Path) -> None:
    text = (mini / "config/units.yaml").read_text().replace("FB_TOKEN_TINH", "EAAGm0PX4ZCpsBAKZCZCZBsecretvalue")
    write(mini, "config/units.yaml", text)
    problems = problems_of(mini)
    assert any("TÊN biến" in p.message for p in problems)
    assert not any("secretvalue" in str(p) for p in problems)


def test_text_is_normalized_to_nfc(mini: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Sáng kiến của Người lao động")
    write(mini, "content/nfd.md", story().replace("title: Bài initiative_story của tinh", f"title: {nfd}"))
    c = load_campaign(mini)
    title = next(s for s in c.stories if s.id == "nfd").front.title
    assert title == unicodedata.normalize("NFC", title) and title != nfd


def test_failed_load_leaves_store_unchanged(mini: Path, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    sync_campaign(load_campaign(mini), store)
    with store.session() as s:
        before = (len(s.exec(select(Unit)).all()), len(s.exec(select(ContentItem)).all()), len(s.exec(select(AuditLog)).all()))
    write(mini, "content/moi.md", story())  # a good new story …
    write(mini, "content/sai.md", story(unit="khong-co"))  # … and a bad one: nothing may change
    with pytest.raises(LoadError):
        sync_campaign(load_campaign(mini), store)
    with store.session() as s:
        after = (len(s.exec(select(Unit)).all()), len(s.exec(select(ContentItem)).all()), len(s.exec(select(AuditLog)).all()))
        assert s.get(ContentItem, "moi") is None
    assert before == after


@pytest.mark.parametrize("command", ["check", "sync"])
def test_check_and_sync_exit_nonzero_with_file_line_and_fix(mini: Path, command: str) -> None:
    write(mini, "schedules/hong.yaml", "schedules:\n  - id: x\n    cron: \"every day\"\n    kinds: [guide]\n")
    result = CliRunner().invoke(cli, ["--workspace", str(mini), command])
    assert result.exit_code == 1
    assert "schedules/hong.yaml:3" in result.output
    assert "cách sửa" in result.output
    assert not (mini / ".campaign" / "campaign.db").exists() or command == "check"


def test_sync_is_idempotent_and_retires_removed_stories(mini: Path, sqlite_store) -> None:
    c = load_campaign(mini)
    first = sync_campaign(c, sqlite_store)
    assert first.content_added == 5
    assert sync_campaign(load_campaign(mini), sqlite_store).unchanged
    (mini / "content/b.md").unlink()
    result = sync_campaign(load_campaign(mini), sqlite_store)
    assert result.content_retired == 1
    with sqlite_store.session() as s:
        assert s.get(ContentItem, "b").active is False


def test_sample_campaign_is_valid(sample: Path) -> None:
    c = load_campaign(sample)
    kinds = {s.front.kind for s in c.stories}
    assert len(c.stories) >= 15
    assert kinds >= {"initiative_story", "good_practice", "commendation", "guide", "quote", "policy", "lessons", "difficulty"}
    assert len(c.units) >= 15
    assert {"story", "milestone", "slogan"} <= set(c.banners)
