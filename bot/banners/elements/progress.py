"""``type: progress``: a bar filled to value/max, with an optional label that reads on both of its colours."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from bot.banners.elements.base import Element
from bot.banners.fields import SMALLEST_SIZE, Colour, JinjaText, evaluate_number, render_string
from bot.vn import phan_tram_so

if TYPE_CHECKING:
    from PIL import Image

    from bot.banners.draw import Asset

log = logging.getLogger(__name__)


def _number(value: float) -> int | float:
    """Integral values as int, so ``{{ value }}`` prints 1250 and not 1250.0."""
    return int(value) if value.is_integer() else value


class ProgressElement(Element):
    """A bar filled to value/max (clamped to the box); the label shows the real numbers, e.g. 130%."""

    type: Literal["progress"]
    value: JinjaText
    max: JinjaText
    color: Colour
    background: Colour | None = None
    label: JinjaText | None = None
    label_color: Colour | None = None

    def templates(self) -> tuple[str, ...]:
        return (self.value, self.max, self.label or "")

    def draw(self, canvas: Image.Image, context: Mapping[str, Any], assets: Sequence[Asset | None]) -> None:
        from PIL import Image, ImageStat

        from bot.banners import draw as px

        x, y, width, height = self.box
        value = evaluate_number(self.value, context)
        maximum = evaluate_number(self.max, context)
        if value is None or maximum is None:
            log.warning("thanh tiến độ: value %r / max %r không phải số; vẽ thanh rỗng", self.value, self.max)
        value = value or 0.0
        maximum = maximum or 0.0
        ratio = value / maximum if maximum > 0 else 0.0
        filled = round(width * min(1.0, max(0.0, ratio)))
        fill_colour = px.rgba(self.color)
        track_colour = px.rgba(self.background) if self.background else fill_colour[:3] + (round(fill_colour[3] * 0.25),)

        # On an opaque canvas the bar is painted straight onto it; on a transparent one, onto its own layer first
        # (painting over transparency would replace, not blend). The label's tones are chosen from what lies under
        # the bar, so that is read before anything is painted.
        under = None
        if self.label:
            region = canvas.crop((x, y, x + width, y + height))
            under = ImageStat.Stat(region if region.mode == "RGB" else region.convert("RGB")).mean
        if canvas.mode == "RGB":
            target, origin = canvas, (x, y)
        else:
            target, origin = Image.new("RGBA", (width, height), (0, 0, 0, 0)), (0, 0)
        track = px.pill(width, height)
        # Where an opaque fill covers the track whole (between the two rounded ends), painting the track first
        # changes no pixel: it is skipped there, and the fill mask is painted only as far as it reaches.
        cap = min((min(width, height) + 1) // 2, width)
        covered = fill_colour[3] == 255 and filled - cap > cap
        for left, right in [(0, cap), (filled - cap, width)] if covered else [(0, width)]:
            px.paint(target, track.crop((left, 0, right, height)), track_colour, (origin[0] + left, origin[1]))
        if filled > 0:
            fill = px.fill_mask(track, filled).crop((0, 0, filled, height))
            px.paint(target, fill, fill_colour, origin)
        if self.label and under is not None:
            # The caller's percent (a milestone's "108,8") wins, so the banner and the post say the same number.
            given = context.get("percent")
            percent = given if given not in (None, "") else phan_tram_so(ratio * 100)
            label_context = {**context, "value": _number(value), "max": _number(maximum), "percent": percent}
            label = render_string(self.label, label_context)
            self._draw_label(target, origin, label, filled, (fill_colour, track_colour), under)
        if target is not canvas:
            px.composite(canvas, target, (x, y))

    def _draw_label(
        self,
        target: Image.Image,
        origin: tuple[int, int],
        label: str,
        filled: int,
        colours: tuple[tuple[int, int, int, int], tuple[int, int, int, int]],
        under: Sequence[float],
    ) -> None:
        from PIL import Image, ImageChops, ImageDraw

        from bot.banners import draw as px
        from bot.banners.fonts import get_font
        from bot.banners.layout import layout_text

        _, _, width, height = self.box
        pad = min(height // 2, width // 8)
        layout = layout_text(
            label,
            width - 2 * pad,
            height,
            size=max(SMALLEST_SIZE, round(height * 0.5)),
            min_size=max(SMALLEST_SIZE, round(height * 0.3)),
            max_lines=1,
            weight="semibold",
            align="center",
            valign="middle",
        )
        if not layout.lines:
            return
        mask = Image.new("L", (width, height), 0)
        font = get_font(layout.weight, layout.size)
        draw = ImageDraw.Draw(mask)
        for line, (dx, dy) in zip(layout.lines, layout.origins, strict=True):
            draw.text((pad + dx, dy), line, font=font, fill=255, anchor="ls")
        ink = mask.getbbox()
        if ink is None:
            return
        # Only the label's ink is painted (a tenth of the bar), in one or two tones.
        left, top = ink[0], ink[1]
        mask = mask.crop(ink)
        at = (origin[0] + left, origin[1] + top)
        if self.label_color:
            px.paint(target, mask, px.rgba(self.label_color), at)
            return
        # Two tones, so the label reads both on the fill and on the track (whatever the background).
        fill_colour, track_colour = colours
        on_fill = px.contrasting(px.over(fill_colour, under))
        on_track = px.contrasting(px.over(track_colour, under))
        over_fill = mask.copy()
        if filled - left < mask.width:
            ImageDraw.Draw(over_fill).rectangle((max(0, filled - left), 0, mask.width, mask.height), fill=0)
        over_track = ImageChops.subtract(mask, over_fill)
        px.paint(target, over_fill, on_fill, at)
        px.paint(target, over_track, on_track, at)
