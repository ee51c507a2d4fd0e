"""Approval's file writing on its own: a story that the loader refuses leaves content/ as it was (no file, no
photo, no staging folder); a good one loads with `check`'s loader and is committed when the folder is a repo."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.load import load_campaign
from bot.web.publish import PublishError, write_story
from tests.web.conftest import jpeg


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def args(tmp_path: Path, **over: object) -> dict[str, object]:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg())
    base: dict[str, object] = dict(ref="GY-ABCDEFG", title="Sáng kiến: “máy” #1 — thử", body="Nội dung đủ dài của bài.\n\n---\n\nđoạn sau",
                                   kind="initiative_story", unit="huyen-a", audience="cascade", platforms=["facebook"],
                                   banner=None, approved_by="Ban Tuyên giáo", approved_at=datetime(2026, 11, 30, 8, tzinfo=UTC),
                                   photos=[photo])
    base.update(over)
    return base


@pytest.mark.parametrize(("field", "value", "words"), [
    ("unit", "khong-co", "không có đơn vị 'khong-co'"),
    ("banner", "khong-co", "không có mẫu banner"),
    ("kind", "khong-phai-loai", "loại bài: giá trị không hợp lệ"),
    ("audience", ["khong-co"], "không có đơn vị"),
])
def test_a_refused_story_writes_nothing(mini: Path, tmp_path: Path, field: str, value: object, words: str) -> None:
    campaign = load_campaign(mini)
    before = files(mini / "content")
    with pytest.raises(PublishError) as err:
        write_story(campaign, **args(tmp_path, **{field: value}))  # type: ignore[arg-type]
    assert words in str(err.value) and "chưa ghi gì" in str(err.value)
    assert files(mini / "content") == before


def test_a_good_story_loads_and_is_committed(mini: Path, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(mini)], check=True)
    campaign = load_campaign(mini)
    written = write_story(campaign, **args(tmp_path), git_author=("Hoa Nguyễn", "hoa@campaign-bot.invalid"))  # type: ignore[arg-type]
    assert written.committed and written.story_path.startswith("content/tu-co-so/") and len(written.files) == 2
    story = next(s for s in load_campaign(mini).stories if s.id == written.content_id)
    assert story.front.approved and story.front.title == "Sáng kiến: “máy” #1 — thử" and len(story.images) == 1
    assert "đoạn sau" in story.body
    log = subprocess.run(["git", "-C", str(mini), "log", "--format=%an <%ae>", "--name-only"], capture_output=True,
                         text=True, check=True).stdout
    assert "Hoa Nguyễn <hoa@campaign-bot.invalid>" in log and written.story_path in log
    with pytest.raises(PublishError, match="đã có"):
        write_story(campaign, **args(tmp_path))  # type: ignore[arg-type]
