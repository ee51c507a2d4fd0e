"""How much does the template machinery cost over drawing the same banner by hand with Pillow? Which PNG settings?

Run: python bench/bench_banners.py [N]   (default N=40)

Draws a realistic 1200×630 story banner (gradient, logo, campaign name, a three-line title that has to shrink,
subtitle, progress bar with label, footer) through ``draw_banner`` with the file cache bypassed, and the same
elements hand-coded with bare Pillow (same fonts, sizes and line breaks, fonts and gradient preloaded: the floor any
implementation pays). Figures are CPU time of this process (``time.process_time``), medians, the variants
interleaved, since wall time on a shared 2-core box swings with the neighbours' load:

* first render of a new title: every render has a title never seen (its words never measured at any size, no
  layout memoized): what a new story costs;
* repeat: the same texts again (layouts memoized): another unit's channel, a redraw;
* the CPU ceiling of this run: banners per second per core at the first-render cost.

Then the PNG table (CPU ms and KB per zlib level, on the story banner and on a photo banner) with the level that
costs least for ``encode + UPLOADS × size at UPLOAD_MS_PER_KB``, and a cache hit of ``render_banner``.
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

from bot.banners import BannerTemplate, TextLayout, draw_banner, get_font, layout_engine_info, layout_text  # noqa: E402
from bot.banners import fonts as banner_fonts  # noqa: E402
from bot.banners import layout as banner_layout  # noqa: E402
from bot.banners import render as banner_render  # noqa: E402

#: A banner is encoded once and uploaded to its unit's channels (Facebook and Zalo: about two uploads, since each
#: unit's banner carries its own name), over provincial links of about 10 Mbit/s (0.8 ms per KB).
UPLOADS = 2
UPLOAD_MS_PER_KB = 0.8

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


#: Words for new titles: every render gets a title no earlier render had.
WORDS = (
    "sáng kiến cải tiến quy trình đóng gói sản phẩm nông sản giúp tiết kiệm điện nước nhân công thời gian "
    "công nhân kỹ sư tổ trưởng Nhà máy Công ty Cổ phần Ninh Thuận Phan Rang Tháp Chàm muối hạt điều nho táo "
    "máy bóc vỏ tự động bán lần năm tháng đồng triệu tấn dây chuyền an toàn lao động đoàn viên người"
).split()


def new_titles(count: int) -> list[str]:
    """Titles of 14 to 24 words, each never drawn before (one word made unique), like a queue of new stories."""
    titles = []
    for n in range(count):
        words = [WORDS[(n * 7 + i * 13) % len(WORDS)] for i in range(14 + n % 11)]
        words[n % len(words)] = f"{words[n % len(words)]}-{n}"
        titles.append(" ".join(words).capitalize())
    return titles


def forget_measurements() -> None:
    """What a new title finds: no layout memoized, no word measured (glyph boxes and loaded fonts stay)."""
    banner_layout._layout_cached.cache_clear()
    forget_words()


def forget_words() -> None:
    """No word of the title measured at any size."""
    for face in list(banner_fonts._FACES.values()):
        face._words.clear()
    banner_fonts._UNIT_ADVANCES.clear()


def cpu_ms(func: Callable[[], object]) -> float:
    start = time.process_time()
    func()
    return (time.process_time() - start) * 1000


def interleaved(variants: dict[str, Callable[[], object]], n: int) -> dict[str, list[float]]:
    """Round-robin the variants so that load from other processes (a shared 2-core box) hits them alike."""
    for func in variants.values():
        func()  # warm fonts, gradient, glyph boxes, logo
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(n):
        for name, func in variants.items():
            times[name].append(cpu_ms(func))
    return times


def title_layout(title: str) -> TextLayout:
    return layout_text(title, 1120, 220, size=64, min_size=36, max_lines=3, weight="bold")


def bare_pillow_factory(root: Path) -> Callable[[TextLayout], Image.Image]:
    """The same banner hand-coded: line breaks and sizes given (those the template chose), preloaded fonts, logo
    and gradient. Everything a template engine adds (Jinja, fitting, compositing layers) is absent."""
    semibold, medium = get_font("semibold", 30), get_font("medium", 30)
    regular, label_font = get_font("regular", 26), get_font("semibold", 20)
    mask = Image.linear_gradient("L").resize((W, H))
    gradient = Image.composite(Image.new("RGB", (W, H), (127, 0, 0)), Image.new("RGB", (W, H), (183, 28, 28)), mask)
    logo = Image.open(root / "assets" / "logo.png").convert("RGBA").resize((110, 110), Image.Resampling.LANCZOS)
    footer = CONTEXT["unit"]["name"]
    footer_width = regular.getlength(footer)

    def draw(title: TextLayout) -> Image.Image:
        bold = get_font("bold", title.size)
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


def photo_banner() -> Image.Image:
    """The sample campaign's full-bleed photo template (banners/anh-tran.yaml): the other kind of image to encode."""
    import yaml

    folder = Path(__file__).resolve().parents[1] / "banners"
    data = yaml.safe_load((folder / "anh-tran.yaml").read_text(encoding="utf-8"))["banner"]
    return draw_banner(BannerTemplate.model_validate(data), {**CONTEXT, "photo": ""}, folder)


def png_table(images: dict[str, Image.Image], n: int) -> None:
    levels = list(range(1, 10))
    print(f"PNG settings (CPU ms / KB per image; cost = encode + {UPLOADS} uploads × KB × {UPLOAD_MS_PER_KB} ms):")
    header = "  " + f"{'setting':18s}" + "".join(f"{name:>24s}" for name in images) + f"{'cost':>10s}"
    print(header)
    costs: dict[int, float] = {}
    for level in levels:
        cells = []
        cost = 0.0
        for image in images.values():
            sizes: list[int] = []

            def encode(image: Image.Image = image, sizes: list[int] = sizes, level: int = level) -> None:
                buffer = io.BytesIO()
                image.save(buffer, format="PNG", compress_level=level)
                sizes.append(buffer.tell())

            ms = statistics.median(cpu_ms(encode) for _ in range(max(5, n // 4)))
            kb = sizes[-1] / 1024
            cells.append(f"{ms:8.1f} ms {kb:7.1f} KB")
            cost += ms + UPLOADS * kb * UPLOAD_MS_PER_KB
        costs[level] = cost / len(images)
        chosen = " (in use)" if level == banner_render.PNG_COMPRESS_LEVEL else ""
        print(f"  {'level ' + str(level) + chosen:18s}" + "".join(f"{c:>24s}" for c in cells) + f"{costs[level]:8.1f} ms")
    best = min(costs, key=costs.__getitem__)
    print(f"  least cost: level {best}; in use: level {banner_render.PNG_COMPRESS_LEVEL}")
    for label, image in images.items():
        buffer = io.BytesIO()
        ms = cpu_ms(lambda image=image, buffer=buffer: image.save(buffer, format="JPEG", quality=92, subsampling=0))
        print(f"  JPEG q92 4:4:4, {label}: {ms:.1f} ms {buffer.tell() / 1024:.1f} KB (for comparison: lossy, larger)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    template = BannerTemplate.model_validate(TEMPLATE)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "banners"
        make_logo(root / "assets" / "logo.png")
        print(f"text layout: {layout_engine_info()}")
        print(f"{n} renders of a {W}×{H} banner per variant, CPU ms per banner (median, interleaved)")
        titles = new_titles(n + 1)
        bare = bare_pillow_factory(root)
        bare_layouts = [title_layout(title) for title in titles]  # the floor is given its line breaks for free
        repeat_layout = title_layout(CONTEXT["title"])
        forget_measurements()
        queue = iter(range(n + 1))
        current = [0]

        def first_render() -> None:
            current[0] = next(queue)
            forget_words()  # the words of earlier titles do not help a new one (a pessimistic floor)
            draw_banner(template, {**CONTEXT, "title": titles[current[0]]}, root)

        variants: dict[str, Callable[[], object]] = {
            "first render of a new title": first_render,
            "bare Pillow, the same title": lambda: bare(bare_layouts[current[0]]),
            "repeat (same texts, layouts memoized)": lambda: draw_banner(template, CONTEXT, root),
            "bare Pillow, the repeat's title": lambda: bare(repeat_layout),
        }
        timings = interleaved(variants, n)
        for name, times in timings.items():
            print(f"  {name:40s} median {statistics.median(times):6.2f} ms   min {min(times):6.2f} ms")
        median = {name: statistics.median(times) for name, times in timings.items()}
        first_ratio = statistics.median(
            mine / floor
            for mine, floor in zip(
                timings["first render of a new title"], timings["bare Pillow, the same title"], strict=True
            )
        )
        repeat_ratio = median["repeat (same texts, layouts memoized)"] / median["bare Pillow, the repeat's title"]
        print(f"  ratio to bare Pillow: first render {first_ratio:.2f} (target ≤ 1.30), repeat {repeat_ratio:.2f}")
        ceiling = 1000 / median["first render of a new title"]
        print(f"  CPU ceiling: {ceiling:.0f} new banners per second per core (drawing only, before PNG)")

        png_table({"story (gradient, text)": draw_banner(template, CONTEXT, root), "photo (anh-tran)": photo_banner()}, n)

        cache = Path(tmp) / "cache"
        start = time.process_time()
        path = banner_render.render_banner(template, CONTEXT, root, cache)
        made = (time.process_time() - start) * 1000
        hit = statistics.median(
            cpu_ms(lambda: banner_render.render_banner(template, CONTEXT, root, cache)) for _ in range(n)
        )
        print(
            f"render_banner: first call {made:.2f} ms CPU (draw + PNG + fsync), cache hit {hit:.3f} ms; "
            f"{path.stat().st_size / 1024:.1f} KB"
        )


if __name__ == "__main__":
    main()
