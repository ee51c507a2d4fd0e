"""The ``banner:`` mapping of a banners/*.yaml file: what the loader validates, Pillow-free.

Every error location is a real path in the file, and every message is Vietnamese with a " | fix: " hint. The two
choices (background kind, element type) are dispatched by hand rather than as pydantic tagged unions: a tagged union
puts its tag into error locations (("elements", 0, "text", "size")), and since "text", "image" and "gradient" are
also key names, the loader would point at the wrong YAML line. Dispatching here keeps every location a real path:
("elements", 0, "size").
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from bot import templating
from bot.banners.elements import ELEMENT_TYPES, AnyElement, Element
from bot.banners.fields import AssetPath, Colour, Direction, Model, custom_error, validate_choice


class GradientBackground(Model):
    gradient: tuple[Colour, Colour]
    direction: Direction = "vertical"


class ColorBackground(Model):
    color: Colour


class ImageBackground(Model):
    image: AssetPath


_BACKGROUND_MODELS: dict[str, type[Model]] = {
    "gradient": GradientBackground,
    "color": ColorBackground,
    "image": ImageBackground,
}


def _background_before(value: Any) -> Any:
    if isinstance(value, GradientBackground | ColorBackground | ImageBackground):
        return value
    kinds = [kind for kind in _BACKGROUND_MODELS if isinstance(value, Mapping) and kind in value]
    if len(kinds) != 1:
        message = (
            "nền (background) phải có đúng một trong: gradient, color, image | fix: "
            'ví dụ {gradient: ["#b71c1c", "#7f0000"], direction: vertical} hoặc {color: "#ffffff"}'
        )
        raise ValidationError.from_exception_data("background", [custom_error("background_kind", message, (), value)])
    errors: list[InitErrorDetails] = []
    result = validate_choice(value, _BACKGROUND_MODELS[kinds[0]], (), errors)
    if errors:
        raise ValidationError.from_exception_data("background", errors)
    return result


Background = Annotated[GradientBackground | ColorBackground | ImageBackground, BeforeValidator(_background_before)]


def _elements_before(value: Any) -> Any:
    """Each item validated by the class its ``type:`` names in :data:`ELEMENT_TYPES`, errors at their real path."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        message = "elements phải là một danh sách | fix: mỗi phần tử một dòng bắt đầu bằng '- {type: ...}'"
        raise ValidationError.from_exception_data("elements", [custom_error("list_type", message, (), value)])
    names = ", ".join(ELEMENT_TYPES)
    result: list[Any] = []
    errors: list[InitErrorDetails] = []
    for index, item in enumerate(value):
        if isinstance(item, Element):
            result.append(item)
            continue
        kind = item.get("type") if isinstance(item, Mapping) else None
        model = ELEMENT_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            if not isinstance(item, Mapping):
                message = 'mỗi phần tử phải là một bảng khóa | fix: ví dụ {type: text, text: "…", box: [40, 40, 600, 60], size: 30}'
                errors.append(custom_error("element_type", message, (index,), item))
            elif "type" not in item:
                last = " hoặc ".join(names.rsplit(", ", 1))
                errors.append(custom_error("missing", f"thiếu khóa type | fix: thêm type: {last}", (index,), item))
            else:
                message = f"loại phần tử không có: {kind!r} | fix: dùng một trong: {names}"
                errors.append(custom_error("element_type", message, (index, "type"), kind))
            continue
        element = validate_choice(item, model, (index,), errors)
        if element is not None:
            result.append(element)
    if errors:
        raise ValidationError.from_exception_data("elements", errors)
    return tuple(result)


def _check_kind(value: Any) -> str:
    """A kind in ``kinds:`` must be a story kind (a typo would silently leave that kind on the default template)."""
    from difflib import get_close_matches

    from bot.config import KINDS

    if isinstance(value, str) and value in KINDS:
        return value
    close = get_close_matches(str(value), KINDS, n=1)
    hint = f"có phải ý bạn là '{close[0]}'? " if close else ""
    raise ValueError(f"loại bài không có: {value!r} | fix: {hint}dùng một trong: {', '.join(KINDS)}")


class BannerTemplate(Model):
    """One banners/*.yaml file's ``banner:`` mapping. Boxes are [x, y, width, height] in pixels of ``size``."""

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")]
    size: tuple[Annotated[int, Strict(), Field(ge=1, le=4096)], Annotated[int, Strict(), Field(ge=1, le=4096)]]
    background: Background = Field(default_factory=lambda: ColorBackground(color="#ffffff"))
    #: The kinds of story (``kind:`` in the front matter) that get this template when the story names none, so
    #: that the staff choose a layout per kind here and per story with ``banner:`` in the story.
    kinds: tuple[Annotated[str, BeforeValidator(_check_kind)], ...] = ()
    elements: Annotated[tuple[AnyElement, ...], BeforeValidator(_elements_before)] = ()

    @field_validator("elements")
    @classmethod
    def _boxes_inside_canvas(cls, elements: tuple[Element, ...], info: ValidationInfo) -> tuple[Element, ...]:
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
                            {"x": x, "y": y, "w": w, "h": h, "right": x + w, "bottom": y + h,
                             "width": width, "height": height},
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
    models: list[type[Model]]
    if loc[0] == "background":
        background = data.get("background") if isinstance(data, Mapping) else None
        kinds = [k for k in _BACKGROUND_MODELS if isinstance(background, Mapping) and k in background]
        models = [_BACKGROUND_MODELS[k] for k in kinds] or list(_BACKGROUND_MODELS.values())
    elif loc[0] == "elements" and len(loc) >= 3 and isinstance(loc[1], int):
        elements = data.get("elements") if isinstance(data, Mapping) else None
        item = elements[loc[1]] if isinstance(elements, list) and loc[1] < len(elements) else None
        kind = item.get("type") if isinstance(item, Mapping) else None
        models = [ELEMENT_TYPES[kind]] if kind in ELEMENT_TYPES else list(ELEMENT_TYPES.values())
    else:
        return []
    return list(dict.fromkeys(key for model in models for key in model.model_fields))


def template_assets(template: BannerTemplate) -> list[str]:
    """Asset files the template always needs, relative to banners/ (image sources written as Jinja are left out:
    they are known only at render time, and an empty one simply skips its element)."""
    found: list[str] = []
    if isinstance(template.background, ImageBackground):
        found.append(template.background.image)
    for element in template.elements:
        found.extend(element.asset_sources())
    return list(dict.fromkeys(source for source in found if not templating.is_templated(source)))


@lru_cache(maxsize=256)
def used_names(template: BannerTemplate) -> frozenset[str]:
    """Top-level context names the template's expressions read. Only these enter the cache key, so a context that
    carries e.g. today's date does not redraw a banner that never shows it."""
    names: set[str] = set()
    if isinstance(template.background, ImageBackground):
        names |= templating.used_names(template.background.image)
    for element in template.elements:
        names |= element.data_names()
    return frozenset(names)


def uses_photo(template: BannerTemplate) -> bool:
    """True when the template draws the story's photo (an expression reads ``photo``): such a banner is drawn even
    for a story that has photos, since the photo is part of it."""
    return "photo" in used_names(template)
