"""Images from the campaign folder (logos, backgrounds, story photos): checked at load, reduced once.

Why: an image is only opened for real when a banner is drawn or a post is sent, long after
``check`` said the folder was fine. A text file named ``logo.png``, a truncated JPEG or a
20000×20000 PNG then put every delivery in retry, and a 12000×12000 logo decoded in full on every
banner made a tick take 33 s. So every image is checked when the folder loads — the real format
from its bytes (never the name), Pillow's ``verify``, a decompression-bomb limit, dimensions and
size within :mod:`bot.bounds` — and a logo or background larger than the banner needs is reduced
once and kept in a cache keyed by its content.

Pillow is imported on first decode (:func:`pillow`), not with this module: the loader imports
:class:`ImageProblem` and :func:`check_image` from here, and ``import bot.load`` must not load Pillow
(a ``check`` of a folder without images, or a process that only plans, never needs it).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from bot import bounds
from bot.files import StampMemo, atomic_write
from bot.vn import so


@cache
def pillow() -> ModuleType:
    """``PIL.Image``, with the decompression-bomb limit of :mod:`bot.bounds` set. Every module that decodes an
    image calls this first: Pillow refuses (DecompressionBombError) images above twice the limit and warns above
    it; the warning is turned into a refusal in :func:`inspect_bytes`."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = bounds.IMAGE_PIXELS_MAX
    return Image


@dataclass(frozen=True)
class ImageProblem:
    message: str
    fix: str


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size: int


_CHECKED: StampMemo[ImageInfo | ImageProblem] = StampMemo(
    lambda exc: ImageProblem(f"không đọc được ảnh ({exc.strerror or type(exc).__name__})", "kiểm tra tên và quyền đọc tệp"))
_LOCK = threading.Lock()
_FIX = "dùng ảnh JPG, PNG hoặc WebP mở được bằng trình xem ảnh"


def check_image(path: Path) -> ImageInfo | ImageProblem:
    """What the image really is, or why it cannot be used. Remembered per (path, size, mtime),
    so ``run`` (which reloads the folder every minute) decodes each image once."""
    return _CHECKED.get(path, _check)


def _check(path: Path, size: int) -> ImageInfo | ImageProblem:
    if size == 0:
        return ImageProblem("tệp ảnh rỗng (0 byte)", _FIX)
    if size > bounds.IMAGE_BYTES_MAX:
        return ImageProblem(
            f"ảnh quá lớn: {so(size / 1e6, 1)} MB (tối đa {so(bounds.IMAGE_BYTES_MAX // 1_000_000)} MB)",
            "giảm kích thước ảnh (ví dụ xuất lại ở chiều rộng 2000 điểm ảnh)",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ImageProblem(f"không đọc được ảnh ({exc.strerror or type(exc).__name__})", "kiểm tra quyền đọc tệp")
    return inspect_bytes(data)


def inspect_bytes(data: bytes) -> ImageInfo | ImageProblem:
    """The checks of :func:`check_image` on bytes already read (also for downloaded images)."""
    from PIL import UnidentifiedImageError

    Image = pillow()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                fmt, (width, height) = probe.format or "", probe.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return ImageProblem(
                f"ảnh quá lớn (hơn {so(bounds.IMAGE_PIXELS_MAX // 1_000_000)} triệu điểm ảnh): giải nén sẽ tốn rất nhiều bộ nhớ",
                "thu nhỏ ảnh, ví dụ còn chiều rộng 2000 điểm ảnh",
            )
        except UnidentifiedImageError:
            return _unreadable(data)
        except (OSError, ValueError, SyntaxError, EOFError):
            return _unreadable(data)
        if fmt not in bounds.IMAGE_FORMATS:
            return ImageProblem(f"ảnh định dạng {fmt} không được hỗ trợ", "chuyển sang JPG, PNG hoặc WebP")
        if width <= 0 or height <= 0:
            return ImageProblem("ảnh không có kích thước", _FIX)
        if max(width, height) > bounds.IMAGE_SIDE_MAX or width * height > bounds.IMAGE_PIXELS_MAX:
            return ImageProblem(
                f"ảnh quá lớn: {so(width)}×{so(height)} điểm ảnh (tối đa {so(bounds.IMAGE_SIDE_MAX)} mỗi chiều, "
                f"{so(bounds.IMAGE_PIXELS_MAX // 1_000_000)} triệu điểm ảnh)",
                "thu nhỏ ảnh, ví dụ còn chiều rộng 2000 điểm ảnh",
            )
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()  # PNG: every chunk's CRC up to IEND; a truncated PNG fails here
            if fmt != "PNG":
                with Image.open(io.BytesIO(data)) as img:
                    if fmt == "JPEG":
                        img.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # decode every byte, 1/64 of the memory
                    img.load()  # a truncated JPEG or WebP fails here
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            return ImageProblem(f"ảnh {fmt} bị hỏng hoặc không trọn vẹn ({str(exc)[:80]})", "lưu hoặc tải lại ảnh")
    return ImageInfo(fmt, width, height, len(data))


def _unreadable(data: bytes) -> ImageProblem:
    head = data[:64].lstrip()
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return ImageProblem("tệp này thực chất là một tệp chữ, không phải ảnh (đọc theo nội dung, không theo đuôi tên)", _FIX)
    return ImageProblem("tệp này không phải ảnh đọc được (đọc theo nội dung, không theo đuôi tên)", _FIX)


# --- reduced copies for banners ---------------------------------------------------------------


def cache_dir() -> Path:
    """Where reduced copies live: ``CAMPAIGN_IMAGE_CACHE``, else the user's cache folder."""
    chosen = os.environ.get("CAMPAIGN_IMAGE_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "campaign-bot" / "anh"


_REDUCED: dict[str, bytes] = {}
_REDUCE_LOCK = threading.Lock()


def banner_bytes(path: Path, data: bytes | None = None) -> bytes:
    """The bytes a banner should decode for this logo or background: the file itself when it is
    small enough, else a copy reduced to :data:`bounds.IMAGE_REDUCE_SIDE` on its longer side,
    made once and cached by content (memory, then disk)."""
    data = path.read_bytes() if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    with _LOCK:
        cached = _REDUCED.get(digest)
    if cached is not None:
        return cached
    # One decode at a time: the worker draws banners on several threads, and eight threads each
    # decoding the same 6000×3000 logo would need eight times its memory.
    Image = pillow()
    with _REDUCE_LOCK:
        with _LOCK:
            cached = _REDUCED.get(digest)
        if cached is not None:
            return cached
        result = data
        with Image.open(io.BytesIO(data)) as probe:
            size = probe.size
        if max(size) > bounds.IMAGE_REDUCE_SIDE:
            stored = cache_dir() / f"{digest[:32]}-{bounds.IMAGE_REDUCE_SIDE}.png"
            try:
                result = stored.read_bytes()
            except OSError:
                result = _reduce(data)
                try:
                    atomic_write(stored, result)
                except OSError:
                    pass  # a read-only home: the memory cache still spares the next banners
    with _LOCK:
        if len(_REDUCED) > 64:
            _REDUCED.clear()
        _REDUCED[digest] = result
    return result


def _reduce(data: bytes) -> bytes:
    from PIL import ImageOps

    Image = pillow()
    side = bounds.IMAGE_REDUCE_SIDE
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            img.draft("RGB", (side, side))
        img.load()
        ImageOps.exif_transpose(img, in_place=True)  # a copy would double the peak memory
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA")
        buf = io.BytesIO()
        img.save(buf, "PNG", optimize=False)
    return buf.getvalue()
