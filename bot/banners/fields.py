"""The pieces every banner model is made of: colours, boxes, Jinja texts, asset paths, the error helpers.

Pillow-free, like the whole schema (:mod:`bot.banners.schema`, :mod:`bot.banners.elements`): ``check`` and the
loader validate templates without loading the renderer.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from bot import templating
from bot.errors import BotError
from bot.vn import nfc

#: Below this nothing is legible; a text that does not fit even here is dropped with a warning.
SMALLEST_SIZE = 4
#: Font weights by name (the font files of Be Vietnam Pro): the names a template may write.
WEIGHTS: dict[str, int] = {"regular": 400, "medium": 500, "semibold": 600, "bold": 700, "extrabold": 800}


class BannerError(BotError):
    """A banner cannot be drawn (missing asset, unreadable image, a template expression that fails at render time)."""


def render_string(source: str, context: Any) -> str:
    """Render a staff text (banner text, image path) in the project's one sandbox (:mod:`bot.templating`), with the
    ``so``/``ngay`` filters; NFC out, missing values empty. Failures become :class:`BannerError`."""
    try:
        return templating.render(source, context)
    except templating.TextRenderError as exc:
        raise BannerError(str(exc)) from None


def evaluate_number(source: str, context: Any) -> float | None:
    """A progress ``value``/``max`` as a number (see :func:`bot.templating.evaluate_number`)."""
    try:
        return templating.evaluate_number(source, context)
    except templating.TextRenderError as exc:
        raise BannerError(str(exc)) from None


# --- annotated types ----------------------------------------------------------------------------------------------

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
    """Texts are Jinja2 run in the staff sandbox: compiled now, so a syntax error, an unknown filter or a construct
    the sandbox refuses is reported at load time with its fix."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("phải là một chuỗi chữ | fix: đặt nội dung trong dấu ngoặc kép")
    text = nfc(str(value))
    found = templating.problem(text)
    if found is not None:
        raise ValueError(f"{found[0]} | fix: {found[1]}")
    return text


def _check_box(value: Any) -> Any:
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise ValueError("ô (box) phải là [x, y, rộng, cao]: bốn số nguyên | fix: ví dụ [40, 170, 1120, 280]")
    return value


def _check_asset_path(value: Any) -> str:
    """A static path must stay inside banners/ (no absolute path, no ..); a Jinja path is resolved at render time."""
    text = _check_template(value)
    if templating.is_templated(text):
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
FontSize = Annotated[int, Strict(), Field(ge=SMALLEST_SIZE, le=512)]
Weight = Literal["regular", "medium", "semibold", "bold", "extrabold"]
Direction = Literal["vertical", "horizontal", "diagonal"]


class Model(BaseModel):
    """Every banner model: unknown keys are errors (a typo must not be silently ignored); frozen, because templates
    are shared between renders and used as cache keys (hashable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- errors at real paths -----------------------------------------------------------------------------------------


def custom_error(kind: str, message: str, loc: tuple[Any, ...], value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def relocated(exc: ValidationError, prefix: tuple[Any, ...]) -> list[InitErrorDetails]:
    """A nested model's errors re-raised under ``prefix``, type, message and context intact."""
    return [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"], error.get("ctx")),
            loc=prefix + tuple(error["loc"]),
            input=error["input"],
        )
        for error in exc.errors(include_url=False)
    ]


def validate_choice(value: Any, model: type[Model], prefix: tuple[Any, ...], errors: list[InitErrorDetails]) -> Any:
    """``model`` validated from ``value``, or None with its errors (under ``prefix``) added to ``errors``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors.extend(relocated(exc, prefix))
        return None
