"""Banner templates: validation, text fitting (wrap, shrink, ellipsis, never outside the box), Vietnamese shaping,
progress bars, and the render cache. Pixel tests measure what was actually drawn rather than trusting the layout."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps, ImageStat, features
from pydantic import ValidationError

import bot.banners as banners
from bot.banners import (
    BannerError,
    BannerTemplate,
    draw_banner,
    fonts,
    get_font,
    known_keys,
    layout_engine_name,
    layout_text,
    parse_number,
    render,
    render_banner,
    render_string,
    template_assets,
)
from bot.banners import draw as px
from bot.banners import layout as textlayout

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
    # As few lines as greedy wrapping needs, but balanced: no line much shorter than the others.
    greedy = textlayout._greedy_paragraph(text.split(" "), fonts.face("bold", 32), 300)
    assert len(layout.lines) == len(greedy)
    widths = [font.getlength(line) for line in layout.lines]
    greedy_widths = [font.getlength(line) for line in greedy]
    assert max(widths) - min(widths) <= max(greedy_widths) - min(greedy_widths)


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
    loose = textlayout._greedy_paragraph("Liên đoàn Lao động tỉnh".split(), fonts.face("regular", 40), width)
    assert loose[0] == "Liên đoàn Lao"  # control: without the no-break space greedy wrapping breaks there


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
    monkeypatch.setattr(fonts, "_FACES", {})
    monkeypatch.setattr(fonts, "_ENGINE_WARNED", False)
    monkeypatch.setattr(fonts.features, "check_feature", lambda name: False)
    with pytest.warns(RuntimeWarning, match="basic layout"):
        font = fonts.get_font("regular", 21)
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
    fonts.font_path.cache_clear()
    try:
        path = fonts.font_path("medium")
        assert path.name == "BeVietnamPro-Medium.ttf" and path.is_file()
    finally:
        fonts.font_path.cache_clear()


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
    original = textlayout.layout_text

    def spy(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(textlayout, "layout_text", spy)
    return seen


def test_progress_label_shows_vietnamese_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_label(monkeypatch)
    template = progress_template(label="{{ value | so }} / {{ max | so }} sáng kiến ({{ percent }}%)")
    image = draw_banner(template, {"metric": {"initiatives": 1250}, "unit": {"target": 3000}}, Path("."))
    assert seen == ["1.250 / 3.000 sáng kiến (41,7%)"]  # one rounding rule: bot.vn.phan_tram_so
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
    before = px.gradient.cache_info().hits
    first = draw_banner(template, {}, Path("."))
    assert px.gradient.cache_info().hits == before + 1
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
    original = render.draw
    monkeypatch.setattr(render, "draw", lambda *args: calls.append(1) or original(*args))
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
    monkeypatch.setattr(render, "RENDERER_VERSION", render.RENDERER_VERSION + "-next")
    assert render_banner(cache_template(), {"title": "x"}, assets_root, cache) != before


def test_failed_write_leaves_no_file(assets_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # the disk fails while the file is being written
    with pytest.raises(OSError, match="disk full"):
        render_banner(cache_template(), {"title": "x"}, assets_root, cache)
    assert list(cache.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# Balanced line breaks (issue 13): no orphan, no break inside a name where another break will do.

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts" / "banners"  # gitignored: look at them after a run

TITLES = [
    "15 tác giả sáng kiến tiêu biểu tỉnh Ninh Thuận năm 2026",
    "Máy bóc vỏ hạt điều bán tự động của người thợ bảo trì Khu công nghiệp Thành Hải",
    "Chủ tịch Hồ Chí Minh: “Óc chịu khó nghĩ, tay chịu khó làm, thì nhất định có sáng kiến”",
    "Thuận Nam về đích sớm – cách một Liên đoàn Lao động huyện “gieo” phong trào sáng kiến",
    "Cô giáo Trường THPT Tháp Chàm và bộ công cụ soạn giáo án số dùng chung",
    "Bác Ái – những khó khăn khi triển khai phong trào sáng kiến và kiến nghị",
    "Tổng kết phong trào thi đua lao động sáng tạo của Liên đoàn Lao động tỉnh Ninh Thuận",
]


@pytest.mark.parametrize("width", [420, 560, 700, 900, 1120])
@pytest.mark.parametrize("title", TITLES)
def test_no_single_word_alone_on_the_last_line(title: str, width: int) -> None:
    layout = layout_text(title, width, 600, size=48, min_size=48, weight="bold")
    assert not layout.truncated and " ".join(layout.lines) == title
    if len(layout.lines) > 1:
        assert " " in layout.lines[-1], layout.lines
    font = get_font("bold", layout.size)
    assert all(font.getlength(line) <= width for line in layout.lines)


def greedy_lines(text: str, width: int, weight: str = "bold", size: int = 48) -> list[str]:
    return textlayout._greedy_paragraph(text.split(" "), fonts.face(weight, size), width)


def test_greedy_wrapping_would_split_the_province_and_balancing_does_not() -> None:
    title = "Tổng kết phong trào thi đua lao động sáng tạo của Liên đoàn Lao động tỉnh Ninh Thuận"
    font = get_font("bold", 48)
    # A width where greedy leaves "… tỉnh Ninh" / "Thuận": the case the issue saw.
    width = next(
        w for w in range(300, 1200, 4) if greedy_lines(title, w)[-1] == "Thuận" and greedy_lines(title, w)[-2].endswith("Ninh")
    )
    layout = layout_text(title, width, 600, size=48, weight="bold")
    assert not any(line.endswith("Ninh") for line in layout.lines), layout.lines
    assert layout.lines[-1] != "Thuận" and len(layout.lines) == len(greedy_lines(title, width))
    assert all(font.getlength(line) <= width for line in layout.lines)


@pytest.mark.parametrize("width", [380, 460, 540, 620, 760, 900])
def test_names_are_not_broken_where_avoidable(width: int) -> None:
    for title, name in [
        (TITLES[0], "Ninh Thuận"),
        (TITLES[2], "Hồ Chí Minh"),
        (TITLES[1], "Thành Hải"),
        (TITLES[3], "Thuận Nam"),
    ]:
        layout = layout_text(title, width, 800, size=40, weight="bold")
        assert " ".join(layout.lines) == title
        assert any(name in line for line in layout.lines), (name, layout.lines)


def test_known_unit_names_are_kept_together() -> None:
    unit = "Công đoàn các Khu công nghiệp tỉnh Ninh Thuận"
    title = f"Tuyên dương 10 nữ đoàn viên của {unit} có sáng kiến tiêu biểu"
    font = get_font("bold", 40)
    width = int(font.getlength(unit)) + 40  # the unit name fits on a line
    plain = layout_text(title, width, 800, size=40, weight="bold")
    kept = layout_text(title, width, 800, size=40, weight="bold", keep=(unit,))
    assert any(unit in line for line in kept.lines), kept.lines
    assert len(kept.lines) == len(plain.lines)
    # through a template: the unit's name in the context is enough
    template = make([text_element("{{ title }}", [0, 0, width, 400], size=40, weight="bold")], size=(width, 400))
    seen: list[tuple[str, ...]] = []
    original = textlayout.layout_text

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        seen.append(result.lines)
        return result

    textlayout.layout_text = spy  # type: ignore[assignment]
    try:
        draw_banner(template, {"title": title, "unit": {"name": unit}}, Path("."))
    finally:
        textlayout.layout_text = original  # type: ignore[assignment]
    assert seen and any(unit in line for line in seen[0])


def test_a_number_stays_with_what_it_counts() -> None:
    title = "Tuyên dương 15 tác giả có sáng kiến tiêu biểu trong năm"
    for width in range(300, 900, 20):
        layout = layout_text(title, width, 800, size=40, weight="bold")
        assert not any(line.endswith(" 15") or line == "15" for line in layout.lines[:-1]), layout.lines


# ---------------------------------------------------------------------------------------------------------------
# Cut warnings


LONG_TITLE = (
    "Sáng kiến máy bóc vỏ hạt điều bán tự động giúp tăng năng suất gấp ba lần tại Công ty Cổ phần Chế biến Nông "
    "sản Ninh Thuận, tiết kiệm hàng trăm triệu đồng mỗi năm và bảo vệ đôi tay của hàng trăm công nhân lao động"
)


def test_fit_warnings_name_the_cut_and_the_fix() -> None:
    template = make([text_element("{{ title }}", [0, 0, 600, 120], size=40, min_size=30, max_lines=2)])
    assert banners.fit_warnings(template, {"title": "Chiếc cào muối có bánh lăn"}) == []
    warnings = banners.fit_warnings(template, {"title": LONG_TITLE})
    assert len(warnings) == 1
    message = warnings[0]
    assert "tiêu đề (title) quá dài, bị cắt thành “" in message and "…”" in message
    assert " | fix: rút tiêu đề (title) còn khoảng " in message


def test_fit_warnings_for_a_broken_word_and_for_a_dropped_text() -> None:
    template = make([text_element("{{ title }}", [0, 0, 200, 290], size=40, min_size=40)])
    broken = banners.fit_warnings(template, {"title": "https://congdoan.example.vn/sang-kien-2026"})
    assert broken and "bị ngắt giữa chừng" in broken[0]
    tiny = make([text_element("{{ title }}", [0, 0, 30, 4], size=40)])
    dropped = banners.fit_warnings(tiny, {"title": "Sáng kiến"})
    assert dropped and "không vừa ô 30×4" in dropped[0]


def test_check_and_preview_warn_about_a_cut_title(sample: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli

    story = sample / "content/sang-kien/cao-muoi-cai-tien.md"
    text = story.read_text(encoding="utf-8")
    story.write_text(text.replace("title: Chiếc cào muối có bánh lăn của người thợ muối Tri Hải", f"title: {LONG_TITLE}"),
                     encoding="utf-8")
    result = CliRunner().invoke(cli, ["--workspace", str(sample), "check"])
    assert result.exit_code == 0, result.output
    assert "⚠ 1 banner có chữ không vừa khung:" in result.output
    assert "content/sang-kien/cao-muoi-cai-tien.md: mẫu banner anh-tran: tiêu đề (title) quá dài" in result.output
    out = tmp_path / "xem-truoc"
    result = CliRunner().invoke(
        cli, ["--workspace", str(sample), "preview", "--from", "2026-11-23T07:00", "--days", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "1 banner có chữ không vừa khung" in html and "cao-muoi-cai-tien.md" in html


def test_the_sample_titles_all_fit(sample: Path) -> None:
    from bot.load import load_campaign

    assert banners.campaign_fit_warnings(load_campaign(sample)) == []


# ---------------------------------------------------------------------------------------------------------------
# Photo layouts, chosen per kind (kinds:) or per story (banner:)


def test_kinds_are_validated_with_a_suggestion() -> None:
    with pytest.raises(ValidationError) as info:
        BannerTemplate.model_validate({"id": "t", "size": [10, 10], "kinds": ["initiativ_story"]})
    assert "có phải ý bạn là 'initiative_story'?" in str(info.value)


def test_shade_needs_a_colour_or_a_gradient() -> None:
    with pytest.raises(ValidationError) as info:
        make([{"type": "shade", "box": [0, 0, 10, 10]}])
    assert "cần đúng một trong color hoặc gradient" in str(info.value)
    template = make([{"type": "shade", "box": [0, 0, 600, 300], "gradient": ["#00000000", "#000000ff"]}],
                    background={"color": "#ffffff"})
    image = draw_banner(template, {}, Path("."))
    assert image.getpixel((300, 1))[0] > 240 and image.getpixel((300, 298))[0] < 15


def test_the_sample_varies_its_layouts_by_kind(sample: Path) -> None:
    from bot.load import KINDS, load_campaign
    from bot.posts import banner_id
    from bot.store.models import ContentItem

    c = load_campaign(sample)
    chosen = {kind: banner_id(ContentItem(id="x", title="t", kind=kind, unit_id="ldld-tinh"), c) for kind in KINDS}
    assert len(set(chosen.values())) >= 6, chosen
    assert max(list(chosen.values()).count(t) for t in set(chosen.values())) <= 2, chosen
    assert chosen["initiative_story"] == "anh-tran" and chosen["good_practice"] == "anh-ben-chu"
    assert all(banners.uses_photo(c.banners[t]) for t in ("anh-tran", "anh-ben-chu"))
    assert not banners.uses_photo(c.banners["story"])


def photo_story(c: Any, story_id: str) -> Any:
    from bot.store.models import ContentItem

    s = next(s for s in c.stories if s.id == story_id)
    return ContentItem(id=s.id, title=s.front.title, kind=s.front.kind, unit_id=s.front.unit, banner=s.front.banner,
                       image=s.images[0] if s.images else None, images=list(s.images))


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return sum(i * n for i, n in enumerate(diff.histogram())) / (diff.width * diff.height)


@pytest.mark.parametrize(
    ("story_id", "template_id", "photo_box", "title_box"),
    [
        # full-bleed: the clear middle of the photo shows as is; the title sits on the dark lower part
        ("sang-kien/cao-muoi-cai-tien", "anh-tran", (200, 180, 1000, 250), (40, 330, 1160, 540)),
        ("sang-kien/may-boc-vo-hat-dieu", "anh-tran", (200, 180, 1000, 250), (40, 330, 1160, 540)),
        # photo beside a text panel: the left part is the photo, the title on the panel
        ("sang-kien/giao-an-so", "anh-ben-chu", (0, 0, 620, 630), (666, 150, 1166, 490)),
    ],
)
def test_photo_layouts_on_the_sample_photos(
    sample: Path, story_id: str, template_id: str, photo_box: tuple[int, int, int, int],
    title_box: tuple[int, int, int, int],
) -> None:
    from bot.load import load_campaign
    from bot.posts import banner_context, banner_id, images_for

    c = load_campaign(sample)
    item = photo_story(c, story_id)
    assert banner_id(item, c) == template_id
    context = banner_context(item, c)
    image = draw_banner(c.banners[template_id], context, sample / "banners")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTEFACTS / f"{story_id.replace('/', '_')}.png")

    photo = Image.open(sample / item.image).convert("RGB")
    if template_id == "anh-tran":
        expected = ImageOps.fit(photo, (1200, 630)).crop(photo_box)
    else:
        expected = ImageOps.fit(photo, (620, 630)).crop(photo_box)
    assert mean_difference(image.crop(photo_box), expected) < 3, "the photo is drawn, unshaded, where it belongs"
    # the title is drawn in white over the photo's darkened part (or the panel)
    title = image.crop(title_box).convert("L")
    assert sum(title.histogram()[245:]) > 2000
    assert ImageStat.Stat(image.crop((0, 560, 1200, 630)).convert("L")).mean[0] < 90, "the foot is dark"
    # the post carries the banner and then the photo itself
    posted = images_for(item, c)
    assert len(posted) == 2 and posted[1] == sample / item.image and posted[0].suffix == ".png"


def test_photo_layout_without_a_photo_uses_the_campaign_background(sample: Path) -> None:
    from bot.load import load_campaign
    from bot.posts import banner_context, banner_id, images_for

    c = load_campaign(sample)
    item = photo_story(c, "sang-kien/xep-hang-kham-benh")
    assert not item.image and banner_id(item, c) == "anh-tran"
    image = draw_banner(c.banners["anh-tran"], banner_context(item, c), sample / "banners")
    image.save(ARTEFACTS / "sang-kien_xep-hang-kham-benh.png")
    background = ImageOps.fit(Image.open(sample / "banners/assets/nen-sang-kien.jpg").convert("RGB"), (1200, 630))
    box = (200, 180, 1000, 250)
    assert mean_difference(image.crop(box), background.crop(box)) < 3
    assert len(images_for(item, c)) == 1


def test_balancing_by_word_advances_chooses_what_exact_measuring_would() -> None:
    """Balancing measures n² candidate lines from per-word advances (fast); the choice must be the one that
    measuring every line with the shaper gives."""
    face = fonts.face("bold", 40)
    compared = 0
    for title in TITLES:
        words = title.split()
        for width in range(300, 1200, 53):
            count = len(greedy_lines(title, width, size=40))
            if count < 2:
                continue
            glue = textlayout._glue(words, (), False)
            fast = textlayout._best_lines(words, count, face, width, glue, float(width) ** 2, False)
            exact = textlayout._best_lines(words, count, face, width, glue, float(width) ** 2, True)
            assert fast is not None and exact is not None and fast[0] == exact[0], (title, width)
            compared += 1
    assert compared > 50
