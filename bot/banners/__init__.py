"""Banner templates (banners/*.yaml) and their rendering with Pillow.

A template is a fixed canvas (size and background) with elements on it: images (logos, photos), texts that wrap and
shrink to fit their box, translucent shades and a progress bar bound to a metric. Texts are Jinja2 rendered in the
project's one staff sandbox (:mod:`bot.templating`) against a context that the planner builds for a story or a
milestone. Communications staff write these files, so validation is strict (unknown keys, bad colours and broken
Jinja are errors at load time, not surprises at posting time) and rendering never lets text spill out of its box.

The package, by role (``docs/ARCHITECTURE.md`` tells how to add an element type):

* :mod:`~bot.banners.schema`, :mod:`~bot.banners.fields`, :mod:`~bot.banners.elements` — the template model the
  loader validates. Pillow-free: importing this package, or validating a template, does not load the renderer.
* :mod:`~bot.banners.elements` — one class per element type (how it validates, which data it reads, how it draws,
  what ``check`` warns about), registered in ``ELEMENT_TYPES``.
* :mod:`~bot.banners.fonts` and :mod:`~bot.banners.layout` — Be Vietnam Pro and text fitting.
* :mod:`~bot.banners.draw` — the drawing primitives; :mod:`~bot.banners.canvas` — a whole banner, element by element;
  :mod:`~bot.banners.render` — cached PNG files;
  :mod:`~bot.banners.checks` — warnings for ``check`` and ``preview``.

The names below are the public API. The schema's are imported at once; the renderer's on first use (PEP 562), so
``from bot.banners import BannerTemplate`` stays light while ``from bot.banners import render_banner`` works.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bot.banners.elements import ELEMENT_TYPES, Element, ImageElement, ProgressElement, ShadeElement, TextElement
from bot.banners.fields import BannerError, render_string
from bot.banners.schema import (
    BannerTemplate,
    ColorBackground,
    GradientBackground,
    ImageBackground,
    known_keys,
    template_assets,
    used_names,
    uses_photo,
)
from bot.templating import parse_number

if TYPE_CHECKING:  # the lazy names, for type checkers and readers
    from bot.banners.canvas import draw_banner
    from bot.banners.checks import campaign_fit_warnings, fit_warnings
    from bot.banners.fonts import font_path, get_font, layout_engine_info, layout_engine_name
    from bot.banners.layout import TextLayout, keep_phrases, layout_text
    from bot.banners.render import PNG_OPTIONS, RENDERER_VERSION, banner_key, render_banner

#: Public name → the module that defines it, imported on first use (these load Pillow).
_LAZY = {
    "draw_banner": "canvas",
    "font_path": "fonts",
    "get_font": "fonts",
    "layout_engine_info": "fonts",
    "layout_engine_name": "fonts",
    "TextLayout": "layout",
    "keep_phrases": "layout",
    "layout_text": "layout",
    "RENDERER_VERSION": "render",
    "PNG_OPTIONS": "render",
    "banner_key": "render",
    "render_banner": "render",
    "fit_warnings": "checks",
    "campaign_fit_warnings": "checks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ELEMENT_TYPES",
    "PNG_OPTIONS",
    "RENDERER_VERSION",
    "BannerError",
    "BannerTemplate",
    "ColorBackground",
    "Element",
    "GradientBackground",
    "ImageBackground",
    "ImageElement",
    "ProgressElement",
    "ShadeElement",
    "TextElement",
    "TextLayout",
    "banner_key",
    "campaign_fit_warnings",
    "draw_banner",
    "fit_warnings",
    "font_path",
    "get_font",
    "keep_phrases",
    "known_keys",
    "layout_engine_info",
    "layout_engine_name",
    "layout_text",
    "parse_number",
    "render_banner",
    "render_string",
    "template_assets",
    "used_names",
    "uses_photo",
]
