"""Photos sent with a story: checked for what they really are, re-encoded, stripped, resized.

Why re-encode: a phone photo carries EXIF with the GPS position of the author's home or factory and
the phone's serial; a file named .jpg may be anything. Each photo is checked by
:func:`bot.images.inspect_bytes` (the real format from its bytes, Pillow's verify, the
decompression-bomb limit — the same checks the loader makes on content/ photos), then decoded once,
turned upright, reduced to :data:`SIDE` on its longer side and saved as a fresh JPEG without any
metadata, under a random name in the intake folder (never the web root, never the sender's name).
"""

from __future__ import annotations

import io
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from bot.errors import BotError
from bot.files import PRIVATE_MODE, atomic_write
from bot.images import ImageProblem, inspect_bytes

SIDE = 2048  # pixels on the longer side after resizing: sharp on a Page, small in content/
PHOTO_BYTES_MAX = 10_000_000
PHOTOS_MAX = 5
QUALITY = 85
# At most two decodes at once, on two threads of their own: 50 uploads together must not hold 50 decoded
# photos in memory, and decoding on the server's many pool threads left a big malloc arena in each of them
# (measured by bench/bench_web.py: 846 MB peak for 50 uploads at once before, see the README figures after).
_DECODES = threading.BoundedSemaphore(2)
POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="anh")


@dataclass(frozen=True)
class Photo:
    stored_name: str
    width: int
    height: int
    size: int


class PhotoError(BotError, ValueError):
    """A photo is refused; the message is Vietnamese and says what to do."""


def reencode(data: bytes) -> tuple[bytes, int, int]:
    """The photo as a clean JPEG (no EXIF, ICC-free sRGB assumption, upright, ≤ SIDE) and its size."""
    if len(data) > PHOTO_BYTES_MAX:
        raise PhotoError(f"ảnh lớn quá {PHOTO_BYTES_MAX // 1_000_000} MB: hãy gửi ảnh nhỏ hơn")
    with _DECODES:
        info = inspect_bytes(data)
        if isinstance(info, ImageProblem):
            raise PhotoError(f"{info.message}; {info.fix}")
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                img.draft("RGB", (SIDE, SIDE))  # decode at a reduced scale when the photo is much larger
            img.load()
            upright = ImageOps.exif_transpose(img)
            if upright.mode not in ("RGB", "L"):
                background = Image.new("RGB", upright.size, (255, 255, 255))
                rgba = upright.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                upright = background
            upright.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            # no exif=, no icc_profile=: Pillow writes none of the original's metadata
            upright.convert("RGB").save(out, "JPEG", quality=QUALITY)
            return out.getvalue(), upright.width, upright.height


def store_photo(folder: Path, data: bytes) -> Photo:
    """Re-encode and write one photo under a generated name (0600) in ``folder``."""
    clean, width, height = reencode(data)
    name = secrets.token_hex(16) + ".jpg"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(folder / name, clean, root=folder, mode=PRIVATE_MODE)
    return Photo(name, width, height, len(clean))


def store_photo_file(folder: Path, file: Any) -> Photo:
    """:func:`store_photo` of an uploaded (spooled) file, read here, on the photo thread."""
    file.seek(0)
    data = file.read(PHOTO_BYTES_MAX + 1)
    return store_photo(folder, data)


def photo_path(folder: Path, stored_name: str) -> Path | None:
    """The file of a stored photo, only for names this module generates (no path from a request)."""
    if len(stored_name) != 36 or not stored_name.endswith(".jpg") or not all(c in "0123456789abcdef" for c in stored_name[:32]):
        return None
    path = folder / stored_name
    return path if path.is_file() else None
