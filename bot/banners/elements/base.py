"""What every banner element is: a box on the canvas, the texts it reads, the files it needs, how it draws.

A new element type is one subclass of :class:`Element` in its own module plus one entry in
:data:`bot.banners.elements.ELEMENT_TYPES`; validation (its pydantic fields and validators), the data names in the
banner's cache key, the assets the loader checks, drawing and the ``check`` warnings all come from the class.

Pillow is imported inside :meth:`Element.draw` only (never at module level): these classes are also the schema the
loader validates with, and ``check`` must not load the renderer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bot import templating
from bot.banners.fields import Box, Model

if TYPE_CHECKING:
    from PIL import Image

    from bot.banners.draw import Asset


class Element(Model):
    """One thing drawn on a banner, inside ``box`` ([x, y, width, height] in pixels of the banner)."""

    type: str
    box: Box

    def templates(self) -> tuple[str, ...]:
        """Every Jinja text this element renders (texts, numbers, image paths): the data names it uses are read
        from these, so a banner is redrawn exactly when one of them changes."""
        return ()

    def asset_sources(self) -> tuple[str, ...]:
        """The files this element draws (paths relative to banners/, possibly Jinja): read and hashed before
        drawing, and handed to :meth:`draw` in this order."""
        return ()

    def data_names(self) -> frozenset[str]:
        """Top-level context names this element reads."""
        names: set[str] = set()
        for source in self.templates():
            names |= templating.used_names(source)
        return frozenset(names)

    def draw(self, canvas: Image.Image, context: Mapping[str, Any], assets: Sequence[Asset | None]) -> None:
        """Draw onto ``canvas`` (RGB when opaque, else RGBA). ``assets`` follow :meth:`asset_sources` (None for a
        path that rendered empty: an optional photo the story does not have)."""
        raise NotImplementedError(type(self).__name__)

    def fit_warnings(self, template_id: str, context: Mapping[str, Any], keep: tuple[str, ...]) -> list[str]:
        """Vietnamese warnings for ``check`` and ``preview`` (text cut, shrunk, dropped), each ending with a fix."""
        return []
