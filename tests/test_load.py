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


# --- reload only what changed (issue 15) ---------------------------------------------------


def _age(ws: Path, seconds: int = 3600) -> None:
    """Every file of the folder as if saved an hour ago: its stamp alone is then trusted (bot.reload)."""
    import os
    import time

    past = time.time() - seconds
    for path in ws.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def _png(path: Path, color: str = "red", size: tuple[int, int] = (8, 8)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")


def test_unchanged_folder_gives_the_same_campaign_without_parsing(mini: Path) -> None:
    from bot.reload import forget, reloader

    forget(mini.resolve())
    _age(mini)
    first = load_campaign(mini, reuse=True)
    assert reloader(mini.resolve()).parsed == 8  # campaign, units, one schedule file, 5 stories
    again = load_campaign(mini, reuse=True)
    assert again is first and reloader(mini.resolve()).parsed == 0
    fresh = load_campaign(mini)  # without reuse (check, sync): everything read again, the same result
    assert fresh is not first and fresh.config_hash == first.config_hash


@pytest.mark.parametrize("change", ["edit", "same-size-edit", "new", "delete", "rename", "touch"])
def test_every_change_is_seen_at_the_next_load_and_only_it_is_parsed(mini: Path, change: str) -> None:
    import os

    from bot.reload import forget, reloader

    forget(mini.resolve())
    _age(mini)
    before = load_campaign(mini, reuse=True)
    b = mini / "content/b.md"
    if change == "edit":
        b.write_text(story().replace("Nội dung", "Nội dung mới"), encoding="utf-8")
    elif change == "same-size-edit":  # same size, then the old times put back: only ctime and the bytes differ
        st = b.stat()
        b.write_text(story().replace("sáng kiến", "sáng KIẾN"), encoding="utf-8")
        assert b.stat().st_size == st.st_size
        os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "new":
        write(mini, "content/moi/e.md", story("news", "huyen-b", "own"))
    elif change == "delete":
        b.unlink()
    elif change == "rename":
        b.rename(mini / "content/b2.md")
    elif change == "touch":
        os.utime(b)  # saved without an edit: hashed, not parsed; the campaign stays the same
    after = load_campaign(mini, reuse=True)
    ids = {s.id for s in after.stories}
    expected = {"edit": ({"a", "b", "c", "d", "nhap"}, 1), "same-size-edit": ({"a", "b", "c", "d", "nhap"}, 1),
                "new": ({"a", "b", "c", "d", "nhap", "moi/e"}, 1), "delete": ({"a", "c", "d", "nhap"}, 0),
                "rename": ({"a", "b2", "c", "d", "nhap"}, 1), "touch": ({"a", "b", "c", "d", "nhap"}, 0)}[change]
    assert (ids, reloader(mini.resolve()).parsed) == expected
    assert (after.config_hash == before.config_hash) == (change == "touch")
    if change in ("edit", "same-size-edit"):
        body = next(s.body for s in after.stories if s.id == "b")
        assert ("mới" in body) if change == "edit" else ("KIẾN" in body)
    # unchanged stories are the very objects of the previous load
    assert next(s for s in after.stories if s.id == "a") is next(s for s in before.stories if s.id == "a")


def test_an_edit_within_the_same_clock_tick_is_never_missed(mini: Path) -> None:
    """Written, loaded and rewritten at once (same size, possibly the same mtime): still seen."""
    from bot.reload import forget

    forget(mini.resolve())
    for i in range(5):
        write(mini, "content/b.md", story().replace("Nội dung", f"Nộidung{i}"))
        c = load_campaign(mini, reuse=True)
        assert f"Nộidung{i}" in next(s.body for s in c.stories if s.id == "b")


def test_a_changed_photo_or_banner_asset_is_seen(sample: Path) -> None:
    from bot.reload import forget, reloader

    ws = sample.resolve()
    forget(ws)
    _png(ws / "content/anh/moi.png")
    write(ws, "content/sang-kien/co-anh.md", story(unit="ldld-tinh", audience="own", image="../anh/moi.png"))
    _age(ws)
    first = load_campaign(ws, reuse=True)
    old_hash = next(s.content_hash for s in first.stories if s.id == "sang-kien/co-anh")
    _png(ws / "content/anh/moi.png", "blue", (9, 9))  # the same photo name, new bytes
    second = load_campaign(ws, reuse=True)
    assert reloader(ws).parsed == 1
    assert next(s.content_hash for s in second.stories if s.id == "sang-kien/co-anh") != old_hash
    (ws / "content/anh/moi.png").write_bytes(b"not an image")
    probs = problems_of_reuse(ws)
    assert any(p.file == "content/sang-kien/co-anh.md" and "moi.png" in p.message for p in probs)
    _png(ws / "content/anh/moi.png")
    load_campaign(ws, reuse=True)
    asset = next((ws / "banners/assets").iterdir())
    asset.write_bytes(b"broken")
    probs = problems_of_reuse(ws)
    assert any(p.file.startswith("banners/") and asset.name in p.message for p in probs)


def problems_of_reuse(ws: Path) -> list:
    with pytest.raises(LoadError) as info:
        load_campaign(ws, reuse=True)
    return info.value.problems


def test_a_broken_folder_gives_its_problems_again_then_the_fix(mini: Path) -> None:
    from bot.reload import forget

    forget(mini.resolve())
    write(mini, "content/b.md", story(unit="khong-co"))
    _age(mini)
    first = problems_of_reuse(mini)
    assert [(p.file, p.line) for p in first] == [("content/b.md", 4)]  # the line of "unit:"
    assert [(p.file, p.line, p.fix) for p in problems_of_reuse(mini)] == [(p.file, p.line, p.fix) for p in first]
    write(mini, "content/b.md", story())
    assert {s.id for s in load_campaign(mini, reuse=True).stories} == {"a", "b", "c", "d", "nhap"}


def test_reload_env_picks_up_an_edit_and_keeps_the_last_good_one(mini: Path) -> None:
    from bot.load import reload_env

    write(mini, ".env", "FB_TOKEN_TINH=mot\n")
    env, problems = reload_env(mini, None)
    assert env["FB_TOKEN_TINH"] == "mot" and problems == []
    write(mini, ".env", "FB_TOKEN_TINH=hai\n")
    env, problems = reload_env(mini, env)
    assert env["FB_TOKEN_TINH"] == "hai" and problems == []
    (mini / ".env").write_bytes("FB_TOKEN_TINH=ba\nX=\xe9\n".encode("latin-1"))
    env, problems = reload_env(mini, env)
    assert env["FB_TOKEN_TINH"] == "hai"
    assert [(p.file, p.line) for p in problems] == [(".env", 2)]


# --- platforms from the registry (issue 14) -------------------------------------------------


@pytest.fixture
def webtest():
    """A platform defined only here, registered through bot.channels.spec (no file under bot/ knows it)."""
    import re as _re

    from pydantic import BaseModel, field_validator

    from bot.channels import spec

    class SiteAccount(BaseModel):
        site_id: str

        @field_validator("site_id")
        @classmethod
        def _site(cls, v: str) -> str:
            if not _re.fullmatch(r"[a-z0-9-]{1,40}", v):
                raise ValueError(f"site_id '{v[:40]}' không hợp lệ | fix: ghi mã trang web, ví dụ \"ldld-tinh\"")
            return v

    platform = spec.register(spec.PlatformSpec(name="webtest", label="Trang web thử", account=SiteAccount,
                                               account_field="site_id", channel=lambda row, ctx: None))
    yield platform
    spec.unregister("webtest")


def _with_webtest_channel(ws: Path, site: str = '"ldld-tinh"') -> None:
    units = (ws / "config/units.yaml").read_text(encoding="utf-8")
    units = units.replace('      - {platform: zalo, oa_id: "2001", token_env: ZALO_REFRESH_TINH}',
                          '      - {platform: zalo, oa_id: "2001", token_env: ZALO_REFRESH_TINH}\n'
                          f'      - platform: webtest\n        site_id: {site}\n        token_env: WEB_TOKEN_TINH', 1)
    write(ws, "config/units.yaml", units)


def test_a_platform_registered_only_in_a_test_is_accepted(mini: Path, webtest) -> None:  # noqa: ANN001
    _with_webtest_channel(mini)
    write(mini, "content/web.md", story(platforms="[webtest]"))
    c = load_campaign(mini)
    tinh = c.unit_by_id["tinh"]
    web = next(ch for ch in tinh.channels if ch.platform == "webtest")
    assert (web.account_id, web.token_env, web.broadcast) == ("ldld-tinh", "WEB_TOKEN_TINH", False)
    assert next(s for s in c.stories if s.id == "web").front.platforms == ["webtest"]
    # left out, ``platforms:`` means every registered platform, the new one too
    assert set(next(s for s in c.stories if s.id == "a").front.platforms) == {"facebook", "zalo", "webtest"}
    assert set(c.schedules[0].platforms) == {"facebook", "zalo", "webtest"}
    zalo = next(ch for ch in tinh.channels if ch.platform == "zalo")
    assert (zalo.account_id, zalo.broadcast) == ("2001", False)


def test_account_fields_are_checked_by_the_platform_with_file_line_and_fix(mini: Path, webtest) -> None:  # noqa: ANN001
    _with_webtest_channel(mini, '"Không Hợp Lệ"')
    probs = problems_of(mini)
    assert [(p.file, p.line, p.field) for p in probs] == [("config/units.yaml", 10, "units.0.channels.2.site_id")]
    assert "không hợp lệ" in probs[0].message and "ldld-tinh" in (probs[0].fix or "")
    text = (mini / "config/units.yaml").read_text(encoding="utf-8").replace('site_id: "Không Hợp Lệ"', 'siteid: "x"')
    write(mini, "config/units.yaml", text)
    probs = problems_of(mini)
    assert {(p.line, p.field, p.fix) for p in probs} == {
        (9, "units.0.channels.2.site_id", "thêm dòng 'site_id: …'"),
        (10, "units.0.channels.2.siteid", "có phải ý bạn là 'site_id'?"),
    }


def test_an_unknown_platform_lists_the_registered_ones(mini: Path, webtest) -> None:  # noqa: ANN001
    from bot.channels import spec

    _with_webtest_channel(mini)
    write(mini, "content/web.md", story(platforms="[webtes]"))
    probs = problems_of(mini)
    assert [(p.file, p.line, p.field) for p in probs] == [("content/web.md", 9, "platforms.0")]
    assert probs[0].fix == "có phải ý bạn là 'webtest'? (các nền tảng: facebook, webtest, zalo)"
    write(mini, "content/web.md", story())
    load_campaign(mini, reuse=True)
    spec.unregister("webtest")  # the same folder, the platform gone: refused at the channel's line, even reusing
    probs = problems_of_reuse(mini)
    assert [(p.file, p.line, p.field) for p in probs] == [("config/units.yaml", 9, "units.0.channels.2.platform")]
    assert probs[0].message == "nền tảng không có: 'webtest'"
    assert probs[0].fix == "dùng một trong: facebook, zalo"


def test_loader_modules_stay_small_and_name_no_platform() -> None:
    """Issue 14's structure checks for the loader: no module over 600 lines; no platform written in it."""
    root = Path(__file__).resolve().parents[1] / "bot"
    for name in ("load.py", "config.py", "content.py", "checks.py", "reload.py", "yamlfile.py", "lastgood.py", "bounds.py"):
        text = (root / name).read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 600, name
        assert 'Literal["facebook"' not in text and "== \"facebook\"" not in text and "== \"zalo\"" not in text, name
