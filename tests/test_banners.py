"""Banner templates: validation, text fitting (wrap, shrink, ellipsis, never outside the box), Vietnamese shaping,
progress bars, and the render cache. Pixel tests measure what was actually drawn rather than trusting the layout."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, features
from pydantic import ValidationError

import bot.banners as banners
from bot.banners import (
    BannerError,
    BannerTemplate,
    draw_banner,
    get_font,
    known_keys,
    layout_engine_name,
    layout_text,
    parse_number,
    render_banner,
    render_string,
    template_assets,
)

TRANSPARENT = {"color": "#00000000"}


def make(elements: list[dict[str, Any]], size: tuple[int, int] = (600, 300), background: Any = None) -> BannerTemplate:
    data: dict[str, Any] = {"id": "t", "size": list(size), "elements": elements}
    if background is not None:
        data["background"] = background
    return BannerTemplate.model_validate(data)


def text_element(text: str, box: list[int], **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, "box": box, "size": extra.pop("size", 40), "color": "#ffffff", **extra}


def alpha_bbox(image: Image.Image) -> tuple[int, int, int, int] | None:
    assert image.mode == "RGBA"
    return image.getchannel("A").getbbox()


def inside(bbox: tuple[int, int, int, int] | None, box: list[int]) -> bool:
    assert bbox is not None, "nothing was drawn"
    x, y, w, h = box
    return bbox[0] >= x and bbox[1] >= y and bbox[2] <= x + w and bbox[3] <= y + h


@pytest.fixture
def assets_root(tmp_path: Path) -> Path:
    """A banners/ folder with a logo that has transparency (a white disc on nothing)."""
    root = tmp_path / "banners"
    (root / "assets").mkdir(parents=True)
    logo = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rectangle((0, 0, 199, 99), fill=(0, 255, 0, 255))
    logo.save(root / "assets" / "logo.png")
    return root


# ---------------------------------------------------------------------------------------------------------------
# Validation


def test_sample_template_from_the_format_validates() -> None:
    template = BannerTemplate.model_validate(
        {
            "id": "story",
            "size": [1200, 630],
            "background": {"gradient": ["#b71c1c", "#7f0000"], "direction": "vertical"},
            "elements": [
                {"type": "image", "src": "assets/logo-cong-doan.png", "box": [40, 30, 110, 110]},
                {
                    "type": "text",
                    "text": "{{ campaign.name }}",
                    "box": [170, 40, 990, 60],
                    "size": 30,
                    "weight": "semibold",
                    "color": "#ffeb3b",
                },
                {
                    "type": "text",
                    "text": "{{ title }}",
                    "box": [40, 170, 1120, 280],
                    "size": 64,
                    "min_size": 36,
                    "max_lines": 3,
                    "weight": "bold",
                    "color": "#ffffff",
                },
                {
                    "type": "progress",
                    "value": "{{ metric.initiatives }}",
                    "max": "{{ unit.target }}",
                    "box": [40, 480, 1120, 40],
                    "color": "#ffeb3b",
                    "label": "{{ value | so }} / {{ max | so }} sáng kiến",
                },
                {
                    "type": "text",
                    "text": "{{ unit.name }}",
                    "box": [40, 560, 1120, 40],
                    "size": 26,
                    "color": "#ffffff",
                    "align": "right",
                },
            ],
        }
    )
    assert [element.type for element in template.elements] == ["image", "text", "text", "progress", "text"]
    assert template_assets(template) == ["assets/logo-cong-doan.png"]


def errors_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        BannerTemplate.model_validate(data)
    return caught.value.errors()


def test_unknown_key_is_an_error_at_every_level() -> None:
    base = {"id": "t", "size": [100, 100]}
    top = errors_of({**base, "backgroud": {"color": "#fff"}})
    assert top[0]["type"] == "extra_forbidden" and top[0]["loc"] == ("backgroud",)
    assert "background" in known_keys(top[0]["loc"])

    data = {**base, "elements": [text_element("x", [0, 0, 50, 50], colour="#fff")]}
    element = errors_of(data)
    assert element[0]["type"] == "extra_forbidden"
    assert element[0]["loc"] == ("elements", 0, "colour")  # a real path in the file: no union tag in between
    assert "color" in known_keys(element[0]["loc"], data)
    assert "src" not in known_keys(element[0]["loc"], data)  # only the keys of a text element

    data = {**base, "background": {"gradient": ["#fff", "#000"], "direction": "vertical", "angle": 3}}
    background = errors_of(data)
    assert background[0]["type"] == "extra_forbidden"
    assert background[0]["loc"] == ("background", "angle")
    assert known_keys(background[0]["loc"], data) == ["gradient", "direction"]


def test_error_locations_are_paths_in_the_file() -> None:
    """Every location must exist in the YAML data (so the loader finds its line), however deep the error."""
    data = {
        "id": "t",
        "size": [100, 100],
        "background": {"gradient": ["#fff", "nope"]},
        "elements": [
            {"type": "image", "src": "a.png", "box": [0, 0, 10, 10], "fit": "stretch"},
            {"type": "text", "text": "x", "box": [0, 0, 10, 10], "size": "big"},
            {"type": "progress", "value": "1", "max": "2", "box": [0, 0, 10, 10], "color": "#fff", "label_color": "x"},
            {"type": "shape", "box": [0, 0, 10, 10]},
            {"box": [0, 0, 10, 10]},
        ],
    }
    errors = errors_of(data)
    locations = {error["loc"] for error in errors}
    assert locations == {
        ("background", "gradient", 1),
        ("elements", 0, "fit"),
        ("elements", 1, "size"),
        ("elements", 2, "label_color"),
        ("elements", 3, "type"),
        ("elements", 4),
    }
    for error in errors:
        node: Any = data
        for part in error["loc"]:
            node = node[part]
    literal = next(error for error in errors if error["loc"] == ("elements", 0, "fit"))
    assert literal["type"] == "literal_error" and "contain" in literal["ctx"]["expected"]


@pytest.mark.parametrize("colour", ["red", "#ff00", "#gggggg", "ffffff", None, 123, "#fffffff"])
def test_bad_colour_is_an_error(colour: Any) -> None:
    errors = errors_of(
        {"id": "t", "size": [100, 100], "elements": [{**text_element("x", [0, 0, 50, 50]), "color": colour}]}
    )
    assert errors[0]["loc"] == ("elements", 0, "color")


@pytest.mark.parametrize("colour", ["#fff", "#FFEB3B", "#ffeb3b80"])
def test_good_colours_pass(colour: str) -> None:
    make([{**text_element("x", [0, 0, 50, 50]), "color": colour}])


@pytest.mark.parametrize("text", ["{{ title ", "{{ title | khong_co_filter }}", "{% if %}x{% endif %}", "{{ 1 + }}"])
def test_bad_jinja_is_an_error(text: str) -> None:
    errors = errors_of({"id": "t", "size": [100, 100], "elements": [text_element(text, [0, 0, 50, 50])]})
    assert errors[0]["loc"] == ("elements", 0, "text")
    assert "lỗi mẫu Jinja2" in errors[0]["msg"] and " | fix: " in errors[0]["msg"]


def test_bad_jinja_in_progress_label_is_an_error() -> None:
    element = {
        "type": "progress",
        "value": "1",
        "max": "2",
        "box": [0, 0, 50, 10],
        "color": "#fff",
        "label": "{{ value | so ",
    }
    errors = errors_of({"id": "t", "size": [100, 100], "elements": [element]})
    assert errors[0]["loc"] == ("elements", 0, "label")


@pytest.mark.parametrize(
    ("box", "field"),
    [
        ([0, 0, 50], "box"),
        ([0, -1, 50, 50], "box"),
        ([0, 0, 0, 50], "box"),
        ([0, 0, 50.5, 50], "box"),
        ([60, 0, 50, 50], "box"),
    ],
)
def test_bad_boxes(box: list[Any], field: str) -> None:
    errors = errors_of({"id": "t", "size": [100, 100], "elements": [text_element("x", box)]})
    assert errors[0]["loc"][:3] == ("elements", 0, field)


def test_min_size_above_size_is_an_error() -> None:
    errors = errors_of(
        {"id": "t", "size": [100, 100], "elements": [text_element("x", [0, 0, 50, 50], size=30, min_size=40)]}
    )
    assert errors[0]["loc"] == ("elements", 0, "min_size")


def test_background_needs_exactly_one_kind() -> None:
    errors = errors_of({"id": "t", "size": [100, 100], "background": {"color": "#fff", "image": "a.png"}})
    assert errors[0]["type"] == "background_kind"
    assert errors[0]["loc"] == ("background",)


def test_asset_paths_stay_inside_banners_folder() -> None:
    for src in ["/etc/passwd", "../config/units.yaml", "assets/../../x.png"]:
        errors = errors_of(
            {"id": "t", "size": [100, 100], "elements": [{"type": "image", "src": src, "box": [0, 0, 10, 10]}]}
        )
        assert errors[0]["loc"] == ("elements", 0, "src")


def test_template_assets_lists_static_sources_once() -> None:
    template = make(
        [
            {"type": "image", "src": "assets/logo.png", "box": [0, 0, 10, 10]},
            {"type": "image", "src": "assets/logo.png", "box": [20, 0, 10, 10]},
            {"type": "image", "src": "{{ image }}", "box": [40, 0, 10, 10]},
        ],
        background={"image": "assets/nen.jpg"},
    )
    assert template_assets(template) == ["assets/nen.jpg", "assets/logo.png"]


# ---------------------------------------------------------------------------------------------------------------
# Jinja


def test_missing_values_render_empty_and_filters_work() -> None:
    assert render_string("[{{ unit.name }}]", {}) == "[]"
    assert render_string("[{{ value | so }}]", {}) == "[]"
    assert render_string("{{ value | so }}", {"value": 1250000}) == "1.250.000"
    from datetime import date

    assert render_string("{{ date | ngay }}", {"date": date(2026, 11, 24)}) == "24/11/2026"


def test_sandbox_blocks_python_internals() -> None:
    with pytest.raises(BannerError):
        render_string("{{ ().__class__.__base__.__subclasses__() }}", {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.250", 1250),
        ("1.250.000", 1_250_000),
        ("12,5", 12.5),
        ("1250", 1250),
        ("1250.5", 1250.5),
        ("130%", 130),
        ("", None),
        ("abc", None),
        (" 3.000 ", 3000),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


# ---------------------------------------------------------------------------------------------------------------
# Text layout


def test_wraps_on_words_only() -> None:
    text = "Tự hào trí tuệ lao động Việt Nam một triệu sáng kiến triệu việc tốt"
    layout = layout_text(text, 300, 400, size=32, weight="bold")
    assert len(layout.lines) > 2
    assert " ".join(layout.lines) == text  # nothing lost, nothing split inside a word
    assert not layout.truncated and layout.size == 32
    font = get_font("bold", 32)
    assert all(font.getlength(line) <= 300 for line in layout.lines)
    # Greedy: the next word would not have fitted on the line before it.
    for line, following in zip(layout.lines, layout.lines[1:], strict=False):
        assert font.getlength(f"{line} {following.split(' ')[0]}") > 300


def test_shrinks_long_titles_and_keeps_short_ones() -> None:
    short = layout_text("Sáng kiến của năm", 1120, 280, size=64, min_size=36, max_lines=3, weight="bold")
    assert short.size == 64
    long_title = (
        "Sáng kiến máy bóc vỏ hạt điều bán tự động giúp tăng năng suất gấp ba lần tại Công ty Cổ phần "
        "Chế biến Nông sản Ninh Thuận và tiết kiệm hàng trăm triệu đồng mỗi năm"
    )
    shrunk = layout_text(long_title, 1120, 280, size=64, min_size=36, max_lines=3, weight="bold")
    assert 36 <= shrunk.size < 64
    assert len(shrunk.lines) <= 3 and not shrunk.truncated
    assert " ".join(shrunk.lines) == long_title
    # The largest size that fits: one pixel more would not.
    bigger = layout_text(
        long_title, 1120, 280, size=shrunk.size + 1, min_size=shrunk.size + 1, max_lines=3, weight="bold"
    )
    assert bigger.truncated


def test_ellipsis_only_when_min_size_cannot_fit() -> None:
    words = "Công nhân lao động phát huy sáng kiến cải tiến kỹ thuật nâng cao năng suất".split()
    fits_when_shrunk = " ".join(words)
    layout = layout_text(fits_when_shrunk, 500, 120, size=48, min_size=20, max_lines=3)
    assert not layout.truncated and not any("…" in line for line in layout.lines)
    assert layout.size < 48

    too_long = " ".join(words * 6)
    cut = layout_text(too_long, 500, 120, size=48, min_size=20, max_lines=3)
    assert cut.truncated and cut.size == 20
    assert len(cut.lines) <= 3
    assert cut.lines[-1].endswith("…")
    assert sum(line.count("…") for line in cut.lines) == 1
    assert all(get_font("regular", 20).getlength(line) <= 500 for line in cut.lines)


def test_max_lines_is_respected() -> None:
    layout = layout_text("một hai ba bốn năm sáu bảy tám chín mười " * 3, 200, 1000, size=30, max_lines=2)
    assert len(layout.lines) == 2 and layout.truncated


def test_no_break_space_glues_words() -> None:
    font = get_font("regular", 40)
    width = int(font.getlength("Liên đoàn Lao")) + 2  # room for three words, not four
    glued = layout_text("Liên đoàn Lao\u00a0động tỉnh", width, 500, size=40)
    assert glued.lines[0] == "Liên đoàn" and glued.lines[1].startswith("Lao\u00a0động")
    loose = layout_text("Liên đoàn Lao động tỉnh", width, 500, size=40)  # control: a plain space may break
    assert loose.lines[0] == "Liên đoàn Lao"


def test_very_long_word_never_overflows() -> None:
    word = "https://congdoan.example.vn/tin-tuc/sang-kien-may-boc-vo-hat-dieu-ban-tu-dong-2026"
    box = [20, 20, 300, 200]
    template = make([text_element(word, box, size=40, min_size=24)], background=TRANSPARENT)
    assert inside(alpha_bbox(draw_banner(template, {}, Path("."))), box)
    layout = layout_text(word, 300, 200, size=40, min_size=24)
    assert layout.size == 24 and layout.broken_words
    assert "".join(layout.lines).rstrip("…") in word


CASES = [
    ("Sáng kiến máy bóc vỏ hạt điều bán tự động giúp tăng năng suất", {}),
    ("ỆẤỂ Ỗ Ỹ ẴẪ NGHỆ THUẬT ĐỘNG VIÊN", {"uppercase": True}),
    ("gjpqyỵ Ỵ Ộ jjj ọ ỹ", {}),
    ("Liên đoàn Lao động tỉnh Ninh Thuận", {"align": "right", "valign": "bottom"}),
    ("Tự hào trí tuệ lao động Việt Nam", {"align": "center", "valign": "middle", "weight": "extrabold"}),
    ("ĐOÀN KẾT – SÁNG TẠO – HIỆU QUẢ " * 4, {"uppercase": True, "size": 50, "min_size": 12, "valign": "middle"}),
]


@pytest.mark.parametrize(("text", "options"), CASES)
def test_no_text_pixel_outside_its_box_on_transparent_canvas(text: str, options: dict[str, Any]) -> None:
    box = [37, 41, 420, 150]
    template = make([text_element(text, box, **options)], background=TRANSPARENT)
    image = draw_banner(template, {}, Path("."))
    assert inside(alpha_bbox(image), box)


@pytest.mark.parametrize(("text", "options"), CASES)
def test_no_text_pixel_outside_its_box_on_opaque_canvas(text: str, options: dict[str, Any]) -> None:
    box = [37, 41, 420, 150]
    plain = make([], background={"color": "#123456"})
    template = make([text_element(text, box, **options)], background={"color": "#123456"})
    drawn = draw_banner(template, {}, Path("."))
    assert drawn.mode == "RGB"
    changed = ImageChops.difference(drawn, draw_banner(plain, {}, Path("."))).getbbox()
    assert inside(changed, box)


def test_layout_ink_matches_pixels() -> None:
    text = "Ệ gjọ Tự hào"
    box = [10, 10, 500, 120]
    template = make([text_element(text, box, size=60)], background=TRANSPARENT)
    bbox = alpha_bbox(draw_banner(template, {}, Path(".")))
    layout = layout_text(text, 500, 120, size=60)
    ink = layout.ink
    assert bbox is not None
    # The measured layout encloses the pixels, and is tight (within a pixel or two of anti-aliasing).
    assert ink[0] <= bbox[0] - 10 and ink[1] <= bbox[1] - 10 and ink[2] >= bbox[2] - 10 and ink[3] >= bbox[3] - 10
    assert bbox[1] - 10 - ink[1] <= 2 and ink[3] - (bbox[3] - 10) <= 2


def test_stacked_capitals_are_not_clipped() -> None:
    """Ệ Ấ Ể rise above the font's ascent; a top-aligned, tightly boxed caps line must still show them whole."""
    size = 80
    box = [30, 30, 400, round(size * 1.45)]
    template = make([text_element("ệấể", box, size=size, uppercase=True, weight="bold")], background=TRANSPARENT)
    bbox = alpha_bbox(draw_banner(template, {}, Path(".")))
    assert inside(bbox, box)
    assert bbox is not None and bbox[1] >= box[1]
    # Same ink height as the text drawn freely on a large canvas: nothing was cut off at the top or bottom.
    reference = Image.new("L", (800, 400), 0)
    ImageDraw.Draw(reference).text((50, 250), "ỆẤỂ", font=get_font("bold", size), fill=255, anchor="ls")
    ref_box = reference.getbbox()
    assert ref_box is not None
    assert bbox[3] - bbox[1] == ref_box[3] - ref_box[1]
    assert bbox[2] - bbox[0] == ref_box[2] - ref_box[0]
    # And the top of the circumflex-plus-tone really is above where a plain capital starts.
    plain = Image.new("L", (800, 400), 0)
    ImageDraw.Draw(plain).text((50, 250), "EAE", font=get_font("bold", size), fill=255, anchor="ls")
    assert ref_box[1] < plain.getbbox()[1] - size * 0.3  # type: ignore[index]


def test_box_too_small_for_min_size_still_stays_inside() -> None:
    box = [10, 10, 200, 30]  # 30 px tall cannot hold a 40 px caps line
    template = make([text_element("ỆẤỂ NGHỆ", box, size=40, uppercase=True)], background=TRANSPARENT)
    assert inside(alpha_bbox(draw_banner(template, {}, Path("."))), box)


def test_nfd_input_renders_exactly_like_nfc() -> None:
    title = "Tự hào trí tuệ lao động Việt Nam – Nghệ An, Quảng Ngãi, Đắk Lắk, ỆẤỂ"
    decomposed = unicodedata.normalize("NFD", title)
    assert decomposed != title
    template = make([text_element("{{ title }}", [10, 10, 580, 280], size=36)], background={"color": "#000000"})
    nfc_image = draw_banner(template, {"title": title}, Path("."))
    nfd_image = draw_banner(template, {"title": decomposed}, Path("."))
    assert ImageChops.difference(nfc_image, nfd_image).getbbox() is None
    assert nfc_image.getbbox() is not None  # something was drawn
    # Normalized at the boundary too (basic layout, the fallback, would misplace NFD tone marks).
    assert render_string("{{ title }}", {"title": decomposed}) == title
    assert " ".join(layout_text(decomposed, 580, 280, size=36).lines) == title


def test_uppercase_uses_caps_pitch() -> None:
    mixed = layout_text("một hai ba bốn năm sáu", 150, 600, size=40)
    caps = layout_text("một hai ba bốn năm sáu", 150, 600, size=40, uppercase=True)
    assert caps.lines[0] == caps.lines[0].upper()
    assert caps.origins[1][1] - caps.origins[0][1] == round(40 * 1.45)
    assert mixed.origins[1][1] - mixed.origins[0][1] == round(40 * 1.3)


def test_raqm_is_used_when_available() -> None:
    if not features.check_feature("raqm"):
        pytest.skip("this Pillow has no raqm")
    assert layout_engine_name() == "raqm"
    assert get_font("bold", 33).layout_engine == ImageFont.Layout.RAQM


def test_basic_layout_fallback_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(banners, "_FACES", {})
    monkeypatch.setattr(banners, "_ENGINE_WARNED", False)
    monkeypatch.setattr(banners.features, "check_feature", lambda name: False)
    with pytest.warns(RuntimeWarning, match="basic layout"):
        font = banners.get_font("regular", 21)
    assert font.layout_engine == ImageFont.Layout.BASIC


def test_fonts_are_be_vietnam_pro_and_cached() -> None:
    font = get_font("semibold", 28)
    assert font is get_font("semibold", 28)
    assert font.getname() == ("Be Vietnam Pro", "SemiBold")
    assert get_font("extrabold", 28).getname()[1] == "ExtraBold"


def test_font_fallback_when_fontpkg_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import fontpkg

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("entry points broken")

    monkeypatch.setattr(fontpkg, "path", broken)
    banners.font_path.cache_clear()
    try:
        path = banners.font_path("medium")
        assert path.name == "BeVietnamPro-Medium.ttf" and path.is_file()
    finally:
        banners.font_path.cache_clear()


# ---------------------------------------------------------------------------------------------------------------
# Progress bar

BAR = [20, 40, 500, 30]


def progress_template(**extra: Any) -> BannerTemplate:
    element = {"type": "progress", "value": "{{ metric.initiatives }}", "max": "{{ unit.target }}", "box": BAR}
    element.update({"color": "#ff0000", "background": "#0000ff"}, **extra)
    return make([element], background={"color": "#000000"})


def red_run(image: Image.Image) -> tuple[int, int]:
    """Columns of fully red and of fully blue pixels on the bar's middle row."""
    y = BAR[1] + BAR[3] // 2
    row = [image.getpixel((x, y)) for x in range(BAR[0], BAR[0] + BAR[2])]
    return sum(1 for p in row if p == (255, 0, 0)), sum(1 for p in row if p == (0, 0, 255))


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0.0), (750, 0.25), (1250, 1250 / 3000), (3000, 1.0), (3900, 1.0), (-50, 0.0)]
)
def test_progress_fill_is_proportional_and_clamped(value: int, expected: float) -> None:
    image = draw_banner(progress_template(), {"metric": {"initiatives": value}, "unit": {"target": 3000}}, Path("."))
    red, blue = red_run(image)
    assert abs(red - BAR[2] * expected) <= 2
    assert abs(blue - BAR[2] * (1 - expected)) <= 2
    assert image.getbbox() is not None
    changed = ImageChops.difference(image, Image.new("RGB", image.size, (0, 0, 0))).getbbox()
    assert inside(changed, BAR)


def test_progress_accepts_vietnamese_formatted_numbers() -> None:
    template = make(
        [
            {
                "type": "progress",
                "value": "1.500",
                "max": "3.000",
                "box": BAR,
                "color": "#ff0000",
                "background": "#0000ff",
            }
        ],
        background={"color": "#000000"},
    )
    red, _ = red_run(draw_banner(template, {}, Path(".")))
    assert abs(red - BAR[2] / 2) <= 2


def capture_label(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = banners.layout_text

    def spy(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(banners, "layout_text", spy)
    return seen


def test_progress_label_shows_vietnamese_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_label(monkeypatch)
    template = progress_template(label="{{ value | so }} / {{ max | so }} sáng kiến ({{ percent }}%)")
    image = draw_banner(template, {"metric": {"initiatives": 1250}, "unit": {"target": 3000}}, Path("."))
    assert seen == ["1.250 / 3.000 sáng kiến (42%)"]
    # The label is drawn: some pixels on the bar are neither red, blue nor anti-aliasing between them.
    y0, y1 = BAR[1], BAR[1] + BAR[3]
    pixels = [image.getpixel((x, y)) for x in range(BAR[0], BAR[0] + BAR[2]) for y in range(y0 + 5, y1 - 5)]
    assert any(p[1] > 200 for p in pixels)  # white or near-white text shows a green channel neither bar colour has


def test_progress_label_shows_real_percent_beyond_target(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_label(monkeypatch)
    template = progress_template(label="{{ value | so }} / {{ max | so }} – {{ percent }}%", label_color="#ffffff")
    image = draw_banner(template, {"metric": {"initiatives": 3900}, "unit": {"target": 3000}}, Path("."))
    assert seen == ["3.900 / 3.000 – 130%"]
    red, blue = red_run(image)
    assert blue == 0


def test_progress_label_stays_inside_the_bar() -> None:
    template = progress_template(
        label="{{ value | so }} / {{ max | so }} sáng kiến đã được công nhận trên toàn tỉnh Ninh Thuận"
    )
    image = draw_banner(template, {"metric": {"initiatives": 1250}, "unit": {"target": 3000}}, Path("."))
    changed = ImageChops.difference(image, Image.new("RGB", image.size, (0, 0, 0))).getbbox()
    assert inside(changed, BAR)


# ---------------------------------------------------------------------------------------------------------------
# Images and backgrounds


def test_logo_is_contain_fitted_and_centred(assets_root: Path) -> None:
    box = [100, 50, 100, 100]
    template = make([{"type": "image", "src": "assets/logo.png", "box": box}], background=TRANSPARENT)
    image = draw_banner(template, {}, assets_root)
    # A 200×100 logo in a 100×100 box: 100×50, vertically centred.
    assert alpha_bbox(image) == (100, 75, 200, 125)


def test_cover_fit_fills_the_box(assets_root: Path) -> None:
    box = [0, 0, 100, 100]
    template = make([{"type": "image", "src": "assets/logo.png", "box": box, "fit": "cover"}], background=TRANSPARENT)
    assert alpha_bbox(draw_banner(template, {}, assets_root)) == (0, 0, 100, 100)


def test_templated_image_source_empty_is_skipped_missing_is_an_error(assets_root: Path) -> None:
    template = make([{"type": "image", "src": "{{ image }}", "box": [0, 0, 50, 50]}], background=TRANSPARENT)
    assert alpha_bbox(draw_banner(template, {}, assets_root)) is None
    assert alpha_bbox(draw_banner(template, {"image": "assets/logo.png"}, assets_root)) is not None
    with pytest.raises(BannerError, match="khong-co.png"):
        draw_banner(template, {"image": "assets/khong-co.png"}, assets_root)


@pytest.mark.parametrize("direction", ["vertical", "horizontal", "diagonal"])
def test_gradient_runs_from_first_to_second_colour(direction: str) -> None:
    template = make([], size=(300, 200), background={"gradient": ["#ff0000", "#0000ff"], "direction": direction})
    image = draw_banner(template, {}, Path("."))
    start = image.getpixel((0, 0))
    end = image.getpixel((299, 199))
    assert start[0] > 240 and start[2] < 15 and end[2] > 240 and end[0] < 15
    if direction == "vertical":
        assert image.getpixel((299, 0)) == start
    if direction == "horizontal":
        assert image.getpixel((0, 199)) == start


def test_gradient_is_cached() -> None:
    template = make([], size=(333, 222), background={"gradient": ["#ff0000", "#0000ff"]})
    draw_banner(template, {}, Path("."))
    before = banners._gradient.cache_info().hits
    first = draw_banner(template, {}, Path("."))
    assert banners._gradient.cache_info().hits == before + 1
    first.putpixel((0, 0), (1, 2, 3))  # callers get a copy: drawing on one banner does not touch the cache
    assert draw_banner(template, {}, Path(".")).getpixel((0, 0)) != (1, 2, 3)


def test_image_background_is_cover_fitted(assets_root: Path) -> None:
    template = make([], size=(300, 300), background={"image": "assets/logo.png"})
    image = draw_banner(template, {}, assets_root)
    assert image.getpixel((0, 0))[:3] == (0, 255, 0) and image.getpixel((299, 299))[:3] == (0, 255, 0)


# ---------------------------------------------------------------------------------------------------------------
# The render cache


def cache_template() -> BannerTemplate:
    return make(
        [
            {"type": "image", "src": "assets/logo.png", "box": [10, 10, 80, 80]},
            text_element("{{ title }}", [100, 10, 480, 100], size=30),
        ],
        background={"gradient": ["#b71c1c", "#7f0000"]},
    )


def test_cache_hit_returns_same_file_without_redrawing(
    assets_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = banners._draw
    monkeypatch.setattr(banners, "_draw", lambda *args: calls.append(1) or original(*args))
    cache = tmp_path / "cache"
    first = render_banner(cache_template(), {"title": "Sáng kiến"}, assets_root, cache)
    mtime = first.stat().st_mtime_ns
    second = render_banner(cache_template(), {"title": "Sáng kiến"}, assets_root, cache)
    assert first == second and len(calls) == 1
    assert second.stat().st_mtime_ns == mtime
    assert first.suffix == ".png" and len(first.stem) == 20
    with Image.open(first) as image:
        assert image.format == "PNG" and image.size == (600, 300)
    assert sorted(p.name for p in cache.iterdir()) == [first.name]  # no temporary files left behind


def test_cache_key_follows_inputs(assets_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = render_banner(cache_template(), {"title": "Sáng kiến"}, assets_root, cache)
    assert render_banner(cache_template(), {"title": "Sáng kiến hay"}, assets_root, cache) != base
    # A context value the template never reads does not redraw it.
    assert render_banner(cache_template(), {"title": "Sáng kiến", "date": "2026-11-24"}, assets_root, cache) == base
    # NFD and NFC of the same title are the same banner.
    nfd = unicodedata.normalize("NFD", "Sáng kiến")
    assert render_banner(cache_template(), {"title": nfd}, assets_root, cache) == base


def test_cache_key_changes_when_asset_bytes_change(assets_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    logo = assets_root / "assets" / "logo.png"
    before = render_banner(cache_template(), {"title": "x"}, assets_root, cache)
    stat = logo.stat()
    Image.new("RGBA", (200, 100), (255, 0, 0, 255)).save(logo)
    os.utime(logo, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only the bytes tell
    after = render_banner(cache_template(), {"title": "x"}, assets_root, cache)
    assert after != before
    with Image.open(after) as image:
        assert image.convert("RGB").getpixel((50, 50)) == (255, 0, 0)


def test_renderer_version_is_part_of_the_key(
    assets_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    before = render_banner(cache_template(), {"title": "x"}, assets_root, cache)
    monkeypatch.setattr(banners, "RENDERER_VERSION", banners.RENDERER_VERSION + "-next")
    assert render_banner(cache_template(), {"title": "x"}, assets_root, cache) != before


def test_failed_write_leaves_no_file(assets_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # the disk fails while the file is being written
    with pytest.raises(OSError, match="disk full"):
        render_banner(cache_template(), {"title": "x"}, assets_root, cache)
    assert list(cache.iterdir()) == []
