"""`campaign-bot new …` writes files that pass `check` once filled; the staff guide's examples load."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.load import KINDS, LEVELS, CampaignFile, MilestonesFile, SchedulesFile, UnitsFile, load_campaign
from bot.yamlfile import parse_yaml, validate

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "huong-dan.md"


def run(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args])


def test_new_story_passes_check_once_its_blanks_are_filled(mini: Path) -> None:
    made = run(mini, "new", "story", "Sáng kiến: máy bóc vỏ hạt điều")
    assert made.exit_code == 0, made.output
    path = mini / "content" / "sang-kien" / "sang-kien-may-boc-vo-hat-dieu.md"  # transliterated name
    text = path.read_text(encoding="utf-8")
    for key in ("title", "kind", "unit", "audience", "platforms", "approved", "approved_by", "approved_at",
                "not_before", "expires", "priority", "image", "images", "banner", "link", "tags", "summary"):
        assert re.search(rf"^{key}:.*#", text, re.M), key  # every field present, with a Vietnamese comment
    for kind in KINDS:
        assert kind in text
    assert 'title: "Sáng kiến: máy bóc vỏ hạt điều"' in text  # the colon is quoted for the staff

    blank = run(mini, "check")
    assert blank.exit_code == 1
    assert "content/sang-kien/sang-kien-may-boc-vo-hat-dieu.md:" in blank.output
    assert "unit: chưa điền" in blank.output

    text = re.sub(r"^unit:\s*#", "unit: huyen-a   #", text, flags=re.M)
    path.write_text(text + "Nội dung câu chuyện sáng kiến.\n", encoding="utf-8")
    filled = run(mini, "check")
    assert filled.exit_code == 0, filled.output
    loaded = next(s for s in load_campaign(mini).stories if s.id == "sang-kien/sang-kien-may-boc-vo-hat-dieu")
    assert loaded.front.approved is False  # a draft until someone approves it

    # approved as the guide says: posted at the next slot of a schedule of its kind
    text = path.read_text(encoding="utf-8").replace("approved: false", "approved: true").replace("priority: 0", "priority: 50")
    text = re.sub(r"^approved_at:\s*#", "approved_at: 2026-11-20   #", text, flags=re.M)
    path.write_text(text, encoding="utf-8")
    assert run(mini, "check").exit_code == 0
    tick = run(mini, "tick", "--now", "24/11/2026 08:00", "--outbox")
    assert tick.exit_code == 0, tick.output
    assert list((mini / "outbox" / "huyen-a" / "facebook").glob("*sang-kien-may-boc-vo-hat-dieu*.json"))


def test_new_guide_and_no_overwrite(mini: Path) -> None:
    assert run(mini, "new", "guide", "Hướng dẫn đăng ký sáng kiến", "--unit", "tinh").exit_code == 0
    path = mini / "content" / "huong-dan" / "huong-dan-dang-ky-sang-kien.md"
    assert "kind: guide" in path.read_text(encoding="utf-8")
    again = run(mini, "new", "guide", "Hướng dẫn đăng ký sáng kiến")
    assert again.exit_code == 1 and "không ghi đè" in again.output


def test_new_schedule_is_inert_until_filled(mini: Path) -> None:
    assert run(mini, "new", "schedule", "Sáng thứ Ba").exit_code == 0
    path = mini / "schedules" / "sang-thu-ba.yaml"
    text = path.read_text(encoding="utf-8")
    for key in ("id", "cron", "kinds", "slogan", "units", "platforms", "grace", "banner", "quiet_hours", "daily_cap"):
        assert f"{key}:" in text, key
    assert "tin cột mốc không tính vào giới hạn này" in text
    assert run(mini, "check").exit_code == 0
    campaign = load_campaign(mini)
    assert next(s for s in campaign.schedules if s.id == "sang-thu-ba").units == []
    path.write_text(text.replace("units: []", "units: [tinh]"), encoding="utf-8")
    assert run(mini, "check").exit_code == 0


def test_new_unit_appends_and_refuses_a_broken_result(mini: Path) -> None:
    made = run(mini, "new", "unit", "cs-b1", "CĐCS Công ty B1", "--parent", "huyen-b")
    assert made.exit_code == 0, made.output
    unit = load_campaign(mini).unit_by_id["cs-b1"]
    assert unit.parent == "huyen-b" and unit.level == "grassroots" and unit.name == "CĐCS Công ty B1"
    before = (mini / "config/units.yaml").read_bytes()
    bad = run(mini, "new", "unit", "cs-b2", "CĐCS B2", "--parent", "huyen-c")
    assert bad.exit_code == 1 and "có phải ý bạn là 'huyen-" in bad.output
    assert (mini / "config/units.yaml").read_bytes() == before  # put back as it was


def test_new_slogan_goes_into_the_campaign(sample: Path, mini: Path) -> None:
    made = run(sample, "new", "slogan", "Sáng tạo: để phát triển")
    assert made.exit_code == 0, made.output
    assert load_campaign(sample).config.slogans[-1] == "Sáng tạo: để phát triển"
    # the mini campaign writes its slogans on one line: the staff are told how to add it by hand
    flow = run(mini, "new", "slogan", "Một khẩu hiệu")
    assert flow.exit_code == 1 and "slogans:" in flow.output


# --- the staff guide ---------------------------------------------------------------------------

FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)


def guide_blocks() -> list[tuple[str, str | None, str]]:
    """(language, title="…" path or None, text) of every fenced block of the guide."""
    out = []
    for lang, info, text in FENCE.findall(GUIDE.read_text(encoding="utf-8")):
        m = re.search(r'title="([^"]+)"', info)
        out.append((lang, m.group(1) if m else None, text))
    return out


MODELS = {"config/units.yaml": UnitsFile, "config/campaign.yaml": CampaignFile, "config/milestones.yaml": MilestonesFile}


def test_the_guides_examples_load(sample: Path) -> None:
    blocks = guide_blocks()
    assert len([b for b in blocks if b[1]]) >= 4
    added_stories = []
    for lang, path, text in blocks:
        if lang == "yaml" and path is None:  # a snippet (the three lines of an approval): valid YAML at least
            assert isinstance(yaml.safe_load(text), dict)
            continue
        if path is None:
            continue
        if path.startswith("content/"):
            (sample / path).parent.mkdir(parents=True, exist_ok=True)
            (sample / path).write_text(text, encoding="utf-8")
            added_stories.append(path)
            continue
        located, problems = parse_yaml(text, path)
        assert located is not None and not problems, problems
        model = MODELS.get(path, SchedulesFile)
        obj, problems = validate(model, located.data, located)
        assert obj is not None, [str(p) for p in problems]
        if path.startswith("schedules/") and "settings" not in located.data:
            (sample / path).write_text(text, encoding="utf-8")  # a schedule joins the sample and still loads
    campaign = load_campaign(sample)  # raises with file:line if an example story is wrong
    ids = {s.source for s in campaign.stories}
    assert set(added_stories) <= ids
    assert any(s.id == "vi-du-sang-thu-ba" for s in campaign.schedules)


def test_the_guide_covers_every_kind_level_and_story_field() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    from bot.load import StoryFront

    for kind in KINDS:
        assert f"`{kind}`" in text, kind
    for level in LEVELS:
        assert f"`{level}`" in text, level
    for name in StoryFront.model_fields:
        assert f"`{name}`" in text, name
    for audience in ("own", "cascade", "all"):
        assert f"| `{audience}` |" in text
    first_screen = text.split("## Mục lục")[0]
    assert first_screen.startswith("# Hướng dẫn cho cán bộ truyền thông")
    for word in ("status", "approved", "demo", "quiet_hours"):
        assert word in text


def test_readme_links_the_guide_and_keeps_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/huong-dan.md" in readme.split("## Set-up")[0]
    assert "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/campaign-bot demo" in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q" in readme


@pytest.mark.parametrize("kind", KINDS)
def test_new_story_of_every_kind_goes_into_its_folder(mini: Path, kind: str) -> None:
    assert run(mini, "new", "story", "--kind", kind, "--unit", "tinh", "--file", f"bai {kind}").exit_code == 0
    made = list((mini / "content").rglob(f"bai-{kind.replace('_', '-')}.md"))
    assert len(made) == 1 and f"kind: {kind}" in made[0].read_text(encoding="utf-8")
    shutil.rmtree(made[0].parent)
