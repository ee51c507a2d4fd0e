"""How much does the template machinery cost over drawing the same banner by hand with Pillow?

Run: python bench/bench_banners.py [N]   (default N=60)

Draws a realistic 1200×630 story banner (gradient, logo, campaign name, a three-line title that has to shrink,
subtitle, progress bar with label, footer) N times through ``draw_banner`` with the file cache bypassed, and the
same elements hand-coded with bare Pillow (same fonts, sizes and line breaks, fonts and gradient preloaded: the
floor any implementation pays). Also times the encoders and a cache hit of ``render_banner``. Prints figures only.
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import banners  # noqa: E402
from bot.banners import BannerTemplate, draw_banner, get_font, layout_engine_info, layout_text, render_banner  # noqa: E402

W, H = 1200, 630
TEMPLATE = {
    "id": "story",
    "size": [W, H],
    "background": {"gradient": ["#b71c1c", "#7f0000"], "direction": "vertical"},
    "elements": [
        {"type": "image", "src": "assets/logo.png", "box": [40, 30, 110, 110]},
        {
            "type": "text",
            "text": "{{ campaign.name }}",
            "box": [170, 40, 990, 60],
            "size": 30,
            "weight": "semibold",
            "color": "#ffeb3b",
        },
        {
            "type": "text",
            "text": "{{ title }}",
            "box": [40, 170, 1120, 220],
            "size": 64,
            "min_size": 36,
            "max_lines": 3,
            "weight": "bold",
            "color": "#ffffff",
        },
        {
            "type": "text",
            "text": "{{ kind_label }} · {{ unit.short_name }}",
            "box": [40, 400, 1120, 50],
            "size": 30,
            "weight": "medium",
            "color": "#ffcdd2",
        },
        {
            "type": "progress",
            "value": "{{ metric.initiatives }}",
            "max": "{{ unit.target }}",
            "box": [40, 480, 1120, 40],
            "color": "#ffeb3b",
            "label": "{{ value | so }} / {{ max | so }} sáng kiến ({{ percent }}%)",
        },
        {
            "type": "text",
            "text": "{{ unit.name }}",
            "box": [40, 560, 1120, 40],
            "size": 26,
            "color": "#ffffff",
            "align": "right",
        },
    ],
}
CONTEXT = {
    "campaign": {"name": "Chương trình “1 triệu sáng kiến”", "slogans": ["Tự hào trí tuệ lao động Việt Nam"]},
    "title": "Sáng kiến máy bóc vỏ hạt điều bán tự động giúp tăng năng suất gấp ba lần tại Công ty Cổ phần Chế biến Nông sản Ninh Thuận",
    "kind_label": "Câu chuyện sáng kiến",
    "unit": {
        "id": "ldld-tinh",
        "name": "Liên đoàn Lao động tỉnh Ninh Thuận",
        "short_name": "LĐLĐ tỉnh",
        "target": 3000,
    },
    "metric": {"initiatives": 1250},
}


def make_logo(path: Path) -> None:
    """A 400×400 round emblem with transparency, scaled into the 110 px box like a real logo file."""
    logo = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.ellipse((8, 8, 392, 392), fill=(255, 255, 255, 255))
    draw.ellipse((36, 36, 364, 364), fill=(21, 101, 192, 255))
    draw.polygon([(200, 80), (310, 300), (90, 300)], fill=(255, 235, 59, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    logo.save(path)


def median_ms(func: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def interleaved(variants: dict[str, Callable[[], object]], n: int) -> dict[str, list[float]]:
    """Round-robin the variants so that load from other processes (a shared 2-core box) hits them alike."""
    for func in variants.values():
        func()  # warm fonts, gradient, glyph boxes, logo
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(n):
        for name, func in variants.items():
            start = time.perf_counter()
            func()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def bare_pillow_factory(root: Path) -> Callable[[], Image.Image]:
    """The same banner hand-coded: fixed line breaks and sizes (those the template chose), preloaded fonts, logo
    and gradient. Everything a template engine adds (Jinja, fitting, compositing layers) is absent."""
    title = layout_text(CONTEXT["title"], 1120, 220, size=64, min_size=36, max_lines=3, weight="bold")
    bold, semibold, medium = get_font("bold", title.size), get_font("semibold", 30), get_font("medium", 30)
    regular, label_font = get_font("regular", 26), get_font("semibold", 20)
    mask = Image.linear_gradient("L").resize((W, H))
    gradient = Image.composite(Image.new("RGB", (W, H), (127, 0, 0)), Image.new("RGB", (W, H), (183, 28, 28)), mask)
    logo = Image.open(root / "assets" / "logo.png").convert("RGBA").resize((110, 110), Image.Resampling.LANCZOS)
    footer = CONTEXT["unit"]["name"]
    footer_width = regular.getlength(footer)

    def draw() -> Image.Image:
        image = gradient.copy()
        image.paste(logo, (40, 30), logo)
        canvas = ImageDraw.Draw(image, "RGBA")
        canvas.text((170, 70), CONTEXT["campaign"]["name"], font=semibold, fill="#ffeb3b", anchor="ls")
        for index, line in enumerate(title.lines):
            canvas.text(
                (40, 170 + title.size + round(index * title.size * 1.3)), line, font=bold, fill="#ffffff", anchor="ls"
            )
        canvas.text((40, 430), "Câu chuyện sáng kiến · LĐLĐ tỉnh", font=medium, fill="#ffcdd2", anchor="ls")
        canvas.rounded_rectangle((40, 480, 1159, 519), radius=20, fill=(255, 235, 59, 64))
        canvas.rounded_rectangle((40, 480, 40 + 467, 519), radius=20, fill=(255, 235, 59, 255))
        canvas.text((600, 500), "1.250 / 3.000 sáng kiến (42%)", font=label_font, fill="#1b1b1b", anchor="mm")
        canvas.text((1160 - footer_width, 590), footer, font=regular, fill="#ffffff", anchor="ls")
        return image

    return draw


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    template = BannerTemplate.model_validate(TEMPLATE)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "banners"
        make_logo(root / "assets" / "logo.png")
        print(f"text layout: {layout_engine_info()}")
        print(f"{n} renders of a {W}×{H} banner, median per banner")

        def cold_layout() -> None:
            banners._layout_cached.cache_clear()  # a new story: fit its texts from scratch
            draw_banner(template, CONTEXT, root)

        variants: dict[str, Callable[[], object]] = {
            "draw_banner, layouts memoized (same texts)": lambda: draw_banner(template, CONTEXT, root),
            "draw_banner, layouts fitted every time": cold_layout,
            "bare Pillow, same elements hand-coded": bare_pillow_factory(root),
        }
        timings = interleaved(variants, n)
        for name, times in timings.items():
            print(f"  {name:44s} median {statistics.median(times):6.2f} ms   min {min(times):6.2f} ms")
        bare = statistics.median(timings["bare Pillow, same elements hand-coded"])
        warm = statistics.median(timings["draw_banner, layouts memoized (same texts)"])
        cold = statistics.median(timings["draw_banner, layouts fitted every time"])
        print(f"  ratio draw_banner / bare (medians): {warm / bare:.2f} memoized, {cold / bare:.2f} fitted every time")

        image = draw_banner(template, CONTEXT, root)
        print("encoding the same image:")
        for name, kwargs in [
            ("PNG level 6 (chosen)", {"format": "PNG", "compress_level": banners.PNG_COMPRESS_LEVEL}),
            ("PNG level 3", {"format": "PNG", "compress_level": 3}),
            ("PNG level 1", {"format": "PNG", "compress_level": 1}),
            ("JPEG q92, 4:4:4", {"format": "JPEG", "quality": 92, "subsampling": 0}),
            ("WebP q90", {"format": "WEBP", "quality": 90}),
        ]:
            sizes: list[int] = []

            def encode(kwargs: dict[str, object] = kwargs, sizes: list[int] = sizes) -> None:
                buffer = io.BytesIO()
                image.save(buffer, **kwargs)
                sizes.append(buffer.tell())

            print(f"  {name:22s} {median_ms(encode, max(5, n // 3)):7.2f} ms  {sizes[-1] / 1024:6.1f} KB")

        cache = Path(tmp) / "cache"
        start = time.perf_counter()
        path = render_banner(template, CONTEXT, root, cache)
        first = (time.perf_counter() - start) * 1000
        hit = median_ms(lambda: render_banner(template, CONTEXT, root, cache), n)
        print(
            f"render_banner: first call {first:.2f} ms (draw + PNG + fsync), cache hit {hit:.3f} ms; {path.stat().st_size / 1024:.1f} KB"
        )


if __name__ == "__main__":
    main()
