"""``type: shade``: a translucent colour or gradient over what is below."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from bot.banners.elements.base import Element
from bot.banners.fields import Colour, Direction

if TYPE_CHECKING:
    from PIL import Image

    from bot.banners.draw import Asset


class ShadeElement(Element):
    """A translucent colour or gradient laid over what is below (a photo), so that text on it stays readable:
    e.g. ``gradient: ["#00000000", "#000000d0"]`` darkens the lower part of a full-bleed photo under the title."""

    type: Literal["shade"]
    color: Colour | None = None
    gradient: tuple[Colour, Colour] | None = None
    direction: Direction = "vertical"

    @model_validator(mode="after")
    def _one_fill(self) -> ShadeElement:
        if (self.color is None) == (self.gradient is None):
            raise ValueError(
                'lớp phủ (shade) cần đúng một trong color hoặc gradient | fix: ví dụ gradient: ["#00000000", "#000000d0"]'
            )
        return self

    def draw(self, canvas: Image.Image, context: Mapping[str, Any], assets: Sequence[Asset | None]) -> None:
        from PIL import Image

        from bot.banners import draw as px

        x, y, width, height = self.box
        if self.gradient is not None:
            start, end = self.gradient
            layer = px.gradient(width, height, start, end, self.direction).convert("RGBA")
        else:
            layer = Image.new("RGBA", (width, height), px.rgba(self.color or "#00000000"))
        px.composite(canvas, layer, (x, y))
