"""Be Vietnam Pro from its PyPI package (never a system font: a server's fonts may lack Vietnamese), and
:class:`Face`, a font at one size with the measurements text fitting asks for, cached."""

from __future__ import annotations

import logging
import math
import re
import threading
import warnings
from functools import cache
from pathlib import Path

import PIL
from PIL import ImageFont, features

from bot.banners.fields import WEIGHTS, BannerError

log = logging.getLogger(__name__)

FONT_FAMILY = "Be Vietnam Pro"
_WEIGHT_FILES = {
    "regular": "Regular",
    "medium": "Medium",
    "semibold": "SemiBold",
    "bold": "Bold",
    "extrabold": "ExtraBold",
}

try:
    from importlib.metadata import version as _dist_version

    FONT_VERSION = _dist_version("fontpkg-be-vietnam-pro")
except Exception:  # noqa: BLE001 - only a cache-key ingredient
    FONT_VERSION = "unknown"


def _requested_engine() -> ImageFont.Layout:
    return ImageFont.Layout.RAQM if features.check_feature("raqm") else ImageFont.Layout.BASIC


@cache
def font_path(weight: str) -> Path:
    """The TTF for a weight name. ``fontpkg`` is young (0.2.x): if it fails, glob the font package's files."""
    try:
        import fontpkg

        path = Path(fontpkg.path(FONT_FAMILY, weight=WEIGHTS[weight]))
        if path.is_file():
            return path
        log.warning("fontpkg trả về %s nhưng tệp không tồn tại; dùng trực tiếp các tệp của gói phông", path)
    except Exception as exc:  # noqa: BLE001 - any failure of the helper falls back to the files
        log.warning("fontpkg lỗi (%s); dùng trực tiếp các tệp của gói phông", exc)
    try:
        import fontpkg_be_vietnam_pro
    except ImportError as exc:
        raise BannerError("chưa cài gói phông fontpkg-be-vietnam-pro") from exc
    candidates = sorted((Path(fontpkg_be_vietnam_pro.ROOT) / "files").glob(f"BeVietnamPro-{_WEIGHT_FILES[weight]}.ttf"))
    if not candidates:
        raise BannerError(f"không tìm thấy phông Be Vietnam Pro {weight} trong {fontpkg_be_vietnam_pro.ROOT}/files")
    return candidates[0]


#: Combining marks left after NFC (rare outside Vietnamese): such lines are measured whole, not per character.
MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u0e31\u0e34-\u0e3a"
    "\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)


class Face:
    """A font at one size plus per-character and per-word measurements.

    ``getbbox`` or ``getlength`` on a whole line costs about 0.3 ms with raqm, and fitting a title tries several
    sizes and wrappings, each growing a line word by word. A character's box and a word's advance cost the same
    once and are then dict lookups. For NFC text (every Vietnamese letter is one precomposed glyph) a line's ink is
    the union of its glyphs placed along the advance, and Be Vietnam Pro has no kerning across a space, so a line's
    advance is the sum of its words' and spaces' (:class:`Words`); callers re-measure the lines they keep with
    :meth:`width`, which shapes the whole line. Lines with combining marks (positioned by raqm relative to their
    base) are always measured whole.
    """

    def __init__(self, font: ImageFont.FreeTypeFont, weight: str = "regular") -> None:
        self.font = font
        self.weight = weight
        self.size = int(font.size)
        self.ascent, self.descent = font.getmetrics()
        self._glyphs: dict[str, tuple[int, int, int, int, float]] = {}
        self._words: dict[str, float] = {}
        self.space = font.getlength(" ")

    def glyph(self, char: str) -> tuple[int, int, int, int, float]:
        box = self._glyphs.get(char)
        if box is None:
            left, top, right, bottom = self.font.getbbox(char, anchor="ls")
            box = (left, top, right, bottom, self.font.getlength(char))
            self._glyphs[char] = box
        return box

    def advance(self, text: str) -> float:
        return self.font.getlength(text) if text else 0.0

    def word(self, word: str) -> float:
        """A word's advance, measured once per size (the same words are tried on many lines)."""
        known = self._words.get(word)
        if known is None:
            known = self._words[word] = self.font.getlength(word) if word else 0.0
            if len(self._words) > 20_000:  # a long-running worker draws many titles: keep the cache bounded
                self._words.clear()
                self._words[word] = known
        return known

    def word_width(self, word: str) -> int:
        """Ink width of one word: :meth:`width` from the cached advance."""
        if not word:
            return 0
        if MARKS.search(word):
            return self.width(word)
        return self.ink(word[0], word[-1], self.word(word))

    def ink(self, first: str, last: str, total: float) -> int:
        """Ink width of a line that starts with ``first``, ends with ``last`` and advances ``total`` pixels."""
        head = self.glyph(first)
        tail = self.glyph(last)
        return max(math.ceil(total), math.ceil(total - tail[4] + tail[2])) - min(0, head[0])

    def measure(self, line: str) -> tuple[int, int, int, int]:
        """Ink box (left, top, right, bottom) of ``line`` drawn with anchor "ls" at (0, 0); right includes advance."""
        if not line:
            return (0, 0, 0, 0)
        if MARKS.search(line):
            left, top, right, bottom = self.font.getbbox(line, anchor="ls")
            return (min(0, left), top, max(right, math.ceil(self.advance(line))), bottom)
        glyphs = [self.glyph(char) for char in set(line)]
        top = min(g[1] for g in glyphs)
        bottom = max(g[3] for g in glyphs)
        first = self.glyph(line[0])
        last = self.glyph(line[-1])
        total = self.advance(line)
        right = max(math.ceil(total), math.ceil(total - last[4] + last[2]))
        return (min(0, first[0]), top, right, bottom)

    def width(self, line: str) -> int:
        """Ink width of a line, shaped whole: one ``getlength``, no vertical work."""
        if not line:
            return 0
        if MARKS.search(line):
            left, _, right, _ = self.measure(line)
            return right - left
        return self.ink(line[0], line[-1], self.advance(line))


#: Advances are linear in the font size (HarfBuzz positions unhinted: within 1/16 px per word from 20 to 64 px), so
#: each word is measured once, at this size, and scaled to the others while a size is being searched.
REFERENCE_SIZE = 64
_UNIT_ADVANCES: dict[tuple[str, str], float] = {}


def unit_advance(weight: str, word: str) -> float:
    """A word's advance per pixel of font size (measured once at :data:`REFERENCE_SIZE`)."""
    key = (weight, word)
    known = _UNIT_ADVANCES.get(key)
    if known is None:
        known = face(weight, REFERENCE_SIZE).font.getlength(word) / REFERENCE_SIZE
        if len(_UNIT_ADVANCES) > 50_000:  # a long-running worker sees many titles: keep it bounded
            _UNIT_ADVANCES.clear()
        _UNIT_ADVANCES[key] = known
    return known


class Words:
    """A paragraph's words at one face, with prefix sums of their advances: the width of any run of words on one
    line is then two lookups (wrapping and balancing ask it for every candidate line). Be Vietnam Pro has no
    kerning across a space, so a line's advance is the sum of its words' and spaces'.

    ``estimated``: word advances scaled from :func:`unit_advance` (no shaping at this size; within a fraction of a
    pixel), for the size search, whose callers shape whole any line within :func:`margin` of the edge. Otherwise
    each word is shaped at this size (exact: advances are multiples of 1/64 px, so the sums are exact floats)."""

    def __init__(self, face: Face, words: list[str], estimated: bool = False) -> None:
        self.face = face
        self.words = words
        prefix = [0.0]
        space = face.space
        if estimated:
            size, weight = face.size, face.weight
            for word in words:
                prefix.append(prefix[-1] + unit_advance(weight, word) * size + space)
        else:
            for word in words:
                prefix.append(prefix[-1] + face.word(word) + space)
        self.prefix = prefix
        # What :meth:`Face.ink` needs of a line's ends, per word: the first glyph's overhang to the left and how far
        # the last glyph's ink reaches past its advance (so a width is two subtractions and a ceil).
        self._lefts = [min(0, face.glyph(word[0])[0]) for word in words]
        self._tails = [max(0.0, face.glyph(word[-1])[2] - face.glyph(word[-1])[4]) for word in words]

    def width(self, start: int, end: int) -> int:
        """Ink width of ``words[start:end]`` on one line (as :meth:`Face.ink` computes it)."""
        total = self.prefix[end] - self.prefix[start] - self.face.space
        return math.ceil(total + self._tails[end - 1]) - self._lefts[start]


def margin(face: Face) -> int:
    """How close to the box's edge an estimated width must be shaped whole: far above the estimate's error (under
    0.07 px a word, so about 1 px a line) at every size."""
    return 2 + face.size // 8


_FACES: dict[tuple[str, int], Face] = {}
_FACES_LOCK = threading.Lock()
_ENGINE_WARNED = False


def face(weight: str, size: int) -> Face:
    """The shared :class:`Face` of a weight name and pixel size."""
    key = (weight, size)
    found = _FACES.get(key)
    if found is None:
        with _FACES_LOCK:
            found = _FACES.get(key)
            if found is None:
                found = Face(_load_font(weight, size), weight)
                _FACES[key] = found
    return found


def _load_font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    global _ENGINE_WARNED
    engine = _requested_engine()
    if engine != ImageFont.Layout.RAQM and not _ENGINE_WARNED:
        _ENGINE_WARNED = True
        message = (
            "Pillow ở máy này không có raqm (HarfBuzz) để dàn chữ (đã cài libfribidi0 chưa?); dùng basic layout: "
            "không căn chỉnh khoảng chữ, chậm hơn, dấu rời sẽ lệch (mọi chữ đã được chuẩn hóa NFC)"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        log.warning(message)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own fallback warning is replaced by ours above
        return ImageFont.truetype(str(font_path(weight)), size, layout_engine=engine)


def get_font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    """The cached Be Vietnam Pro font object for a weight name and pixel size."""
    return face(weight, size).font


@cache
def layout_engine_name() -> str:
    """Return "raqm" when texts are shaped by HarfBuzz (correct Vietnamese, kerning), else "basic"."""
    return "raqm" if get_font("regular", 16).layout_engine == ImageFont.Layout.RAQM else "basic"


def layout_engine_info() -> str:
    """One line for the check command: engine and library versions."""
    if layout_engine_name() == "raqm":
        parts = [f"raqm {features.version('raqm')}"]
        for lib in ("harfbuzz", "fribidi"):
            version = features.version(lib)
            if version:
                parts.append(f"{lib} {version}")
        return ", ".join(parts) + f" (Pillow {PIL.__version__})"
    return f"basic (Pillow {PIL.__version__}; raqm unavailable)"
