"""Banners as PNG files, drawn once per distinct input: the cache key and the encoding.

Output format: PNG, with the settings below chosen by measurement (bench/bench_banners.py prints the table: size
against time for each zlib level and filter). JPEG is about six times faster to encode but two and a half times
larger, with ringing around thin strokes and diacritics; a banner is encoded once and then uploaded to every channel,
often over slow provincial links, so the encode time hardly matters while PNG is both crisper and smaller for flat
colours and text, and keeps transparency when a template has it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import PIL

from bot.banners.canvas import collect_assets, draw
from bot.banners.draw import Asset
from bot.banners.fonts import FONT_VERSION, layout_engine_name
from bot.banners.layout import keep_phrases
from bot.banners.schema import BannerTemplate, used_names
from bot.files import atomic_write
from bot.vn import nfc

#: Part of every cache key: bump it whenever a change here alters the pixels, so cached banners are redrawn.
RENDERER_VERSION = "3"

#: zlib level for PNG, chosen from bench/bench_banners.py's table: the cost of encoding once (CPU) plus two uploads
#: of the file at 10 Mbit/s, on a story banner (gradient, text) and a photo banner. Levels 4, 5 and 6 tie within the
#: noise of a shared box (212–225 ms in four runs; 4 or 5 least each time), 5 in the middle: against Pillow's default
#: 6, files 1–2 % larger and photos encoded 15–35 % faster. Levels 7–9 buy under 3 % of size for 1.1–5 times the
#: time; 1–3 save time but grow the files 10–20 %.
PNG_COMPRESS_LEVEL = 5
#: Pillow's save options for every banner.
PNG_OPTIONS: dict[str, Any] = {"format": "PNG", "compress_level": PNG_COMPRESS_LEVEL}


def _plain(value: Any) -> Any:
    """JSON-ready copy of a context: str keys (so keys sort), sets in a stable order; the rest via default=str."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=str)
    return value


def banner_key(template: BannerTemplate, context: Mapping[str, Any], assets: Mapping[str, Asset]) -> str:
    """SHA-256 of everything that decides the pixels: renderer version, Pillow/font/engine, template, the context
    values it reads, and the bytes of each asset (an edited logo under the same name gets a new banner)."""
    used = used_names(template)
    payload = {
        "renderer": RENDERER_VERSION,
        "pillow": PIL.__version__,
        "font": FONT_VERSION,
        "engine": layout_engine_name(),
        "template": template.model_dump(mode="json"),
        "context": _plain({key: value for key, value in context.items() if key in used}),
        "keep": list(keep_phrases(context)),
        "assets": {source: asset.digest for source, asset in assets.items()},
    }
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(nfc(blob).encode("utf-8")).hexdigest()


def render_banner(template: BannerTemplate, context: Mapping[str, Any], assets_root: Path, cache_dir: Path) -> Path:
    """The banner as a PNG in ``cache_dir`` named by the hash of its inputs; drawn only if that file is missing.

    The file is written to a temporary name, synced and renamed into place, so a reader (or a second worker
    drawing the same banner) never sees a half-written PNG.
    """
    assets, background_asset, per_element = collect_assets(template, context, Path(assets_root))
    digest = banner_key(template, context, assets)
    target = Path(cache_dir) / f"{digest[:20]}.png"
    if target.is_file():
        return target
    image = draw(template, context, background_asset, per_element)
    encoded = io.BytesIO()
    image.save(encoded, **PNG_OPTIONS)
    atomic_write(target, encoded.getvalue())
    return target
