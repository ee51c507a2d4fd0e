"""Pixels: the primitives every element draws with (colours, masks, gradients, fitted images, compositing).

Element types own their drawing (:mod:`bot.banners.elements`); what they share lives here. This module knows no
template (:mod:`bot.banners.canvas` lays a whole template out), so the element classes can use it without a cycle.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageOps

from bot import images
from bot.banners.fields import BannerError

images.pillow()  # the decompression-bomb limit of bot.bounds, before any image here is decoded


def rgba(colour: str) -> tuple[int, int, int, int]:
    """'#rgb', '#rrggbb' or '#rrggbbaa' → (r, g, b, a)."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    if len(digits) == 6:
        digits += "ff"
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), int(digits[6:8], 16))


class LRU:
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


_FITTED = LRU(64)


@dataclass(frozen=True)
class Asset:
    path: Path
    data: bytes
    digest: str


def open_image(asset: Asset, target: tuple[int, int]) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(asset.data))
        if image.format == "JPEG":
            image.draft("RGB", target)  # decode big photos at a reduced scale: much faster, still ≥ target size
        image = ImageOps.exif_transpose(image)
        return image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BannerError(f"không đọc được ảnh {asset.path}: {exc}") from exc


def fitted(asset: Asset, width: int, height: int, fit: str) -> tuple[Image.Image, int, int]:
    """The image scaled into a box: ``contain`` keeps it whole and centred (logos), ``cover`` fills and crops."""
    key = (asset.digest, width, height, fit)
    cached = _FITTED.get(key)
    if cached is not None:
        return cached
    image = open_image(asset, (width, height))
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
def gradient_mask(width: int, height: int, direction: str) -> Image.Image:
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
def gradient(width: int, height: int, start: str, end: str, direction: str) -> Image.Image:
    """Building a full-size gradient costs about 9 ms, as much as the rest of a banner: cache it (callers copy)."""
    first, second = rgba(start), rgba(end)
    mode = "RGB" if first[3] == 255 and second[3] == 255 else "RGBA"
    one = Image.new(mode, (width, height), first[: len(mode)])
    two = Image.new(mode, (width, height), second[: len(mode)])
    return Image.composite(two, one, gradient_mask(width, height, direction))


def composite(canvas: Image.Image, layer: Image.Image, xy: tuple[int, int]) -> None:
    if canvas.mode == "RGBA":
        canvas.alpha_composite(layer, dest=xy)
    else:
        canvas.paste(layer, xy, layer)


def paint(
    target: Image.Image, mask: Image.Image, colour: tuple[int, int, int, int], xy: tuple[int, int] = (0, 0)
) -> None:
    """Composite a solid colour through an 8-bit mask (anti-aliased text or shapes) with correct alpha.

    On an opaque (RGB) target this is one ``paste`` of the colour through the mask: the same blend as compositing a
    coloured layer, without building the layer (the progress bar paints four masks per banner)."""
    alpha = mask if colour[3] == 255 else mask.point(_scale_table(colour[3]))
    if target.mode == "RGB":
        target.paste(colour[:3], (xy[0], xy[1], xy[0] + mask.width, xy[1] + mask.height), alpha)
        return
    solid = Image.new("RGBA", mask.size, colour[:3] + (255,))
    solid.putalpha(alpha)
    composite(target, solid, xy)


@lru_cache(maxsize=64)
def _scale_table(alpha: int) -> list[int]:
    """The lookup table that multiplies an 8-bit mask by ``alpha``/255 (for ``Image.point``)."""
    return [value * alpha // 255 for value in range(256)]


@lru_cache(maxsize=32)
def pill(width: int, height: int) -> Image.Image:
    """An anti-aliased rounded bar mask (Pillow's rounded_rectangle has jagged corners: draw 4× and reduce)."""
    scale = 4
    big = Image.new("L", (width * scale, height * scale), 0)
    radius = min(width, height) * scale / 2
    ImageDraw.Draw(big).rounded_rectangle((0, 0, width * scale - 1, height * scale - 1), radius=radius, fill=255)
    return big.reduce(scale)


def fill_mask(track: Image.Image, filled: int) -> Image.Image:
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


def luminance(colour: tuple[int, ...]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour[0]) + 0.7152 * channel(colour[1]) + 0.0722 * channel(colour[2])


def contrasting(colour: tuple[int, ...]) -> tuple[int, int, int, int]:
    """White or near-black, whichever reads better on ``colour`` (WCAG contrast ratio)."""
    lum = luminance(colour)
    dark = (27, 27, 27, 255)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (luminance(dark) + 0.05)
    return (255, 255, 255, 255) if on_white >= on_dark else dark


def over(top: tuple[int, int, int, int], below: tuple[float, ...]) -> tuple[int, int, int]:
    alpha = top[3] / 255
    return tuple(round(top[i] * alpha + below[i] * (1 - alpha)) for i in range(3))  # type: ignore[return-value]
