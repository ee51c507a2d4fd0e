"""Pages people look at: the preview calendar (`campaign-bot preview`) and the campaign report
(`campaign-bot report`).

Both are static sites that work offline: HTML from Jinja2 templates with autoescape on (every
piece of content is escaped), local CSS with a print stylesheet, the Be Vietnam Pro font copied
from its PyPI package, charts drawn as inline SVG on the server. Vietnamese everywhere: dates
24/11/2026, numbers 1.000.000, times in the campaign's timezone.
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import re
import shutil
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.files import atomic_write_text  # noqa: F401  (re-exported for preview and report)
from bot.load import KIND_LABELS
from bot.vn import TZ, ngay, ngay_gio, phan_tram, so, thu  # noqa: F401  (phan_tram re-exported)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

LEVEL_LABELS = {
    "province": "Liên đoàn Lao động tỉnh",
    "district": "LĐLĐ huyện, thành phố",
    "sector": "Công đoàn ngành",
    "civil_servants": "Công đoàn Viên chức",
    "industrial_zone": "Công đoàn các Khu công nghiệp",
    "grassroots": "Công đoàn cơ sở",
}
LEVEL_ORDER = list(LEVEL_LABELS)
OUTBOX_LABEL = "thư mục outbox (chưa đăng thật)"
FONT_WEIGHTS = {"400": "Regular", "600": "SemiBold", "700": "Bold"}


def level_label(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


def platform_label(platform: str) -> str:
    """The platform's Vietnamese label from its registered spec (bot.channels.spec); "outbox" is the folder."""
    from bot.channels import spec

    if platform == "outbox":
        return OUTBOX_LABEL
    return spec.labels().get(platform, platform)


def platforms() -> list[tuple[str, str]]:
    """Every registered platform as (name, label), for the pages' filters and legends."""
    from bot.channels import spec

    return sorted(spec.labels().items())


def platform_class(platform: str) -> str:
    """The CSS class of a platform's badges and avatars (a safe identifier, see :func:`platform_styles`)."""
    return "pf-" + re.sub(r"[^a-z0-9_-]", "-", platform.lower())


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _darkened(color: tuple[float, float, float], against: tuple[float, float, float]) -> tuple[float, float, float]:
    """``color`` darkened until its contrast with ``against`` reaches WCAG AA for text (4.5:1)."""
    while _contrast(color, against) < 4.6 and sum(color) > 0:
        color = _mix(color, (0, 0, 0), 0.08)
    return color


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def brand_color(platform: Any) -> tuple[float, float, float]:
    """The spec's ``color`` ("#1877f2") when it declares one; else a hue chosen from its name, stable."""
    text = str(getattr(platform, "color", "") or "")
    if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
    hue = int(hashlib.sha256(platform.name.encode()).hexdigest()[:4], 16) % 360 / 360
    return tuple(c * 255 for c in colorsys.hls_to_rgb(hue, 0.45, 0.75))  # type: ignore[return-value]


def platform_styles() -> str:
    """``static/platforms.css``: a badge and an avatar colour per registered platform, each with text
    that keeps WCAG AA contrast; a platform added to the registry gets its own without editing a file."""
    from bot.channels import spec

    white = (255.0, 255.0, 255.0)
    rules = []
    for p in spec.all_specs():
        brand = brand_color(p)
        tint = _mix(brand, white, 0.9)
        cls = platform_class(p.name)
        rules.append(f".badge.{cls} {{ background: {_hex(tint)}; color: {_hex(_darkened(brand, tint))}; }}")
        rules.append(f".avatar.{cls} {{ background: {_hex(_darkened(brand, white))}; }}")
    return "\n".join(rules) + "\n"


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def gio(value: datetime | None, tz: ZoneInfo = TZ) -> str:
    """08:00 in the campaign's timezone."""
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%H:%M")


SHORT_WEEKDAYS = ["T2", "T3", "T4", "T5", "T6", "T7", "CN"]


def thu_ngan(value: date | datetime) -> str:
    """T2 … CN: the weekday in a calendar's narrow column."""
    return SHORT_WEEKDAYS[value.weekday()]


def ngay_thu(value: date | datetime | None, tz: ZoneInfo = TZ) -> str:
    """Thứ Năm 26/11/2026."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(tz).date()
    return f"{thu(value)} {ngay(value)}"


def environment(tz: ZoneInfo = TZ) -> Environment:
    """The pages' Jinja2 environment: autoescape ON, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        so=so,
        ngay=lambda v: ngay(v, tz),
        ngay_gio=lambda v: ngay_gio(v, tz),
        gio=lambda v: gio(v, tz),
        ngay_thu=lambda v: ngay_thu(v, tz),
        thu=thu,
        thu_ngan=thu_ngan,
        phan_tram=phan_tram,
        level_label=level_label,
        platform_label=platform_label,
        platform_class=platform_class,
        kind_label=kind_label,
    )
    env.globals["platforms"] = platforms
    return env


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script (and nothing injected)."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# --- writing a site ---------------------------------------------------------------------------



@cache
def _font_files() -> dict[str, Path]:
    """Be Vietnam Pro from its PyPI package (the banners use the same font)."""
    try:
        import fontpkg_be_vietnam_pro
    except ImportError:
        return {}
    root = Path(fontpkg_be_vietnam_pro.ROOT)
    out = {w: root / "files" / f"BeVietnamPro-{name}.ttf" for w, name in FONT_WEIGHTS.items()}
    out = {w: p for w, p in out.items() if p.is_file()}
    if out and (root / "LICENSE").is_file():
        out["LICENSE"] = root / "LICENSE"
    return out


def copy_static(out: Path) -> None:
    """CSS (screen and print) and the font into ``out/static/``: the page needs no network."""
    target = out / "static"
    target.mkdir(parents=True, exist_ok=True)
    for src in STATIC.iterdir():
        if src.is_file() and not src.name.startswith(".") and src.suffix != ".js":  # scripts are inlined
            shutil.copyfile(src, target / src.name)
    fonts = _font_files()
    font_css = []
    if fonts:
        (target / "fonts").mkdir(exist_ok=True)
        for weight, src in fonts.items():
            if weight == "LICENSE":
                shutil.copyfile(src, target / "fonts" / "OFL.txt")
                continue
            if not (target / "fonts" / src.name).exists():
                shutil.copyfile(src, target / "fonts" / src.name)
            font_css.append(
                "@font-face{font-family:'Be Vietnam Pro';font-style:normal;font-display:swap;"
                f"font-weight:{weight};src:url('fonts/{src.name}') format('truetype');}}"
            )
    atomic_write_text(target / "fonts.css", "\n".join(font_css) + "\n")
    atomic_write_text(target / "platforms.css", platform_styles())


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV that a Vietnamese-locale Excel opens in columns: see bot.reports.exports (";", BOM, no formulas)."""
    from bot.reports.exports import write_csv as write_table_csv

    write_table_csv(path, header, rows)
