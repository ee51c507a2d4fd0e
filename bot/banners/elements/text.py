"""``type: text``: a Jinja text that wraps, balances and shrinks to fit its box, never spilling out of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, Strict, ValidationInfo, field_validator

from bot import templating
from bot.banners.elements.base import Element
from bot.banners.fields import BannerError, Colour, FontSize, JinjaText, Weight, render_string
from bot.vn import so

if TYPE_CHECKING:
    from PIL import Image

    from bot.banners.draw import Asset
    from bot.banners.layout import TextLayout

#: How ``check`` names a text by the data it shows.
_FIELD_NAMES = {
    "title": "tiêu đề (title)",
    "summary": "tóm tắt (summary)",
    "slogan": "khẩu hiệu",
    "unit": "tên đơn vị",
    "campaign": "tên chiến dịch",
    "kind_label": "loại bài",
}


class TextElement(Element):
    """A text box: the largest size from ``size`` down to ``min_size`` at which the text fits in at most
    ``max_lines`` lines (see :func:`bot.banners.layout.layout_text`)."""

    type: Literal["text"]
    text: JinjaText
    size: FontSize
    min_size: FontSize | None = None
    max_lines: Annotated[int, Strict(), Field(ge=1)] | None = None
    weight: Weight = "regular"
    color: Colour = "#000000"
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    uppercase: bool = False

    @field_validator("min_size")
    @classmethod
    def _min_not_above_size(cls, value: int | None, info: ValidationInfo) -> int | None:
        size = info.data.get("size")
        if value is not None and size is not None and value > size:
            raise ValueError(f"min_size ({value}) lớn hơn size ({size}) | fix: đặt min_size nhỏ hơn hoặc bằng size")
        return value

    def templates(self) -> tuple[str, ...]:
        return (self.text,)

    def layout(self, text: str, keep: tuple[str, ...]) -> TextLayout:
        """Where the lines of ``text`` go in this box."""
        from bot.banners.layout import layout_text

        _, _, width, height = self.box
        return layout_text(
            text,
            width,
            height,
            size=self.size,
            min_size=self.min_size,
            max_lines=self.max_lines,
            weight=self.weight,
            align=self.align,
            valign=self.valign,
            uppercase=self.uppercase,
            keep=keep,
        )

    def draw(self, canvas: Image.Image, context: Mapping[str, Any], assets: Sequence[Asset | None]) -> None:
        from PIL import Image, ImageDraw

        from bot.banners import draw as px
        from bot.banners.fonts import get_font
        from bot.banners.layout import keep_phrases

        text = render_string(self.text, context)
        if not text.strip():
            return
        x, y, width, height = self.box
        layout = self.layout(text, keep_phrases(context))
        if not layout.lines:
            return
        font = get_font(layout.weight, layout.size)
        colour = px.rgba(self.color)
        if canvas.mode == "RGB":
            # Opaque canvas: draw straight on it; the "RGBA" draw mode blends a translucent colour correctly.
            draw = ImageDraw.Draw(canvas, "RGBA")
            for line, (dx, dy) in zip(layout.lines, layout.origins, strict=True):
                draw.text((x + dx, y + dy), line, font=font, fill=colour, anchor="ls")
            return
        # Transparent canvas: draw a mask over the box plus a margin (so a layout error would show, not be clipped).
        margin = layout.size
        left, top = max(0, x - margin), max(0, y - margin)
        right, bottom = min(canvas.width, x + width + margin), min(canvas.height, y + height + margin)
        mask = Image.new("L", (right - left, bottom - top), 0)
        draw = ImageDraw.Draw(mask)
        for line, (dx, dy) in zip(layout.lines, layout.origins, strict=True):
            draw.text((x + dx - left, y + dy - top), line, font=font, fill=255, anchor="ls")
        px.paint(canvas, mask, colour, (left, top))

    def _what(self) -> str:
        for name in sorted(templating.used_names(self.text)):
            if name in _FIELD_NAMES:
                return _FIELD_NAMES[name]
        return f"ô chữ “{self.text[:40]}”"

    def fit_warnings(self, template_id: str, context: Mapping[str, Any], keep: tuple[str, ...]) -> list[str]:
        """A text cut with "…", a word broken between letters, shrunk below ``min_size``, or dropped."""
        from bot.banners.layout import ELLIPSIS

        try:
            text = render_string(self.text, context)
        except BannerError as exc:
            return [f"mẫu banner {template_id}: {exc} | fix: sửa biểu thức trong banners/{template_id}"]
        if not text.strip():
            return []
        layout = self.layout(text, keep)
        what = self._what()
        box = "×".join(str(v) for v in self.box[2:])
        smallest = self.min_size or self.size
        if not layout.lines:
            return [
                f"mẫu banner {template_id}: {what} “{text}” không vừa ô {box} ở bất kỳ cỡ chữ nào nên bị bỏ "
                f"| fix: rút ngắn, hoặc tăng kích thước ô trong mẫu {template_id}"
            ]
        if layout.truncated:
            shown = " / ".join(layout.lines)
            kept = len(" ".join(layout.lines).rstrip(ELLIPSIS).rstrip())
            return [
                f"mẫu banner {template_id}: {what} quá dài, bị cắt thành “{shown}” (cỡ chữ {layout.size}, "
                f"{so(len(layout.lines))} dòng) | fix: rút {what} còn khoảng {so(max(1, kept))} ký tự "
                f"(hiện có {so(len(text))}), hoặc chọn mẫu banner khác (banner: trong bài)"
            ]
        if layout.broken_words:
            return [
                f"mẫu banner {template_id}: {what} có một từ quá dài, bị ngắt giữa chừng "
                f"(“{' / '.join(layout.lines)}”) | fix: rút ngắn từ đó hoặc thêm khoảng trắng"
            ]
        if layout.size < smallest:
            return [
                f"mẫu banner {template_id}: {what} phải thu xuống cỡ {layout.size}, nhỏ hơn min_size {smallest}, "
                f"khó đọc | fix: rút ngắn {what}"
            ]
        return []
