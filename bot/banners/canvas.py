"""A whole banner: the canvas from the template's background, then each element drawn in order (:func:`draw_banner`),
and the files it reads (:func:`collect_assets`: read once, hashed for the cache key, decoded for drawing)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from bot import images
from bot.banners.draw import Asset, fitted, gradient, rgba
from bot.banners.fields import BannerError, render_string
from bot.banners.schema import BannerTemplate, ColorBackground, GradientBackground, ImageBackground


def background(template: BannerTemplate, image_asset: Asset | None) -> Image.Image:
    """The canvas: RGB when the background is opaque (the usual case: cheaper to draw on and to encode), RGBA
    when it has transparency (then every element is alpha-composited so edges stay clean)."""
    width, height = template.size
    chosen = template.background
    if isinstance(chosen, ColorBackground):
        colour = rgba(chosen.color)
        if colour[3] == 255:
            return Image.new("RGB", (width, height), colour[:3])
        return Image.new("RGBA", (width, height), colour)
    if isinstance(chosen, GradientBackground):
        return gradient(width, height, *chosen.gradient, chosen.direction).copy()
    assert image_asset is not None, "an image background is collected with the other assets"
    image, _, _ = fitted(image_asset, width, height, "cover")
    if image.getextrema()[3][0] == 255:
        return image.convert("RGB")
    return image.copy()


def collect_assets(
    template: BannerTemplate, context: Mapping[str, Any], assets_root: Path
) -> tuple[dict[str, Asset], Asset | None, list[tuple[Asset | None, ...]]]:
    """Every file this render reads, with its bytes and SHA-256 (the bytes are both hashed for the cache key and
    decoded, so each file is read once). Returns the assets by rendered source, the background's, and for each
    element its assets in the order of its ``asset_sources()`` (None where a path rendered empty)."""
    root = Path(assets_root)
    assets: dict[str, Asset] = {}

    def load(source: str) -> Asset | None:
        rendered = render_string(source, context).strip()
        if not rendered:
            return None  # an optional photo that this story does not have
        if rendered not in assets:
            path = root / rendered  # an absolute path from the context stays absolute
            try:
                data = images.banner_bytes(path)  # a large logo or photo reduced once and cached
            except OSError as exc:
                raise BannerError(f"mẫu banner {template.id}: không đọc được ảnh {path}: {exc.strerror or exc}") from exc
            assets[rendered] = Asset(path, data, hashlib.sha256(data).hexdigest())
        return assets[rendered]

    background_asset = None
    if isinstance(template.background, ImageBackground):
        background_asset = load(template.background.image)
        if background_asset is None:
            raise BannerError(f"mẫu banner {template.id}: ảnh nền {template.background.image!r} cho ra đường dẫn rỗng")
    per_element = [tuple(load(source) for source in element.asset_sources()) for element in template.elements]
    return assets, background_asset, per_element


def draw(
    template: BannerTemplate,
    context: Mapping[str, Any],
    background_asset: Asset | None,
    per_element: list[tuple[Asset | None, ...]],
) -> Image.Image:
    """The canvas with every element drawn in order; a failing element names itself in the error."""
    canvas = background(template, background_asset)
    for index, (element, element_assets) in enumerate(zip(template.elements, per_element, strict=True)):
        try:
            element.draw(canvas, context, element_assets)
        except BannerError as exc:
            raise BannerError(f"mẫu banner {template.id}, phần tử thứ {index + 1} ({element.type}): {exc}") from exc
    return canvas


def draw_banner(template: BannerTemplate, context: Mapping[str, Any], assets_root: Path) -> Image.Image:
    """Draw the banner (no cache, no file). Returns an RGB image, or RGBA when the background has transparency.

    ``assets_root`` is the banners/ folder; image sources are relative to it (a Jinja source that renders to an
    absolute path, such as a story's photo passed in the context, is used as is; one that renders empty is skipped).
    """
    _, background_asset, per_element = collect_assets(template, context, Path(assets_root))
    return draw(template, context, background_asset, per_element)
