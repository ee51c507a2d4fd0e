"""The one staff sandbox (bot.templating): what a staff-written text may do, refused at load with a Vietnamese error
naming the file, the line and the fix; bounded at render time; the same filters everywhere. And the schema's promise:
validating templates (``import bot.load``, ``check``) does not load Pillow or the renderer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import templating
from bot.banners import BannerError, render_string
from bot.load import load_campaign
from bot.yamlfile import LoadError

REPO = Path(__file__).resolve().parents[2]

ESCAPES = [
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ title.__class__ }}",
    "{{ unit['__class__'] }}",
    "{{ title.upper() }}",
    "{{ lipsum() }}",
    "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
    "{% for a in title recursive %}{{ loop(a) }}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% set s = title ~ title %}{{ s }}",
    "{{ 10 ** 100000 }}",
    "{{ title | center(1000000000) }}",
    "{% include 'config/units.yaml' %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_what_the_sandbox_refuses_is_refused_before_rendering(source: str) -> None:
    found = templating.problem(source)
    assert found is not None, source
    message, fix = found
    assert message.startswith("lỗi mẫu Jinja2") and fix  # Vietnamese, with what to write instead
    with pytest.raises(templating.TextRenderError):
        templating.render(source, {"title": "Sáng kiến", "unit": {"name": "LĐLĐ"}})
    with pytest.raises(BannerError):
        render_string(source, {"title": "Sáng kiến"})


def test_the_messages_say_what_is_wrong_and_the_fix() -> None:
    message, fix = templating.problem("{{ title.__class__ }}") or ("", "")
    assert "'__class__'" in message and "{{ unit.name }}" in fix
    message, fix = templating.problem("{{ title.upper() }}") or ("", "")
    assert "gọi hàm" in message and "{{ title | upper }}" in fix
    message, fix = templating.problem("{% for a in x %}{% for b in y %}{% endfor %}{% endfor %}") or ("", "")
    assert "vòng lặp" in message and "không lồng nhau" in fix
    message, fix = templating.problem("{{ title | center(9) }}") or ("", "")
    assert "'center'" in message and "so, ngay" in fix


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ('{{ "x" * 1000000000 }}', {}),  # a string repeated: measured before it is built
        ("{{ t * 1000000000 }}", {"t": "ab"}),
        ("{{ t | replace('', t) | replace('', t) }}", {"t": "y" * 5000}),
        ("{% for i in t %}{{ t }}{% endfor %}", {"t": "y" * 5000}),  # one loop: its output is capped
        ('{{ "%0999999999d" % 1 }}', {}),
        ("{{ n * n * n * n * n * n * n * n }}", {"n": 10**40}),
    ],
)
def test_work_without_end_is_stopped_while_rendering(source: str, context: dict[str, object]) -> None:
    assert templating.problem(source) is None  # legal, but bounded
    started = time.process_time()
    with pytest.raises(templating.TextRenderError) as caught:
        templating.render(source, context)
    assert time.process_time() - started < 5  # stopped, not finished (a generous bound: no timing claim)
    assert "mẫu chữ" in str(caught.value)


def test_what_staff_write_still_renders() -> None:
    context = {"value": 1250000, "percent": "41,7", "unit": {"name": "LĐLĐ tỉnh"}, "tags": ["a", "b"], "photo": ""}
    assert templating.render_text("Đạt {{ value | so }} ({{ percent }}%) – {{ unit.name }}", context) == (
        "Đạt 1.250.000 (41,7%) – LĐLĐ tỉnh"
    )
    assert templating.render("{% if photo %}có ảnh{% else %}không ảnh{% endif %}", context) == "không ảnh"
    assert templating.render("{% for t in tags %}#{{ t | upper }}{% if not loop.last %} {% endif %}{% endfor %}",
                             context) == "#A #B"
    assert templating.render("{{ missing.name }}|{{ none }}|{{ value | default(0) | so }}", {"none": None}) == "||0"


def test_one_environment_for_banners_and_milestones() -> None:
    """Banner texts and milestone messages are the same language: the same filters, missing values empty."""
    context = {"value": 1250, "date": "2026-11-24T08:00:00"}
    source = "{{ value | so }} {{ date | ngay }} {{ unit.name }}"
    assert render_string(source, context) == templating.render(source, context) == "1.250 24/11/2026 "
    assert templating.render_text(source, context) == "1.250 24/11/2026"


def test_a_bad_milestone_message_is_refused_at_load_with_file_line_and_fix(sample: Path) -> None:
    path = sample / "config" / "milestones.yaml"
    text = path.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if "message:" in line)
    path.write_text(text.replace(first, '    message: "{{ unit.__init__.__globals__ }}"', 1), encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load_campaign(sample)
    shown = str(caught.value)
    assert "config/milestones.yaml" in shown and "__globals__" in shown and "cách sửa" in shown
    problem = caught.value.problems[0]
    assert problem.line == text.splitlines().index(first) + 1


def test_a_bad_banner_text_is_refused_at_load_with_file_line_and_fix(sample: Path) -> None:
    path = sample / "banners" / "story.yaml"
    text = path.read_text(encoding="utf-8")
    assert "{{ title }}" in text
    path.write_text(text.replace("{{ title }}", "{% for a in title %}{% for b in title %}x{% endfor %}{% endfor %}", 1),
                    encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load_campaign(sample)
    problem = next(p for p in caught.value.problems if "story.yaml" in p.file)
    assert problem.line is not None and "vòng lặp" in problem.message and problem.fix


def test_validating_a_campaign_does_not_load_pillow_or_the_renderer() -> None:
    """``import bot.load`` and validating the sample's banner templates need neither Pillow's renderer modules nor
    bot.banners' drawing; the loader's image checks (bot.images) load Pillow only when they decode an image."""
    code = (
        "import sys\n"
        "import bot.load\n"
        "assert 'PIL' not in sys.modules, 'import bot.load loaded Pillow'\n"
        "import yaml\n"
        "from pathlib import Path\n"
        "from bot.banners import BannerTemplate, template_assets\n"
        f"for path in sorted(Path({str(REPO / 'banners')!r}).glob('*.yaml')):\n"
        "    template = BannerTemplate.model_validate(yaml.safe_load(path.read_text(encoding='utf-8'))['banner'])\n"
        "    template_assets(template)\n"
        "assert 'PIL' not in sys.modules, 'validating templates loaded Pillow'\n"
        "renderer = [m for m in ('bot.banners.draw', 'bot.banners.canvas', 'bot.banners.fonts', 'bot.banners.layout',\n"
        "                      'bot.banners.render')\n"
        "            if m in sys.modules]\n"
        "assert not renderer, renderer\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
