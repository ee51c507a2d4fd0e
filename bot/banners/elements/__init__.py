"""The element types a banner template may use, by their ``type:`` name.

To add one: write a subclass of :class:`~bot.banners.elements.base.Element` in a module beside these (its fields
and validators, ``templates``, ``asset_sources``, ``draw`` and, if it shows text, ``fit_warnings``), then add it to
:data:`ELEMENT_TYPES` below. Validation, error messages, the cache key, the loader's asset checks and drawing all
read this table. Pillow-free, like every module of the schema.
"""

from __future__ import annotations

from typing import Any, Union

from bot.banners.elements.base import Element
from bot.banners.elements.image import ImageElement
from bot.banners.elements.progress import ProgressElement
from bot.banners.elements.shade import ShadeElement
from bot.banners.elements.text import TextElement

#: ``type:`` name → class. The order is the order error messages list them in.
ELEMENT_TYPES: dict[str, type[Element]] = {
    "image": ImageElement,
    "text": TextElement,
    "progress": ProgressElement,
    "shade": ShadeElement,
}

#: The union of the registered classes, for the template's ``elements`` field: pydantic then dumps each element with
#: its own fields (the cache key hashes the dump), and the loader's "did you mean" sees every type's keys.
AnyElement: Any = Union[tuple(ELEMENT_TYPES.values())]  # noqa: UP007 - built from the table, not written out

__all__ = ["ELEMENT_TYPES", "AnyElement", "Element", "ImageElement", "ProgressElement", "ShadeElement", "TextElement"]
