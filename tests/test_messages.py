"""bot.messages: the one place where click's, pydantic's and PyYAML's English becomes Vietnamese."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from bot.messages import CLICK, CLICK_PLURAL, did_you_mean, translate, translate_plural, yaml_problem
from bot.yamlfile import Located, parse_yaml, validate

# click messages a staff member never meets: Windows console, editors, shell completion, programming errors.
NOT_FOR_STAFF = {
    "Windows error: {error}", "d", "Name '{name}' defined twice", "Unknown color {colour!r}",
    "Unknown standard stream '{name}'", "Couldn't detect Bash version, shell completion is not supported.",
    "Shell completion is not supported for Bash versions older than 4.4.",
    # raised as TypeError for a programmer declaring options wrongly, never at a staff member's command
    "Arguments take exactly one parameter declaration, got {length}: {decls}.",
    "Boolean option {decl!r} cannot use the same flag for true/false.",
    "Could not determine name for option with declarations {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? "
    "Did you mean to pass '--{name}'?",
}


def click_message_ids() -> tuple[set[str], set[tuple[str, str]]]:
    """Every ``_("…")`` and ``ngettext("…", "…", n)`` in click's source, read with the ast module."""
    singles: set[str] = set()
    plurals: set[tuple[str, str]] = set()
    for path in Path(click.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if node.func.id == "_" and args:
                singles.add(args[0])
            elif node.func.id == "ngettext" and len(args) >= 2:
                plurals.add((args[0], args[1]))
    return singles, plurals


def test_every_click_message_has_a_vietnamese_translation() -> None:
    singles, plurals = click_message_ids()
    assert len(singles) > 40 and len(plurals) >= 6  # the scan itself works
    missing = sorted(m for m in singles - NOT_FOR_STAFF if m not in CLICK)
    assert not missing, missing  # a click upgrade that adds a message fails here
    assert not sorted(p for p in plurals if p not in CLICK_PLURAL)


def test_translations_keep_click_placeholders() -> None:
    for english, vietnamese in CLICK.items():
        wanted = set(re.findall(r"\{(\w+)", english)) | set(re.findall(r"%\((\w+)\)", english))
        got = set(re.findall(r"\{(\w+)", vietnamese)) | set(re.findall(r"%\((\w+)\)", vietnamese))
        assert got <= wanted, (english, vietnamese)
    assert translate("No such option {name!r}.").format(name="--x") == "Không có tùy chọn '--x'."
    text = translate_plural("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 2)
    assert text.format(possibility="'--now'", possibilities="'--now'") == "Có phải ý bạn là '--now'?"
    assert translate("something click adds later") == "something click adds later"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("title: Sáng kiến: tiết kiệm điện\n", "đặt tiêu đề trong dấu ngoặc kép"),
        ("units:\n  - id: a\n\tname: b\n", "tab"),
        ('name: "Liên đoàn\nlevel: x\n', "dấu \" đóng"),
        ("kinds: [guide, news\n", "dấu ]"),
        ("a: 1\n b: 2\n", "thụt lề"),
        ("a: @x\n", "dấu ngoặc kép"),
        ("a: 1\n---\nb: 2\n", "'---'"),
    ],
)
def test_yaml_errors_in_vietnamese_with_a_fix_that_fits(text: str, needle: str) -> None:
    located, problems = parse_yaml(text, "t.yaml")
    assert located is None and len(problems) == 1
    assert needle in str(problems[0])
    assert problems[0].line is not None
    assert not re.search(r"mapping values|found|expected|while", str(problems[0]))


def test_colon_in_a_value_other_than_title() -> None:
    message, fix = yaml_problem("mapping values are not allowed in this context", "  name: LĐLĐ: huyện A")
    assert "'name'" in message and "tên trong dấu ngoặc kép" in fix


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("a: 1\napproved_at: 2026-11-31\n", 2, "tháng đó không có ngày này"),
        ("start: 2026-13-01\n", 1, "tháng phải từ 1 đến 12"),
        ("when: 2026-02-29 08:00:00\n", 1, "không có thật"),
    ],
)
def test_impossible_dates_name_their_line(text: str, line: int, needle: str) -> None:
    located, problems = parse_yaml(text, "t.yaml", line_offset=1)
    assert located is None
    (p,) = problems
    assert p.line == line + 1 and needle in p.message and "2026" in p.message


def _story_problems(**front: object) -> list[str]:
    from bot.load import STORY_VOCAB, StoryFront

    data = {"title": "T", "kind": "guide", "unit": "tinh", **front}
    _, problems = validate(StoryFront, data, Located("content/x.md", data), vocabulary=STORY_VOCAB)
    return [str(p) for p in problems]


def test_a_union_gives_one_error_with_a_suggestion() -> None:
    (p,) = _story_problems(audience="casade")
    assert "audience: giá trị không hợp lệ: 'casade'" in p and "có phải ý bạn là 'cascade'?" in p
    assert "list[" not in p and "constrained" not in p and " or " not in p


@pytest.mark.parametrize(
    ("front", "needle"),
    [
        ({"approved": "có"}, "'có' phải là true (có) hoặc false (không)"),
        ({"approved_at": "2026-1x-01"}, "approved_at"),
        ({"approved_at": "24/11/2026"}, "2026-11-24"),
        ({"priority": "cao"}, "phải là một số nguyên"),
        ({"platforms": ["facebok"]}, "có phải ý bạn là 'facebook'?"),
        ({"kind": "guid"}, "có phải ý bạn là 'guide'?"),
        ({"link": "congdoan.vn"}, "https://"),
        ({"tags": "a"}, "danh sách"),
        ({"unit": None}, "chưa điền"),
    ],
)
def test_pydantic_errors_in_vietnamese(front: dict, needle: str) -> None:
    problems = _story_problems(**front)
    assert len(problems) == 1 and needle in problems[0], problems
    assert not re.search(r"Input should|valid|unable to|invalid character", problems[0])


def test_did_you_mean() -> None:
    assert did_you_mean("cascde", ["own", "cascade", "all"]) == "cascade"
    assert did_you_mean("xyz", ["own", "cascade", "all"]) is None
