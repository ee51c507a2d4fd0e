"""``type: image``: a logo or photo fitted into its box."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from bot.banners.elements.base import Element
from bot.banners.fields import AssetPath

if TYPE_CHECKING:
    from PIL import Image

    from bot.banners.draw import Asset


class ImageElement(Element):
    """A logo or photo, fitted into its box (contain: whole image, centred; cover: fills the box, cropped).
    ``src`` may be Jinja (``{{ photo or 'assets/nen.jpg' }}``); one that renders empty skips the element."""

    type: Literal["image"]
    src: AssetPath
    fit: Literal["contain", "cover"] = "contain"

    def templates(self) -> tuple[str, ...]:
        return (self.src,)

    def asset_sources(self) -> tuple[str, ...]:
        return (self.src,)

    def draw(self, canvas: Image.Image, context: Mapping[str, Any], assets: Sequence[Asset | None]) -> None:
        from bot.banners import draw as px

        if not assets or assets[0] is None:
            return
        x, y, width, height = self.box
        image, dx, dy = px.fitted(assets[0], width, height, self.fit)
        px.composite(canvas, image, (x + dx, y + dy))
