"""Banner templates (banners/*.yaml) and their rendering with Pillow.

A template is a fixed canvas (size and background) with boxes on it: images (logos, photos), texts that wrap and
shrink to fit their box, and a progress bar bound to a metric. Texts are Jinja2 templates rendered against a context
that the planner builds for a story or a milestone. Communications staff write these files, so validation is strict
(unknown keys, bad colours and broken Jinja are errors at load time, not surprises at posting time) and rendering
never lets text spill out of its box.

Public API:

* ``BannerTemplate`` — the pydantic model of the ``banner:`` mapping; every error location is a real path in the
  file (no union tags), messages are Vietnamese with " | fix: " hints; ``template_assets(template)`` lists the asset
  files it needs (relative to ``banners/``); ``known_keys(loc, data)`` lists the keys valid where a typo was found.
* ``draw_banner(template, context, assets_root)`` — the pure drawing, returns a PIL image.
* ``render_banner(template, context, assets_root, cache_dir)`` — draws once per distinct input and returns a PNG path.
* ``layout_text(...)`` — the text fitting used by text boxes, exposed for tests and previews.
* ``render_string(source, context)`` — the same sandboxed Jinja2 (with the ``so`` and ``ngay`` filters) for other texts.
* ``layout_engine_name()`` / ``layout_engine_info()`` — which text shaper is in use, for the check command.

Output format: PNG. Measured on the sample 1200×630 banner (bench/bench_banners.py, a loaded 2-core box): PNG
about 19 ms and 77 KB; JPEG q92 with 4:4:4 chroma about 3 ms but 196 KB, with ringing around thin strokes and
diacritics. A banner is encoded once and then served from the cache to every channel, so the encode time hardly
matters while PNG is both crisper and smaller for flat colours and text, and keeps transparency when a template has it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import threading
import unicodedata
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import PIL
from jinja2 import ChainableUndefined, Template, TemplateError, Undefined, meta
from jinja2.sandbox import SandboxedEnvironment
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps, ImageStat, features
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bot.files import atomic_write
from bot.vn import nfc, ngay, ngay_gio, phan_tram_so, so, thu

__all__ = [
    "RENDERER_VERSION",
    "BannerError",
    "BannerTemplate",
    "ColorBackground",
    "GradientBackground",
    "ImageBackground",
    "ImageElement",
    "ProgressElement",
    "TextElement",
    "TextLayout",
    "draw_banner",
    "get_font",
    "known_keys",
    "layout_engine_info",
    "layout_engine_name",
    "layout_text",
    "parse_number",
    "render_banner",
    "render_string",
    "template_assets",
]

log = logging.getLogger(__name__)

#: Part of every cache key: bump it whenever a change here alters the pixels, so cached banners are redrawn.
RENDERER_VERSION = "2"

#: zlib level for PNG. Measured on the sample banner: level 6 (Pillow's default) about 19 ms and 77 KB, level 1 about
#: 13 ms and 87 KB. A banner is encoded once and then uploaded to every channel, often over slow provincial links,
#: so the smaller file wins.
PNG_COMPRESS_LEVEL = 6

FONT_FAMILY = "Be Vietnam Pro"
WEIGHTS: dict[str, int] = {"regular": 400, "medium": 500, "semibold": 600, "bold": 700, "extrabold": 800}
_WEIGHT_FILES = {
    "regular": "Regular",
    "medium": "Medium",
    "semibold": "SemiBold",
    "bold": "Bold",
    "extrabold": "ExtraBold",
}

#: Line pitch in em. Mixed case needs 1.3; stacked capitals (Ệ, Ấ, Ể) rise about 0.17 em above the font's ascent and
#: the dot below hangs under the baseline, so an all-caps block needs 1.45 for lines not to touch.
PITCH_MIXED = 1.3
PITCH_CAPS = 1.45
ELLIPSIS = "…"
_SMALLEST_SIZE = 4  # below this nothing is legible; a text that does not fit even here is dropped with a warning


class BannerError(Exception):
    """A banner cannot be drawn (missing asset, unreadable image, a template expression that fails at render time)."""


# --------------------------------------------------------------------------------------------------------------------
# Jinja2: one sandboxed environment for validation and rendering, so what validates is exactly what renders.


def _blank_if_undefined(func: Any) -> Any:
    """Filters receive Undefined for missing values; a missing number or date should print nothing, not crash."""

    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Undefined) or value is None:
            return ""
        return func(value, *args, **kwargs)

    wrapper.__name__ = getattr(func, "__name__", "filter")
    wrapper.__doc__ = func.__doc__
    return wrapper


def _as_date(value: Any) -> Any:
    """Context values that went through JSON arrive as ISO strings; accept them where a date is expected."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def _ngay_filter(value: Any) -> str:
    parsed = _as_date(value)
    return ngay(parsed) if isinstance(parsed, date) else str(value)


def _ngay_gio_filter(value: Any) -> str:
    parsed = _as_date(value)
    return ngay_gio(parsed) if isinstance(parsed, datetime) else str(value)


def _thu_filter(value: Any) -> str:
    parsed = _as_date(value)
    return thu(parsed) if isinstance(parsed, date) else str(value)


def _finalize(value: Any) -> Any:
    """``{{ none_value }}`` prints nothing rather than the word "None" on a banner."""
    return "" if value is None else value


# ChainableUndefined: ``{{ unit.name }}`` with no unit renders empty instead of raising, as the brief asks
# (StrictUndefined off); the sandbox keeps templates written by staff away from Python internals.
_ENV = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, finalize=_finalize)
_ENV.filters.update(
    so=_blank_if_undefined(so),
    ngay=_blank_if_undefined(_ngay_filter),
    ngay_gio=_blank_if_undefined(_ngay_gio_filter),
    thu=_blank_if_undefined(_thu_filter),
)
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%|\{#).)*)\}\}\s*$", re.S)


@lru_cache(maxsize=2048)
def _compile(source: str) -> Template:
    """Compiling costs far more than rendering; templates repeat across units and renders, so cache by source."""
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def _compile_expression(expr: str) -> Any:
    return _ENV.compile_expression(expr, undefined_to_none=True)


def _is_templated(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


def render_string(source: str, context: Mapping[str, Any]) -> str:
    """Render a Jinja2 text (banner text, milestone message) with the ``so``/``ngay`` filters; NFC out.

    Missing values render empty. Runtime errors (a failing filter, a sandbox violation) become ``BannerError``.
    """
    if not _is_templated(source):
        return nfc(source)
    try:
        return nfc(_compile(source).render(dict(context)))
    except TemplateError as exc:
        raise BannerError(f"không hiển thị được mẫu chữ {source!r}: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as exc:
        raise BannerError(f"không hiển thị được mẫu chữ {source!r}: {type(exc).__name__}: {exc}") from exc


def _evaluate_number(source: str, context: Mapping[str, Any]) -> float | None:
    """A progress ``value``/``max``: a single ``{{ expr }}`` is evaluated natively (no string round trip, so 1.125
    stays 1.125); anything else is rendered to text and parsed, accepting Vietnamese formatting (1.250, 12,5)."""
    match = _SINGLE_EXPRESSION.match(source)
    if match:
        try:
            value = _compile_expression(match.group("expr"))(**dict(context))
        except TemplateError as exc:
            raise BannerError(f"không tính được {source!r}: {exc}") from exc
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise BannerError(f"không tính được {source!r}: {type(exc).__name__}: {exc}") from exc
        if isinstance(value, bool) or value is None or isinstance(value, Undefined):
            return None
        if isinstance(value, int | float):
            return float(value) if math.isfinite(value) else None
        return parse_number(str(value))
    return parse_number(render_string(source, context))


_VN_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_VN_DECIMAL = re.compile(r"[+-]?\d+,\d+")
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: Any) -> float | None:
    """Parse "1.250", "1.250,5", "12,5", "1250", "1250.5", "130%" → float; None when it is not a number.

    Vietnamese writes dots for thousands and a comma for decimals, so "1.250" is one thousand two hundred and fifty
    (what ``so`` prints); a dot followed by other than exactly groups of three digits is a decimal point.
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(text) else None
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", nfc(str(text))).rstrip("%")
    if not cleaned:
        return None
    if _VN_THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif _VN_DECIMAL.fullmatch(cleaned):
        cleaned = cleaned.replace(",", ".")
    elif not _PLAIN.fullmatch(cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------------------------------
# The model. Every model forbids unknown keys: a typo in a template must be an error, not a silently ignored key.

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def _check_colour(value: Any) -> str:
    if value is None:
        raise ValueError(
            'thiếu mã màu | fix: ghi màu trong dấu ngoặc kép, ví dụ "#ffffff" '
            "(trong YAML, dấu # không có ngoặc kép bắt đầu một chú thích nên màu bị bỏ mất)"
        )
    if not isinstance(value, str) or not _COLOUR.fullmatch(value):
        raise ValueError(
            f'{value!r} không phải mã màu | fix: ghi #rgb, #rrggbb hoặc #rrggbbaa trong dấu ngoặc kép, ví dụ "#ffeb3b"'
        )
    return value.lower()


def _check_template(value: Any) -> str:
    """Texts are Jinja2; compile now so a syntax error or an unknown filter is reported at load time."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("phải là một chuỗi chữ | fix: đặt nội dung trong dấu ngoặc kép")
    text = nfc(str(value))
    if _is_templated(text):
        try:
            _compile(text)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (dòng {line} của đoạn chữ)" if line and "\n" in text else ""
            raise ValueError(
                f"lỗi mẫu Jinja2{where}: {exc.message or exc} | fix: kiểm tra các cặp {{{{ }}}} và tên bộ lọc "
                "(có sẵn: so, ngay, ngay_gio, thu và các bộ lọc chuẩn của Jinja2)"
            ) from None
    return text


def _check_box(value: Any) -> Any:
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise ValueError("ô (box) phải là [x, y, rộng, cao]: bốn số nguyên | fix: ví dụ [40, 170, 1120, 280]")
    return value


def _check_asset_path(value: Any) -> str:
    """A static path must stay inside banners/ (no absolute path, no ..); a Jinja path is resolved at render time."""
    text = _check_template(value)
    if _is_templated(text):
        return text
    pure = PurePosixPath(text.replace("\\", "/"))
    if not text or pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", text):
        raise ValueError(
            f"{text!r} phải là đường dẫn bên trong thư mục banners | fix: đặt tệp trong banners/assets/ và ghi assets/logo.png"
        )
    return text


Colour = Annotated[str, BeforeValidator(_check_colour)]
JinjaText = Annotated[str, BeforeValidator(_check_template)]
AssetPath = Annotated[str, BeforeValidator(_check_asset_path)]
Coordinate = Annotated[int, Strict(), Field(ge=0)]
Length = Annotated[int, Strict(), Field(ge=1)]
Box = Annotated[tuple[Coordinate, Coordinate, Length, Length], BeforeValidator(_check_box)]
FontSize = Annotated[int, Strict(), Field(ge=_SMALLEST_SIZE, le=512)]
Weight = Literal["regular", "medium", "semibold", "bold", "extrabold"]


class _Model(BaseModel):
    # frozen: templates are shared between renders and used as cache keys (hashable).
    model_config = ConfigDict(extra="forbid", frozen=True)


class GradientBackground(_Model):
    gradient: tuple[Colour, Colour]
    direction: Literal["vertical", "horizontal", "diagonal"] = "vertical"


class ColorBackground(_Model):
    color: Colour


class ImageBackground(_Model):
    image: AssetPath


_BACKGROUND_MODELS: dict[str, type[_Model]] = {
    "gradient": GradientBackground,
    "color": ColorBackground,
    "image": ImageBackground,
}


def _custom(kind: str, message: str, loc: tuple[Any, ...], value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def _relocated(exc: ValidationError, prefix: tuple[Any, ...]) -> list[InitErrorDetails]:
    """A nested model's errors re-raised under ``prefix``, type, message and context intact."""
    return [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"], error.get("ctx")),
            loc=prefix + tuple(error["loc"]),
            input=error["input"],
        )
        for error in exc.errors(include_url=False)
    ]


def _validate_choice(value: Any, model: type[_Model], prefix: tuple[Any, ...], errors: list[InitErrorDetails]) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors.extend(_relocated(exc, prefix))
        return None


# The two unions (background kinds, element types) are dispatched by hand rather than as pydantic tagged unions:
# a tagged union puts its tag into error locations (("elements", 0, "text", "size")), and since "text", "image" and
# "gradient" are also key names, the loader would point at the wrong YAML line. Dispatching here keeps every error
# location a real path in the file: ("elements", 0, "size").


def _background_before(value: Any) -> Any:
    if isinstance(value, GradientBackground | ColorBackground | ImageBackground):
        return value
    kinds = [kind for kind in _BACKGROUND_MODELS if isinstance(value, Mapping) and kind in value]
    if len(kinds) != 1:
        message = (
            "nền (background) phải có đúng một trong: gradient, color, image | fix: "
            'ví dụ {gradient: ["#b71c1c", "#7f0000"], direction: vertical} hoặc {color: "#ffffff"}'
        )
        raise ValidationError.from_exception_data("background", [_custom("background_kind", message, (), value)])
    errors: list[InitErrorDetails] = []
    result = _validate_choice(value, _BACKGROUND_MODELS[kinds[0]], (), errors)
    if errors:
        raise ValidationError.from_exception_data("background", errors)
    return result


Background = Annotated[GradientBackground | ColorBackground | ImageBackground, BeforeValidator(_background_before)]


class ImageElement(_Model):
    """A logo or photo, fitted into its box (contain: whole image, centred; cover: fills the box, cropped)."""

    type: Literal["image"]
    src: AssetPath
    box: Box
    fit: Literal["contain", "cover"] = "contain"


class TextElement(_Model):
    type: Literal["text"]
    text: JinjaText
    box: Box
    size: FontSize
    min_size: FontSize | None = None
    max_lines: Annotated[int, Strict(), Field(ge=1)] | None = None
    weight: Weight = "regular"
    color: Colour = "#000000"
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    uppercase: bool = False

    @field_validator("min_size")
    @classmethod
    def _min_not_above_size(cls, value: int | None, info: ValidationInfo) -> int | None:
        size = info.data.get("size")
        if value is not None and size is not None and value > size:
            raise ValueError(f"min_size ({value}) lớn hơn size ({size}) | fix: đặt min_size nhỏ hơn hoặc bằng size")
        return value


class ProgressElement(_Model):
    """A bar filled to value/max (clamped to the box); the label shows the real numbers, e.g. 130%."""

    type: Literal["progress"]
    value: JinjaText
    max: JinjaText
    box: Box
    color: Colour
    background: Colour | None = None
    label: JinjaText | None = None
    label_color: Colour | None = None


class ShadeElement(_Model):
    """A translucent colour or gradient laid over what is below (a photo), so that text on it stays readable:
    e.g. ``gradient: ["#00000000", "#000000d0"]`` darkens the lower part of a full-bleed photo under the title."""

    type: Literal["shade"]
    box: Box
    color: Colour | None = None
    gradient: tuple[Colour, Colour] | None = None
    direction: Literal["vertical", "horizontal", "diagonal"] = "vertical"

    @model_validator(mode="after")
    def _one_fill(self) -> ShadeElement:
        if (self.color is None) == (self.gradient is None):
            raise ValueError(
                'lớp phủ (shade) cần đúng một trong color hoặc gradient | fix: ví dụ gradient: ["#00000000", "#000000d0"]'
            )
        return self


_ELEMENT_MODELS: dict[str, type[_Model]] = {
    "image": ImageElement,
    "text": TextElement,
    "progress": ProgressElement,
    "shade": ShadeElement,
}


def _elements_before(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        message = "elements phải là một danh sách | fix: mỗi phần tử một dòng bắt đầu bằng '- {type: ...}'"
        raise ValidationError.from_exception_data("elements", [_custom("list_type", message, (), value)])
    result: list[Any] = []
    errors: list[InitErrorDetails] = []
    for index, item in enumerate(value):
        if isinstance(item, ImageElement | TextElement | ProgressElement | ShadeElement):
            result.append(item)
            continue
        kind = item.get("type") if isinstance(item, Mapping) else None
        model = _ELEMENT_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            if not isinstance(item, Mapping):
                message = 'mỗi phần tử phải là một bảng khóa | fix: ví dụ {type: text, text: "…", box: [40, 40, 600, 60], size: 30}'
                errors.append(_custom("element_type", message, (index,), item))
            elif "type" not in item:
                errors.append(
                    _custom("missing", "thiếu khóa type | fix: thêm type: image, text, progress hoặc shade", (index,), item)
                )
            else:
                message = f"loại phần tử không có: {kind!r} | fix: dùng một trong: image, text, progress, shade"
                errors.append(_custom("element_type", message, (index, "type"), kind))
            continue
        element = _validate_choice(item, model, (index,), errors)
        if element is not None:
            result.append(element)
    if errors:
        raise ValidationError.from_exception_data("elements", errors)
    return tuple(result)


Element = ImageElement | TextElement | ProgressElement | ShadeElement


def _check_kind(value: Any) -> str:
    """A kind in ``kinds:`` must be a story kind (a typo would silently leave that kind on the default template)."""
    from difflib import get_close_matches

    from bot.load import KINDS

    if isinstance(value, str) and value in KINDS:
        return value
    close = get_close_matches(str(value), KINDS, n=1)
    hint = f"có phải ý bạn là '{close[0]}'? " if close else ""
    raise ValueError(f"loại bài không có: {value!r} | fix: {hint}dùng một trong: {', '.join(KINDS)}")


class BannerTemplate(_Model):
    """One banners/*.yaml file's ``banner:`` mapping. Boxes are [x, y, width, height] in pixels of ``size``."""

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")]
    size: tuple[Annotated[int, Strict(), Field(ge=1, le=4096)], Annotated[int, Strict(), Field(ge=1, le=4096)]]
    background: Background = Field(default_factory=lambda: ColorBackground(color="#ffffff"))
    #: The kinds of story (``kind:`` in the front matter) that get this template when the story names none, so
    #: that the staff choose a layout per kind here and per story with ``banner:`` in the story.
    kinds: tuple[Annotated[str, BeforeValidator(_check_kind)], ...] = ()
    elements: Annotated[tuple[Element, ...], BeforeValidator(_elements_before)] = ()

    @field_validator("elements")
    @classmethod
    def _boxes_inside_canvas(cls, elements: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        """A box reaching past the canvas is a typo (the text would be cut); report it at that element's box."""
        size = info.data.get("size")
        if not size:
            return elements
        width, height = size
        errors = []
        for index, element in enumerate(elements):
            x, y, w, h = element.box
            if x + w > width or y + h > height:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "box_outside_banner",
                            "ô [{x}, {y}, {w}, {h}] vượt ra ngoài ảnh {width}×{height} (tới điểm {right}, {bottom}) "
                            "| fix: giảm x, y hoặc rộng, cao để x + rộng ≤ {width} và y + cao ≤ {height}",
                            {
                                "x": x,
                                "y": y,
                                "w": w,
                                "h": h,
                                "right": x + w,
                                "bottom": y + h,
                                "width": width,
                                "height": height,
                            },
                        ),
                        loc=(index, "box"),
                        input=list(element.box),
                    )
                )
        if errors:
            raise ValidationError.from_exception_data("BannerTemplate", errors)
        return elements


def known_keys(loc: tuple[Any, ...] | list[Any], data: Any = None) -> list[str]:
    """The keys allowed in the mapping that holds the key at error location ``loc`` (relative to ``banner:``), so
    the loader can name the closest one for an ``extra_forbidden`` error. ``data`` (the ``banner:`` mapping) tells
    which element type or background kind that mapping is; without it, the keys of every kind are merged."""
    loc = tuple(loc)
    if len(loc) <= 1:
        return list(BannerTemplate.model_fields)
    if loc[0] == "background":
        background = data.get("background") if isinstance(data, Mapping) else None
        kinds = [k for k in _BACKGROUND_MODELS if isinstance(background, Mapping) and k in background]
        models = [_BACKGROUND_MODELS[k] for k in kinds] or list(_BACKGROUND_MODELS.values())
    elif loc[0] == "elements" and len(loc) >= 3 and isinstance(loc[1], int):
        elements = data.get("elements") if isinstance(data, Mapping) else None
        item = elements[loc[1]] if isinstance(elements, list) and loc[1] < len(elements) else None
        kind = item.get("type") if isinstance(item, Mapping) else None
        models = [_ELEMENT_MODELS[kind]] if kind in _ELEMENT_MODELS else list(_ELEMENT_MODELS.values())
    else:
        return []
    return list(dict.fromkeys(key for model in models for key in model.model_fields))


def template_assets(template: BannerTemplate) -> list[str]:
    """Asset files the template always needs, relative to banners/ (image sources written as Jinja are left out:
    they are known only at render time, and an empty one simply skips its element)."""
    found: list[str] = []
    if isinstance(template.background, ImageBackground) and not _is_templated(template.background.image):
        found.append(template.background.image)
    for element in template.elements:
        if isinstance(element, ImageElement) and not _is_templated(element.src):
            found.append(element.src)
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------------------------------------------------
# Fonts: Be Vietnam Pro from its PyPI package, never a system font (a server's fonts may lack Vietnamese).


def _requested_engine() -> ImageFont.Layout:
    return ImageFont.Layout.RAQM if features.check_feature("raqm") else ImageFont.Layout.BASIC


@cache
def font_path(weight: str) -> Path:
    """The TTF for a weight name. ``fontpkg`` is young (0.2.x): if it fails, glob the font package's files."""
    try:
        import fontpkg

        path = Path(fontpkg.path(FONT_FAMILY, weight=WEIGHTS[weight]))
        if path.is_file():
            return path
        log.warning("fontpkg trả về %s nhưng tệp không tồn tại; dùng trực tiếp các tệp của gói phông", path)
    except Exception as exc:  # noqa: BLE001 - any failure of the helper falls back to the files
        log.warning("fontpkg lỗi (%s); dùng trực tiếp các tệp của gói phông", exc)
    try:
        import fontpkg_be_vietnam_pro
    except ImportError as exc:
        raise BannerError("chưa cài gói phông fontpkg-be-vietnam-pro") from exc
    candidates = sorted((Path(fontpkg_be_vietnam_pro.ROOT) / "files").glob(f"BeVietnamPro-{_WEIGHT_FILES[weight]}.ttf"))
    if not candidates:
        raise BannerError(f"không tìm thấy phông Be Vietnam Pro {weight} trong {fontpkg_be_vietnam_pro.ROOT}/files")
    return candidates[0]


# Combining marks left after NFC (rare outside Vietnamese): such lines are measured whole, not per character.
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u0e31\u0e34-\u0e3a"
    "\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)


class _Face:
    """A font at one size plus per-character measurements.

    ``getbbox`` on a whole line costs about 0.3 ms with raqm, and fitting a title tries several sizes and wrappings;
    a character's box costs the same once and is then a dict lookup. For NFC text (every Vietnamese letter is one
    precomposed glyph) a line's ink is exactly the union of its glyphs placed along the advance, so per-character
    boxes plus one ``getlength`` per line give exact bounds. Lines with combining marks (which raqm positions
    relative to their base) are measured whole.
    """

    def __init__(self, font: ImageFont.FreeTypeFont) -> None:
        self.font = font
        self.ascent, self.descent = font.getmetrics()
        self._glyphs: dict[str, tuple[int, int, int, int, float]] = {}

    def glyph(self, char: str) -> tuple[int, int, int, int, float]:
        box = self._glyphs.get(char)
        if box is None:
            left, top, right, bottom = self.font.getbbox(char, anchor="ls")
            box = (left, top, right, bottom, self.font.getlength(char))
            self._glyphs[char] = box
        return box

    def advance(self, text: str) -> float:
        return self.font.getlength(text) if text else 0.0

    def measure(self, line: str) -> tuple[int, int, int, int]:
        """Ink box (left, top, right, bottom) of ``line`` drawn with anchor "ls" at (0, 0); right includes advance."""
        if not line:
            return (0, 0, 0, 0)
        if _MARKS.search(line):
            left, top, right, bottom = self.font.getbbox(line, anchor="ls")
            return (min(0, left), top, max(right, math.ceil(self.advance(line))), bottom)
        glyphs = [self.glyph(char) for char in set(line)]
        top = min(g[1] for g in glyphs)
        bottom = max(g[3] for g in glyphs)
        first = self.glyph(line[0])
        last = self.glyph(line[-1])
        total = self.advance(line)
        right = max(math.ceil(total), math.ceil(total - last[4] + last[2]))
        return (min(0, first[0]), top, right, bottom)

    def width(self, line: str) -> int:
        """Ink width only (what wrapping asks, hundreds of times per title): one ``getlength``, no vertical work."""
        if not line:
            return 0
        if _MARKS.search(line):
            left, _, right, _ = self.measure(line)
            return right - left
        first = self.glyph(line[0])
        last = self.glyph(line[-1])
        total = self.advance(line)
        return max(math.ceil(total), math.ceil(total - last[4] + last[2])) - min(0, first[0])


_FACES: dict[tuple[str, int], _Face] = {}
_FACES_LOCK = threading.Lock()
_ENGINE_WARNED = False


def _face(weight: str, size: int) -> _Face:
    key = (weight, size)
    face = _FACES.get(key)
    if face is None:
        with _FACES_LOCK:
            face = _FACES.get(key)
            if face is None:
                face = _Face(_load_font(weight, size))
                _FACES[key] = face
    return face


def _load_font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    global _ENGINE_WARNED
    engine = _requested_engine()
    if engine != ImageFont.Layout.RAQM and not _ENGINE_WARNED:
        _ENGINE_WARNED = True
        message = (
            "Pillow ở máy này không có raqm (HarfBuzz) để dàn chữ (đã cài libfribidi0 chưa?); dùng basic layout: "
            "không căn chỉnh khoảng chữ, chậm hơn, dấu rời sẽ lệch (mọi chữ đã được chuẩn hóa NFC)"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        log.warning(message)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own fallback warning is replaced by ours above
        return ImageFont.truetype(str(font_path(weight)), size, layout_engine=engine)


def get_font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    """The cached Be Vietnam Pro font object for a weight name and pixel size."""
    return _face(weight, size).font


@cache
def layout_engine_name() -> str:
    """Return "raqm" when texts are shaped by HarfBuzz (correct Vietnamese, kerning), else "basic"."""
    return "raqm" if get_font("regular", 16).layout_engine == ImageFont.Layout.RAQM else "basic"


def layout_engine_info() -> str:
    """One line for the check command: engine and library versions."""
    if layout_engine_name() == "raqm":
        parts = [f"raqm {features.version('raqm')}"]
        for lib in ("harfbuzz", "fribidi"):
            version = features.version(lib)
            if version:
                parts.append(f"{lib} {version}")
        return ", ".join(parts) + f" (Pillow {PIL.__version__})"
    return f"basic (Pillow {PIL.__version__}; raqm unavailable)"


# --------------------------------------------------------------------------------------------------------------------
# Text layout.


@dataclass(frozen=True)
class TextLayout:
    """Where each line goes. ``origins`` are the left-baseline anchors ("ls") relative to the box's top-left corner;
    ``ink`` is the bounding box of everything drawn, relative to the box, and always lies inside (0, 0, w, h)."""

    size: int
    weight: str
    lines: tuple[str, ...]
    origins: tuple[tuple[int, int], ...]
    ink: tuple[int, int, int, int]
    pitch: float
    truncated: bool = False
    broken_words: bool = False


@dataclass
class _Fit:
    size: int
    lines: list[str]
    truncated: bool = False
    broken: bool = False


def _clusters(word: str) -> list[str]:
    """Split into user-perceived characters closely enough for breaking: a base plus its combining marks."""
    clusters: list[str] = []
    for char in word:
        if clusters and unicodedata.combining(char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _is_caps(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and not any(char.islower() for char in letters)


def _prepare(text: str, uppercase: bool) -> list[list[str]]:
    """NFC, optional upper case, then paragraphs (hard line breaks) of words. Only U+0020 separates words, so a
    no-break space (U+00A0) glues "1.000\u00a0sáng kiến" or "TP.\u00a0Phan Rang" together on one line."""
    text = nfc(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if uppercase:
        text = text.upper()
    paragraphs = [[word for word in para.split(" ") if word] for para in text.split("\n")]
    while paragraphs and not paragraphs[0]:
        paragraphs.pop(0)
    while paragraphs and not paragraphs[-1]:
        paragraphs.pop()
    return paragraphs


def _break_word(word: str, face: _Face, width: int) -> list[str] | None:
    """Greedy split of an over-long word (a URL, a hashtag) into pieces that fit; None if one character does not."""
    pieces: list[str] = []
    current = ""
    for cluster in _clusters(word):
        candidate = current + cluster
        if face.width(candidate) <= width:
            current = candidate
            continue
        if not current:
            return None
        pieces.append(current)
        current = cluster
        if face.width(current) > width:
            return None
    if current:
        pieces.append(current)
    return pieces


def _wrap(
    paragraphs: list[list[str]], face: _Face, width: int, allow_break: bool, limit: float
) -> tuple[list[str], bool] | None:
    """Greedy word wrap. None when a word is wider than the box and breaking is not allowed (the caller shrinks
    first), or when more than ``limit`` lines would be needed (stop early: that size is already lost)."""
    lines: list[str] = []
    broken = False
    for words in paragraphs:
        if not words:
            lines.append("")
            continue
        current: str | None = None
        for word in words:
            candidate = word if current is None else f"{current} {word}"
            if face.width(candidate) <= width:
                current = candidate
                continue
            if current is not None:
                lines.append(current)
                current = None
            if face.width(word) <= width:
                current = word
            else:
                if not allow_break:
                    return None
                pieces = _break_word(word, face, width)
                if pieces is None:
                    return None
                broken = True
                lines.extend(pieces[:-1])
                current = pieces[-1]
            if len(lines) > limit:
                return None
        if current is not None:
            lines.append(current)
        if len(lines) > limit:
            return None
    return lines, broken


def _block(face: _Face, lines: list[str], pitch: float) -> tuple[list[int], int, int, list[tuple[int, int, int, int]]]:
    """Baselines (first at 0), block top and bottom (nominal ascent/descent or ink, whichever reaches further)."""
    baselines = [round(index * pitch) for index in range(len(lines))]
    boxes = [face.measure(line) for line in lines]
    top = min([-face.ascent] + [base + box[1] for base, box in zip(baselines, boxes, strict=True)])
    bottom = max([baselines[-1] + face.descent] + [base + box[3] for base, box in zip(baselines, boxes, strict=True)])
    return baselines, top, bottom, boxes


def _fits(face: _Face, lines: list[str], pitch: float, width: int, height: int) -> bool:
    baselines, top, bottom, boxes = _block(face, lines, pitch)
    return bottom - top <= height and all(box[2] - box[0] <= width for box in boxes)


def _ellipsize(line: str, face: _Face, width: int) -> str:
    """End a cut line with "…": drop whole words first, then characters, and trailing punctuation before the dots."""
    text = line
    while True:
        candidate = text.rstrip(" ,.;:–—-") + ELLIPSIS
        if face.width(candidate) <= width or not text:
            return candidate if face.width(candidate) <= width else ""
        if " " in text.strip():
            text = text.rstrip().rsplit(" ", 1)[0]
        else:
            text = "".join(_clusters(text)[:-1])


def layout_text(
    text: str,
    width: int,
    height: int,
    *,
    size: int,
    min_size: int | None = None,
    max_lines: int | None = None,
    weight: str = "regular",
    align: str = "left",
    valign: str = "top",
    uppercase: bool = False,
    keep: tuple[str, ...] = (),
) -> TextLayout:
    """Fit ``text`` into a ``width``×``height`` box.

    Line breaks are balanced once the size is known (see :func:`_balance`): the same number of lines as a greedy
    wrap, of even lengths, never one word alone on the last line, and no break inside a name (``keep``: unit and
    author names; runs of capitalised words such as "Ninh Thuận" or "Hồ Chí Minh") where another break will do.

    The largest size from ``size`` down to ``min_size`` at which the words wrap into at most ``max_lines`` lines
    (default: as many as the height allows) and the block's ink fits the box. Sizes are searched by bisection
    (fitting is monotonic in size, and each try wraps the whole text), so a 64→36 shrink costs 5 tries, not 28.
    A word wider than the box first makes the text shrink; at ``min_size`` it is broken between characters.
    Only when even ``min_size`` cannot hold everything is the last line cut with "…". If not even one line fits at
    ``min_size`` (a box too small for the font), smaller sizes are tried, with a warning, rather than overflow.

    Results are memoized: the same title or unit name recurs on the banners of many units and channels.
    """
    return _layout_cached(text, width, height, size, min_size, max_lines, weight, align, valign, uppercase, keep)


@lru_cache(maxsize=4096)
def _layout_cached(
    text: str,
    width: int,
    height: int,
    size: int,
    min_size: int | None,
    max_lines: int | None,
    weight: str,
    align: str,
    valign: str,
    uppercase: bool,
    keep: tuple[str, ...] = (),
) -> TextLayout:
    if weight not in WEIGHTS:
        raise ValueError(f"unknown weight {weight!r}")
    paragraphs = _prepare(text, uppercase)
    if not paragraphs or width < 1 or height < 1:
        return TextLayout(size, weight, (), (), (0, 0, 0, 0), 0.0)
    pitch_em = PITCH_CAPS if _is_caps(" ".join(" ".join(words) for words in paragraphs)) else PITCH_MIXED
    smallest = min(min_size or size, size)

    def line_limit(face: _Face, pitch: float) -> float:
        nominal = face.ascent + face.descent
        by_height = 0 if height < nominal else math.floor((height - nominal) / pitch) + 1
        return min(by_height, max_lines) if max_lines else by_height

    def attempt(font_size: int, allow_break: bool) -> _Fit | None:
        face = _face(weight, font_size)
        pitch = font_size * pitch_em
        limit = line_limit(face, pitch)
        if limit < 1:
            return None
        wrapped = _wrap(paragraphs, face, width, allow_break, limit)
        if wrapped is None:
            return None
        lines, broken = wrapped
        if not lines or not _fits(face, lines, pitch, width, height):
            return None
        return _Fit(font_size, lines, broken=broken)

    def truncate(font_size: int) -> _Fit | None:
        face = _face(weight, font_size)
        pitch = font_size * pitch_em
        wrapped = _wrap(paragraphs, face, width, True, math.inf)
        if wrapped is None:
            return None
        lines, broken = wrapped
        most = int(min(line_limit(face, pitch), len(lines)))
        for count in range(most, 0, -1):
            kept = lines[:count]
            if count < len(lines):
                kept[-1] = _ellipsize(kept[-1], face, width)
                if not kept[-1]:
                    continue
            if _fits(face, kept, pitch, width, height):
                return _Fit(font_size, kept, truncated=count < len(lines), broken=broken)
        return None

    fit = attempt(size, False)
    if fit is None and smallest < size:
        low, high = smallest, size - 1
        while low <= high:
            middle = (low + high) // 2
            found = attempt(middle, False)
            if found:
                fit, low = found, middle + 1
            else:
                high = middle - 1
    if fit is None:
        fit = attempt(smallest, True)
    if fit is None:
        fit = truncate(smallest)
    if fit is None:
        for font_size in range(smallest - 1, _SMALLEST_SIZE - 1, -1):
            fit = truncate(font_size)
            if fit is not None:
                log.warning(
                    "chữ %r phải thu xuống cỡ %d, nhỏ hơn min_size %d, mới vừa ô %dx%d",
                    text[:40],
                    font_size,
                    smallest,
                    width,
                    height,
                )
                break
    if fit is None:
        log.warning("chữ %r không vừa ô %dx%d ở bất kỳ cỡ nào; bỏ qua", text[:40], width, height)
        return TextLayout(size, weight, (), (), (0, 0, 0, 0), 0.0, truncated=True)
    if not fit.truncated and not fit.broken and len(fit.lines) > 1:
        face = _face(weight, fit.size)
        pitch = fit.size * pitch_em
        spare = int(line_limit(face, pitch)) - len(fit.lines)
        balanced = _balance(paragraphs, fit.lines, face, width, keep, uppercase, spare)
        if balanced != fit.lines and _fits(face, balanced, pitch, width, height):
            fit.lines = balanced
    return _place(fit, weight, pitch_em, width, height, align, valign)


# Line balancing. Costs are in units of width²: a line's cost is its slack squared (so the total is least when the
# lines are even), and each rule below costs more than any amount of slack, in this order of importance.
_ORPHAN = 8.0  # one word alone on the last line
_NAME = 4.0  # a break inside a run of capitalised words: a place or a person ("Ninh / Thuận", "Hồ Chí / Minh")
_KNOWN = 2.0  # a break inside a known name (the unit's, an author's) that is not already a capitalised run
_NUMBER = 1.0  # a number parted from what it counts ("15 / tác giả")
_QUOTED = 0.5  # a break inside a short quoted name ("“Tháng cao / điểm sáng kiến”"), when a line can hold it
_DASH = 1.0  # a line that begins with a dash (the dash stays at the end of the line before)
_CLAUSE = -0.1  # a small bonus for a break after a comma, a colon or a dash, where a reader pauses anyway
_OPENING = "\"'“‘«([„"
_CLOSING = "\"'”’»)].,;:!?…"
_DASHES = {"–", "—", "-"}


def _bare(word: str) -> str:
    return word.strip(_OPENING + _CLOSING).casefold()


def _capitalised(word: str) -> bool:
    letters = word.lstrip(_OPENING)
    return bool(letters) and letters[0].isupper()


def _glue(words: list[str], keep: tuple[str, ...], all_caps: bool) -> list[float]:
    """The cost of breaking after each word (the last entry is unused): see the constants above."""
    glue = [0.0] * len(words)
    for i in range(len(words) - 1):
        left, right = words[i], words[i + 1]
        ends_clause = left[-1:] in _CLOSING and left[-1:] not in "\"'”’»)" or left in _DASHES
        if not all_caps and not ends_clause and _capitalised(left) and _capitalised(right):
            glue[i] += _NAME
        if re.fullmatch(r"[\d.,%]+", left.strip(_OPENING)) and right not in _DASHES and not ends_clause:
            glue[i] += _NUMBER
        if right in _DASHES:
            glue[i] += _DASH
        if left[-1:] in ",:;" or left in _DASHES:
            glue[i] += _CLAUSE
    start: int | None = None
    for i, word in enumerate(words):
        if word.startswith("“") and "”" not in word:
            start = i
        elif start is not None and "”" in word:
            if i - start < 6:  # a name or a motto; a long quotation may break anywhere
                for k in range(start, i):
                    glue[k] += _QUOTED
            start = None
    bare = [_bare(word) for word in words]
    for phrase in keep:
        parts = [_bare(part) for part in nfc(phrase).split() if _bare(part)]
        if len(parts) < 2:
            continue
        for start in range(len(words) - len(parts) + 1):
            if bare[start : start + len(parts)] == parts:
                for i in range(start, start + len(parts) - 1):
                    glue[i] = max(glue[i], _KNOWN)
    return glue


def _balance(
    paragraphs: list[list[str]],
    greedy: list[str],
    face: _Face,
    width: int,
    keep: tuple[str, ...],
    all_caps: bool,
    spare: int = 0,
) -> list[str]:
    """The greedy lines rearranged: per paragraph, the same number of lines as greedy wrapping, chosen by dynamic
    programming for the least cost (even lengths; the orphan, name, number and dash rules). Greedy leaves
    "tỉnh Ninh / Thuận" or one word alone under two full lines; a reader sees the title as a block instead.
    When no arrangement with that many lines avoids breaking a rule and the box has room (``spare`` lines), one
    more line is used. Falls back to the greedy lines if the paragraphs do not match them (never expected)."""
    out: list[str] = []
    at = 0
    for words in paragraphs:
        if not words:
            out.append("")
            at += 1
            continue
        count = 0
        joined = " ".join(words)
        taken = ""
        while at + count < len(greedy) and taken != joined:
            taken = greedy[at + count] if not taken else f"{taken} {greedy[at + count]}"
            count += 1
        if taken != joined:
            return greedy
        at += count
        lines, cost = _balance_paragraph(words, count, face, width, keep, all_caps)
        if spare > 0 and cost >= float(width) ** 2 and count < len(words):
            more, more_cost = _balance_paragraph(words, count + 1, face, width, keep, all_caps)
            if more_cost < cost:
                lines, spare = more, spare - 1
        out.extend(lines)
    return out if at == len(greedy) else greedy


def _balance_paragraph(
    words: list[str], count: int, face: _Face, width: int, keep: tuple[str, ...], all_caps: bool
) -> tuple[list[str], float]:
    """The best ``count`` lines for one paragraph and their cost (see the constants above)."""
    if count <= 1:
        return [" ".join(words)], 0.0
    glue = _glue(words, keep, all_caps)
    unit = float(width) ** 2
    exact = bool(_MARKS.search(" ".join(words)))
    lines = _best_lines(words, count, face, width, glue, unit, exact)
    if lines is not None and not exact and any(face.width(line) > width for line in lines[0]):
        lines = _best_lines(words, count, face, width, glue, unit, True)  # kerning made a line too wide
    if lines is None:
        return _greedy_paragraph(words, face, width), math.inf
    return lines


def _line_width(words: list[str], i: int, j: int, face: _Face, advances: list[float], space: float) -> int:
    """The ink width of words[i:j] on one line from per-word advances (as ``_Face.width`` computes it, without
    shaping the line): n² lines are measured while balancing, one ``getlength`` each would double the layout time.
    Kerning across a space is not counted, so the chosen lines are measured again exactly."""
    total = sum(advances[i:j]) + space * (j - i - 1)
    first = face.glyph(words[i][0])
    last = face.glyph(words[j - 1][-1])
    return max(math.ceil(total), math.ceil(total - last[4] + last[2])) - min(0, first[0])


def _best_lines(
    words: list[str], count: int, face: _Face, width: int, glue: list[float], unit: float, exact: bool
) -> tuple[list[str], float] | None:
    n = len(words)
    advances = [face.advance(word) for word in words]
    space = face.advance(" ")
    # cost[i][j]: the line words[i:j] (slack²), None when it does not fit; the width grows with j, so stop there.
    cost: list[dict[int, float]] = [{} for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n + 1):
            if exact:
                used = face.width(" ".join(words[i:j]))
            else:
                used = _line_width(words, i, j, face, advances, space)
            if used > width:
                break
            cost[i][j] = float(width - used) ** 2
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        for j in range(1, n + 1):
            for i in range(j - 1, -1, -1):
                line = cost[i].get(j)
                if line is None:
                    break  # a longer line (smaller i) does not fit either
                if best[k - 1][i] == inf:
                    continue
                total = best[k - 1][i] + line
                if j < n:
                    total += glue[j - 1] * unit
                if k == count and j == n and j - i == 1 and n > 1:
                    total += _ORPHAN * unit
                if total < best[k][j]:
                    best[k][j], back[k][j] = total, i
    if best[count][n] == inf:
        return None
    lines: list[str] = []
    j = n
    for k in range(count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1], best[count][n]


def _greedy_paragraph(words: list[str], face: _Face, width: int) -> list[str]:
    wrapped = _wrap([words], face, width, False, math.inf)
    return wrapped[0] if wrapped else [" ".join(words)]


def _place(fit: _Fit, weight: str, pitch_em: float, width: int, height: int, align: str, valign: str) -> TextLayout:
    face = _face(weight, fit.size)
    pitch = fit.size * pitch_em
    baselines, top, bottom, boxes = _block(face, fit.lines, pitch)
    slack = height - (bottom - top)
    offset = {"top": 0, "middle": slack // 2, "bottom": slack}[valign]
    first_baseline = offset - top
    origins = []
    lefts, rights = [], []
    for base, (left, _, right, _) in zip(baselines, boxes, strict=True):
        if align == "center":
            x = (width - (right - left)) // 2 - left
        elif align == "right":
            x = width - right
        else:
            x = -left
        origins.append((x, first_baseline + base))
        lefts.append(x + left)
        rights.append(x + right)
    ink = (min(lefts), offset, max(rights), offset + bottom - top)
    return TextLayout(fit.size, weight, tuple(fit.lines), tuple(origins), ink, pitch, fit.truncated, fit.broken)


# --------------------------------------------------------------------------------------------------------------------
# Pixels.


def rgba(colour: str) -> tuple[int, int, int, int]:
    """'#rgb', '#rrggbb' or '#rrggbbaa' → (r, g, b, a)."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    if len(digits) == 6:
        digits += "ff"
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), int(digits[6:8], 16))


class _LRU:
    """A small bounded cache for decoded and resized images (keyed by content hash, so edits are picked up)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_FITTED = _LRU(64)


@dataclass(frozen=True)
class _Asset:
    path: Path
    data: bytes
    digest: str


def _open_image(asset: _Asset, target: tuple[int, int]) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(asset.data))
        if image.format == "JPEG":
            image.draft("RGB", target)  # decode big photos at a reduced scale: much faster, still ≥ target size
        image = ImageOps.exif_transpose(image)
        return image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BannerError(f"không đọc được ảnh {asset.path}: {exc}") from exc


def _fitted(asset: _Asset, width: int, height: int, fit: str) -> tuple[Image.Image, int, int]:
    """The image scaled into a box: ``contain`` keeps it whole and centred (logos), ``cover`` fills and crops."""
    key = (asset.digest, width, height, fit)
    cached = _FITTED.get(key)
    if cached is not None:
        return cached
    image = _open_image(asset, (width, height))
    if fit == "cover":
        result = (ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS), 0, 0)
    else:
        scale = min(width / image.width, height / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        resized = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
        result = (resized, (width - size[0]) // 2, (height - size[1]) // 2)
    _FITTED.put(key, result)
    return result


@lru_cache(maxsize=16)
def _gradient_mask(width: int, height: int, direction: str) -> Image.Image:
    ramp = Image.linear_gradient("L")  # 256×256, black at the top to white at the bottom
    vertical = ramp.resize((width, height), Image.Resampling.BILINEAR)
    if direction == "vertical":
        return vertical
    horizontal = ramp.transpose(Image.Transpose.TRANSPOSE)  # black at the left
    horizontal = horizontal.resize((width, height), Image.Resampling.BILINEAR)
    if direction == "horizontal":
        return horizontal
    return ImageChops.add(vertical, horizontal, scale=2.0)  # diagonal: top-left → bottom-right


@lru_cache(maxsize=16)
def _gradient(width: int, height: int, start: str, end: str, direction: str) -> Image.Image:
    """Building a full-size gradient costs about 9 ms, as much as the rest of a banner: cache it (callers copy)."""
    first, second = rgba(start), rgba(end)
    mode = "RGB" if first[3] == 255 and second[3] == 255 else "RGBA"
    one = Image.new(mode, (width, height), first[: len(mode)])
    two = Image.new(mode, (width, height), second[: len(mode)])
    return Image.composite(two, one, _gradient_mask(width, height, direction))


def _background(template: BannerTemplate, image_asset: _Asset | None) -> Image.Image:
    """The canvas: RGB when the background is opaque (the usual case: cheaper to draw on and to encode), RGBA
    when it has transparency (then every element is alpha-composited so edges stay clean)."""
    width, height = template.size
    background = template.background
    if isinstance(background, ColorBackground):
        colour = rgba(background.color)
        if colour[3] == 255:
            return Image.new("RGB", (width, height), colour[:3])
        return Image.new("RGBA", (width, height), colour)
    if isinstance(background, GradientBackground):
        return _gradient(width, height, *background.gradient, background.direction).copy()
    assert image_asset is not None, "an image background is collected with the other assets"
    image, _, _ = _fitted(image_asset, width, height, "cover")
    if image.getextrema()[3][0] == 255:
        return image.convert("RGB")
    return image.copy()


def _composite(canvas: Image.Image, layer: Image.Image, xy: tuple[int, int]) -> None:
    if canvas.mode == "RGBA":
        canvas.alpha_composite(layer, dest=xy)
    else:
        canvas.paste(layer, xy, layer)


def _paint(
    target: Image.Image, mask: Image.Image, colour: tuple[int, int, int, int], xy: tuple[int, int] = (0, 0)
) -> None:
    """Composite a solid colour through an 8-bit mask (anti-aliased text or shapes) with correct alpha."""
    alpha = mask if colour[3] == 255 else mask.point(lambda value: value * colour[3] // 255)
    solid = Image.new("RGBA", mask.size, colour[:3] + (255,))
    solid.putalpha(alpha)
    _composite(target, solid, xy)


def keep_phrases(context: Mapping[str, Any]) -> tuple[str, ...]:
    """Names that a line break should not split: the unit's name and short name, and the ``names`` the caller
    passes (every unit of the campaign, the story's authors). Sorted, so that they can be part of a cache key."""
    found: set[str] = set()
    unit = context.get("unit")
    if isinstance(unit, Mapping):
        found.update(str(unit.get(key) or "") for key in ("name", "short_name"))
    names = context.get("names")
    if isinstance(names, list | tuple | set | frozenset):
        found.update(str(name) for name in names if name)
    return tuple(sorted(nfc(name).strip() for name in found if name and " " in str(name).strip()))


def _text_layout(element: TextElement, text: str, keep: tuple[str, ...]) -> TextLayout:
    _, _, width, height = element.box
    return layout_text(
        text,
        width,
        height,
        size=element.size,
        min_size=element.min_size,
        max_lines=element.max_lines,
        weight=element.weight,
        align=element.align,
        valign=element.valign,
        uppercase=element.uppercase,
        keep=keep,
    )


def _draw_text(canvas: Image.Image, element: TextElement, context: Mapping[str, Any]) -> None:
    text = render_string(element.text, context)
    if not text.strip():
        return
    x, y, width, height = element.box
    layout = _text_layout(element, text, keep_phrases(context))
    if not layout.lines:
        return
    font = get_font(layout.weight, layout.size)
    colour = rgba(element.color)
    if canvas.mode == "RGB":
        # Opaque canvas: draw straight on it; the "RGBA" draw mode blends a translucent colour correctly.
        draw = ImageDraw.Draw(canvas, "RGBA")
        for line, (dx, dy) in zip(layout.lines, layout.origins, strict=True):
            draw.text((x + dx, y + dy), line, font=font, fill=colour, anchor="ls")
        return
    # Transparent canvas: draw a mask over the box plus a margin (so a layout error would show, not be clipped).
    margin = layout.size
    left, top = max(0, x - margin), max(0, y - margin)
    right, bottom = min(canvas.width, x + width + margin), min(canvas.height, y + height + margin)
    mask = Image.new("L", (right - left, bottom - top), 0)
    draw = ImageDraw.Draw(mask)
    for line, (dx, dy) in zip(layout.lines, layout.origins, strict=True):
        draw.text((x + dx - left, y + dy - top), line, font=font, fill=255, anchor="ls")
    _paint(canvas, mask, colour, (left, top))


@lru_cache(maxsize=32)
def _pill(width: int, height: int) -> Image.Image:
    """An anti-aliased rounded bar mask (Pillow's rounded_rectangle has jagged corners: draw 4× and reduce)."""
    scale = 4
    big = Image.new("L", (width * scale, height * scale), 0)
    radius = min(width, height) * scale / 2
    ImageDraw.Draw(big).rounded_rectangle((0, 0, width * scale - 1, height * scale - 1), radius=radius, fill=255)
    return big.reduce(scale)


def _fill_mask(track: Image.Image, filled: int) -> Image.Image:
    """The filled part as a shorter pill: the track's left part plus its right cap moved to the fill's end."""
    width, height = track.size
    mask = Image.new("L", (width, height), 0)
    cap = min((min(width, height) + 1) // 2, width)
    if filled >= width:
        return track
    if filled <= cap:
        mask.paste(track.crop((0, 0, filled, height)), (0, 0))
        return mask
    mask.paste(track.crop((0, 0, filled - cap, height)), (0, 0))
    mask.paste(track.crop((width - cap, 0, width, height)), (filled - cap, 0))
    return mask


def _luminance(colour: tuple[int, ...]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour[0]) + 0.7152 * channel(colour[1]) + 0.0722 * channel(colour[2])


def _contrasting(colour: tuple[int, ...]) -> tuple[int, int, int, int]:
    """White or near-black, whichever reads better on ``colour`` (WCAG contrast ratio)."""
    lum = _luminance(colour)
    dark = (27, 27, 27, 255)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (_luminance(dark) + 0.05)
    return (255, 255, 255, 255) if on_white >= on_dark else dark


def _over(top: tuple[int, int, int, int], below: tuple[float, ...]) -> tuple[int, int, int]:
    alpha = top[3] / 255
    return tuple(round(top[i] * alpha + below[i] * (1 - alpha)) for i in range(3))  # type: ignore[return-value]


def _number(value: float) -> int | float:
    """Integral values as int, so ``{{ value }}`` prints 1250 and not 1250.0."""
    return int(value) if value.is_integer() else value


def _draw_progress(canvas: Image.Image, element: ProgressElement, context: Mapping[str, Any]) -> None:
    x, y, width, height = element.box
    value = _evaluate_number(element.value, context)
    maximum = _evaluate_number(element.max, context)
    if value is None or maximum is None:
        log.warning("thanh tiến độ: value %r / max %r không phải số; vẽ thanh rỗng", element.value, element.max)
    value = value or 0.0
    maximum = maximum or 0.0
    ratio = value / maximum if maximum > 0 else 0.0
    filled = round(width * min(1.0, max(0.0, ratio)))
    fill_colour = rgba(element.color)
    track_colour = rgba(element.background) if element.background else fill_colour[:3] + (round(fill_colour[3] * 0.25),)

    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    track = _pill(width, height)
    _paint(layer, track, track_colour)
    if filled > 0:
        _paint(layer, _fill_mask(track, filled), fill_colour)

    if element.label:
        # The caller's percent (a milestone's "108,8") wins, so the banner and the post say the same number.
        given = context.get("percent")
        percent = given if given not in (None, "") else phan_tram_so(ratio * 100)
        label_context = {**context, "value": _number(value), "max": _number(maximum), "percent": percent}
        label = render_string(element.label, label_context)
        pad = min(height // 2, width // 8)
        layout = layout_text(
            label,
            width - 2 * pad,
            height,
            size=max(_SMALLEST_SIZE, round(height * 0.5)),
            min_size=max(_SMALLEST_SIZE, round(height * 0.3)),
            max_lines=1,
            weight="semibold",
            align="center",
            valign="middle",
        )
        if layout.lines:
            mask = Image.new("L", (width, height), 0)
            font = get_font(layout.weight, layout.size)
            draw = ImageDraw.Draw(mask)
            for line, (dx, dy) in zip(layout.lines, layout.origins, strict=True):
                draw.text((pad + dx, dy), line, font=font, fill=255, anchor="ls")
            if element.label_color:
                _paint(layer, mask, rgba(element.label_color))
            else:
                # Two tones, so the label reads both on the fill and on the track (whatever the background).
                under = ImageStat.Stat(canvas.crop((x, y, x + width, y + height)).convert("RGB")).mean
                on_fill = _contrasting(_over(fill_colour, under))
                on_track = _contrasting(_over(track_colour, under))
                over_fill = mask.copy()
                ImageDraw.Draw(over_fill).rectangle((filled, 0, width, height), fill=0)
                over_track = ImageChops.subtract(mask, over_fill)
                _paint(layer, over_fill, on_fill)
                _paint(layer, over_track, on_track)
    _composite(canvas, layer, (x, y))


def _draw_shade(canvas: Image.Image, element: ShadeElement) -> None:
    x, y, width, height = element.box
    if element.gradient is not None:
        start, end = element.gradient
        layer = _gradient(width, height, start, end, element.direction).convert("RGBA")
    else:
        layer = Image.new("RGBA", (width, height), rgba(element.color or "#00000000"))
    _composite(canvas, layer, (x, y))


def _draw_image(canvas: Image.Image, element: ImageElement, asset: _Asset) -> None:
    x, y, width, height = element.box
    image, dx, dy = _fitted(asset, width, height, element.fit)
    _composite(canvas, image, (x + dx, y + dy))


def _collect_assets(
    template: BannerTemplate, context: Mapping[str, Any], assets_root: Path
) -> tuple[dict[str, _Asset], dict[int, str]]:
    """Every file this render reads, with its bytes and SHA-256 (the bytes are both hashed for the cache key and
    decoded, so the file is read once). Returns assets by source and the source chosen for each image element."""
    root = Path(assets_root)
    sources: dict[int, str] = {}
    wanted: list[tuple[str, Path]] = []
    if isinstance(template.background, ImageBackground):
        source = render_string(template.background.image, context).strip()
        wanted.append((source, root / source))
        sources[-1] = source
    for index, element in enumerate(template.elements):
        if isinstance(element, ImageElement):
            source = render_string(element.src, context).strip()
            if not source:
                continue  # an optional photo that this story does not have
            sources[index] = source
            wanted.append((source, root / source))  # an absolute path from the context stays absolute
    assets: dict[str, _Asset] = {}
    for source, path in wanted:
        if source in assets:
            continue
        try:
            from bot.images import banner_bytes

            data = banner_bytes(path)  # a large logo or photo reduced once and cached (bot.images)
        except OSError as exc:
            raise BannerError(f"mẫu banner {template.id}: không đọc được ảnh {path}: {exc.strerror or exc}") from exc
        assets[source] = _Asset(path, data, hashlib.sha256(data).hexdigest())
    return assets, sources


def _draw(
    template: BannerTemplate, context: Mapping[str, Any], assets: dict[str, _Asset], sources: dict[int, str]
) -> Image.Image:
    canvas = _background(template, assets[sources[-1]] if -1 in sources else None)
    for index, element in enumerate(template.elements):
        try:
            if isinstance(element, TextElement):
                _draw_text(canvas, element, context)
            elif isinstance(element, ProgressElement):
                _draw_progress(canvas, element, context)
            elif isinstance(element, ShadeElement):
                _draw_shade(canvas, element)
            elif index in sources:
                _draw_image(canvas, element, assets[sources[index]])
        except BannerError as exc:
            raise BannerError(f"mẫu banner {template.id}, phần tử thứ {index + 1} ({element.type}): {exc}") from exc
    return canvas


def draw_banner(template: BannerTemplate, context: Mapping[str, Any], assets_root: Path) -> Image.Image:
    """Draw the banner (no cache, no file). Returns an RGB image, or RGBA when the background has transparency.

    ``assets_root`` is the banners/ folder; image sources are relative to it (a Jinja source that renders to an
    absolute path, such as a story's photo passed in the context, is used as is; one that renders empty is skipped).
    """
    assets, sources = _collect_assets(template, context, Path(assets_root))
    return _draw(template, context, assets, sources)


# --------------------------------------------------------------------------------------------------------------------
# Cached rendering to files.


def _plain(value: Any) -> Any:
    """JSON-ready copy of a context: str keys (so keys sort), sets in a stable order; the rest via default=str."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=str)
    return value


@lru_cache(maxsize=256)
def _used_names(template: BannerTemplate) -> frozenset[str]:
    """Top-level context names the template's expressions read. Only these enter the cache key, so a context that
    carries e.g. today's date does not redraw a banner that never shows it."""
    names: set[str] = set()
    sources: list[str] = []
    if isinstance(template.background, ImageBackground):
        sources.append(template.background.image)
    for element in template.elements:
        if isinstance(element, TextElement):
            sources.append(element.text)
        elif isinstance(element, ImageElement):
            sources.append(element.src)
        elif isinstance(element, ProgressElement):
            sources.extend([element.value, element.max, element.label or ""])
    for source in sources:
        if _is_templated(source):
            names |= meta.find_undeclared_variables(_ENV.parse(source))
    return frozenset(names)


try:
    from importlib.metadata import version as _dist_version

    _FONT_VERSION = _dist_version("fontpkg-be-vietnam-pro")
except Exception:  # noqa: BLE001 - only a cache-key ingredient
    _FONT_VERSION = "unknown"


def banner_key(template: BannerTemplate, context: Mapping[str, Any], assets: Mapping[str, _Asset]) -> str:
    """SHA-256 of everything that decides the pixels: renderer version, Pillow/font/engine, template, the context
    values it reads, and the bytes of each asset (an edited logo under the same name gets a new banner)."""
    used = _used_names(template)
    payload = {
        "renderer": RENDERER_VERSION,
        "pillow": PIL.__version__,
        "font": _FONT_VERSION,
        "engine": layout_engine_name(),
        "template": template.model_dump(mode="json"),
        "context": _plain({key: value for key, value in context.items() if key in used}),
        "keep": list(keep_phrases(context)),
        "assets": {source: asset.digest for source, asset in assets.items()},
    }
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(nfc(blob).encode("utf-8")).hexdigest()


def render_banner(template: BannerTemplate, context: Mapping[str, Any], assets_root: Path, cache_dir: Path) -> Path:
    """The banner as a PNG in ``cache_dir`` named by the hash of its inputs; drawn only if that file is missing.

    The file is written to a temporary name, synced and renamed into place, so a reader (or a second worker
    drawing the same banner) never sees a half-written PNG. PNG rather than JPEG: see the module docstring.
    """
    assets, sources = _collect_assets(template, context, Path(assets_root))
    digest = banner_key(template, context, assets)
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{digest[:20]}.png"
    if target.is_file():
        return target
    image = _draw(template, context, assets, sources)
    encoded = io.BytesIO()
    image.save(encoded, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    atomic_write(target, encoded.getvalue())
    return target


# --------------------------------------------------------------------------------------------------------------------
# What the staff should hear before posting: text that had to be cut, layouts that use the story's photo.


def uses_photo(template: BannerTemplate) -> bool:
    """True when the template draws the story's photo (an expression reads ``photo``): such a banner is drawn even
    for a story that has photos, since the photo is part of it."""
    return "photo" in _used_names(template)


_FIELD_NAMES = {
    "title": "tiêu đề (title)",
    "summary": "tóm tắt (summary)",
    "slogan": "khẩu hiệu",
    "unit": "tên đơn vị",
    "campaign": "tên chiến dịch",
    "kind_label": "loại bài",
}


def _what(element: TextElement) -> str:
    names = sorted(_used_names_of(element.text))
    for name in names:
        if name in _FIELD_NAMES:
            return _FIELD_NAMES[name]
    return f"ô chữ “{element.text[:40]}”"


def _used_names_of(source: str) -> set[str]:
    return set(meta.find_undeclared_variables(_ENV.parse(source))) if _is_templated(source) else set()


def fit_warnings(template: BannerTemplate, context: Mapping[str, Any]) -> list[str]:
    """Vietnamese warnings for every text of this banner that does not fit as written: cut with "…", a word broken
    between letters, shrunk below ``min_size``, or dropped. ``check`` and ``preview`` call this (through
    :func:`campaign_fit_warnings`) so that a long title is shortened by a person before the banner goes out,
    rather than posted as "…sản…". Each message ends with " | fix: …". Empty when everything fits."""
    out: list[str] = []
    keep = keep_phrases(context)
    for element in template.elements:
        if not isinstance(element, TextElement):
            continue
        try:
            text = render_string(element.text, context)
        except BannerError as exc:
            out.append(f"mẫu banner {template.id}: {exc} | fix: sửa biểu thức trong banners/{template.id}")
            continue
        if not text.strip():
            continue
        layout = _text_layout(element, text, keep)
        what = _what(element)
        box = "×".join(str(v) for v in element.box[2:])
        smallest = element.min_size or element.size
        if not layout.lines:
            out.append(
                f"mẫu banner {template.id}: {what} “{text}” không vừa ô {box} ở bất kỳ cỡ chữ nào nên bị bỏ "
                f"| fix: rút ngắn, hoặc tăng kích thước ô trong mẫu {template.id}"
            )
        elif layout.truncated:
            shown = " / ".join(layout.lines)
            kept = len(" ".join(layout.lines).rstrip(ELLIPSIS).rstrip())
            out.append(
                f"mẫu banner {template.id}: {what} quá dài, bị cắt thành “{shown}” (cỡ chữ {layout.size}, "
                f"{so(len(layout.lines))} dòng) | fix: rút {what} còn khoảng {so(max(1, kept))} ký tự "
                f"(hiện có {so(len(text))}), hoặc chọn mẫu banner khác (banner: trong bài)"
            )
        elif layout.broken_words:
            out.append(
                f"mẫu banner {template.id}: {what} có một từ quá dài, bị ngắt giữa chừng "
                f"(“{' / '.join(layout.lines)}”) | fix: rút ngắn từ đó hoặc thêm khoảng trắng"
            )
        elif layout.size < smallest:
            out.append(
                f"mẫu banner {template.id}: {what} phải thu xuống cỡ {layout.size}, nhỏ hơn min_size {smallest}, "
                f"khó đọc | fix: rút ngắn {what}"
            )
    return out


def campaign_fit_warnings(campaign: Any) -> list[str]:
    """:func:`fit_warnings` for the banner of every story of a loaded campaign (drafts too: better to hear it before
    approval), each prefixed with the story's file. Stories that get no banner (a photo and no banner template that
    uses it) are skipped. Pure: reads the campaign, draws nothing, writes nothing."""
    from bot.posts import banner_context, banner_id, wants_banner
    from bot.store.models import ContentItem

    out: list[str] = []
    for story in campaign.stories:
        front = story.front
        item = ContentItem(
            id=story.id,
            title=nfc(front.title),
            kind=front.kind,
            unit_id=front.unit,
            banner=front.banner,
            image=story.images[0] if story.images else None,
            images=list(story.images),
            banner_data={"summary": front.summary} if front.summary else {},
            approved_at=campaign.local_datetime(front.approved_at) if front.approved_at else None,
        )
        if not wants_banner(item, campaign):
            continue
        tid = banner_id(item, campaign)
        if tid is None:
            continue
        for message in fit_warnings(campaign.banners[tid], banner_context(item, campaign)):
            out.append(f"{story.source}: {message}")
    return out
