"""Text layout: fit a text into a box (wrap, balance, shrink, ellipsis), never outside it.

Fitting a new title is the one part of a banner that costs more than drawing it (Pillow's shaping of every
candidate line), so widths come from cached word advances (:class:`bot.banners.fonts.Face`) and only the lines
that are kept, or that sit within a few pixels of the box's edge, are shaped whole.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.banners import fonts
from bot.banners.fields import SMALLEST_SIZE, WEIGHTS
from bot.banners.fonts import MARKS, Face, Words, margin
from bot.vn import nfc

log = logging.getLogger(__name__)

#: Line pitch in em. Mixed case needs 1.3; stacked capitals (Ệ, Ấ, Ể) rise about 0.17 em above the font's ascent and
#: the dot below hangs under the baseline, so an all-caps block needs 1.45 for lines not to touch.
PITCH_MIXED = 1.3
PITCH_CAPS = 1.45
ELLIPSIS = "…"


@dataclass(frozen=True)
class TextLayout:
    """Where each line goes. ``origins`` are the left-baseline anchors ("ls") relative to the box's top-left corner;
    ``ink`` is the bounding box of everything drawn, relative to the box, and always lies inside (0, 0, w, h)."""

    size: int
    weight: str
    lines: tuple[str, ...]
    origins: tuple[tuple[int, int], ...]
    ink: tuple[int, int, int, int]
    pitch: float
    truncated: bool = False
    broken_words: bool = False


@dataclass
class _Fit:
    size: int
    lines: list[str]
    truncated: bool = False
    broken: bool = False


def _clusters(word: str) -> list[str]:
    """Split into user-perceived characters closely enough for breaking: a base plus its combining marks."""
    clusters: list[str] = []
    for char in word:
        if clusters and unicodedata.combining(char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _is_caps(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and not any(char.islower() for char in letters)


def _prepare(text: str, uppercase: bool) -> list[list[str]]:
    """NFC, optional upper case, then paragraphs (hard line breaks) of words. Only U+0020 separates words, so a
    no-break space (U+00A0) glues "1.000\u00a0sáng kiến" or "TP.\u00a0Phan Rang" together on one line."""
    text = nfc(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if uppercase:
        text = text.upper()
    paragraphs = [[word for word in para.split(" ") if word] for para in text.split("\n")]
    while paragraphs and not paragraphs[0]:
        paragraphs.pop(0)
    while paragraphs and not paragraphs[-1]:
        paragraphs.pop()
    return paragraphs


def _break_word(word: str, face: Face, width: int) -> list[str] | None:
    """Greedy split of an over-long word (a URL, a hashtag) into pieces that fit; None if one character does not."""
    pieces: list[str] = []
    current = ""
    for cluster in _clusters(word):
        candidate = current + cluster
        if face.width(candidate) <= width:
            current = candidate
            continue
        if not current:
            return None
        pieces.append(current)
        current = cluster
        if face.width(current) > width:
            return None
    if current:
        pieces.append(current)
    return pieces


def _wrap(
    paragraphs: list[list[str]], face: Face, width: int, allow_break: bool, limit: float
) -> tuple[list[str], bool] | None:
    """Greedy word wrap. None when a word is wider than the box and breaking is not allowed (the caller shrinks
    first), or when more than ``limit`` lines would be needed (stop early: that size is already lost).

    A line grows word by word; its width is estimated from word advances measured once (:class:`Words`), and only
    a candidate within a few pixels of the edge is shaped whole, so the breaks are those of shaping every candidate
    while a new title costs one ``getlength`` per word instead of one per word, line and size tried."""
    lines: list[str] = []
    broken = False
    near = margin(face)
    for words in paragraphs:
        if not words:
            lines.append("")
            continue
        exact = bool(MARKS.search(" ".join(words)))
        run = None if exact else Words(face, words, estimated=True)
        start: int | None = None  # index of the current line's first word
        for index, word in enumerate(words):
            if start is not None:
                if _fits_line(face, words, run, start, index + 1, width, near):
                    continue
                lines.append(" ".join(words[start:index]))
                start = None
            if _fits_line(face, words, run, index, index + 1, width, near):
                start = index
            else:
                if not allow_break:
                    return None
                pieces = _break_word(word, face, width)
                if pieces is None:
                    return None
                broken = True
                lines.extend(pieces[:-1])
                words = [*words[:index], pieces[-1], *words[index + 1 :]]
                run = None if run is None else Words(face, words, estimated=True)
                start = index
            if len(lines) > limit:
                return None
        if start is not None:
            lines.append(" ".join(words[start:]))
        if len(lines) > limit:
            return None
    return lines, broken


def _fits_line(face: Face, words: list[str], run: Words | None, start: int, end: int, width: int, near: int) -> bool:
    """Whether ``words[start:end]`` fit on one line: estimated, and shaped whole when the estimate is within
    ``near`` pixels of the edge (or when there is no estimate: combining marks), so the answer is the shaper's."""
    if run is not None:
        estimate = run.width(start, end)
        if abs(estimate - width) > near:
            return estimate <= width
    return face.width(" ".join(words[start:end])) <= width


def _block(face: Face, lines: list[str], pitch: float) -> tuple[list[int], int, int, list[tuple[int, int, int, int]]]:
    """Baselines (first at 0), block top and bottom (nominal ascent/descent or ink, whichever reaches further)."""
    baselines = [round(index * pitch) for index in range(len(lines))]
    boxes = [face.measure(line) for line in lines]
    top = min([-face.ascent] + [base + box[1] for base, box in zip(baselines, boxes, strict=True)])
    bottom = max([baselines[-1] + face.descent] + [base + box[3] for base, box in zip(baselines, boxes, strict=True)])
    return baselines, top, bottom, boxes


def _fits(face: Face, lines: list[str], pitch: float, width: int, height: int) -> bool:
    baselines, top, bottom, boxes = _block(face, lines, pitch)
    return bottom - top <= height and all(box[2] - box[0] <= width for box in boxes)


def _ellipsize(line: str, face: Face, width: int) -> str:
    """End a cut line with "…": drop whole words first, then characters, and trailing punctuation before the dots."""
    text = line
    while True:
        candidate = text.rstrip(" ,.;:–—-") + ELLIPSIS
        if face.width(candidate) <= width or not text:
            return candidate if face.width(candidate) <= width else ""
        if " " in text.strip():
            text = text.rstrip().rsplit(" ", 1)[0]
        else:
            text = "".join(_clusters(text)[:-1])


def layout_text(
    text: str,
    width: int,
    height: int,
    *,
    size: int,
    min_size: int | None = None,
    max_lines: int | None = None,
    weight: str = "regular",
    align: str = "left",
    valign: str = "top",
    uppercase: bool = False,
    keep: tuple[str, ...] = (),
) -> TextLayout:
    """Fit ``text`` into a ``width``×``height`` box.

    Line breaks are balanced once the size is known (see :func:`_balance`): the same number of lines as a greedy
    wrap, of even lengths, never one word alone on the last line, and no break inside a name (``keep``: unit and
    author names; runs of capitalised words such as "Ninh Thuận" or "Hồ Chí Minh") where another break will do.

    The largest size from ``size`` down to ``min_size`` at which the words wrap into at most ``max_lines`` lines
    (default: as many as the height allows) and the block's ink fits the box. Sizes are searched by bisection
    (fitting is monotonic in size, and each try wraps the whole text), so a 64→36 shrink costs 5 tries, not 28.
    A word wider than the box first makes the text shrink; at ``min_size`` it is broken between characters.
    Only when even ``min_size`` cannot hold everything is the last line cut with "…". If not even one line fits at
    ``min_size`` (a box too small for the font), smaller sizes are tried, with a warning, rather than overflow.

    Results are memoized: the same title or unit name recurs on the banners of many units and channels.
    """
    return _layout_cached(text, width, height, size, min_size, max_lines, weight, align, valign, uppercase, keep)


@lru_cache(maxsize=4096)
def _layout_cached(
    text: str,
    width: int,
    height: int,
    size: int,
    min_size: int | None,
    max_lines: int | None,
    weight: str,
    align: str,
    valign: str,
    uppercase: bool,
    keep: tuple[str, ...] = (),
) -> TextLayout:
    if weight not in WEIGHTS:
        raise ValueError(f"unknown weight {weight!r}")
    paragraphs = _prepare(text, uppercase)
    if not paragraphs or width < 1 or height < 1:
        return TextLayout(size, weight, (), (), (0, 0, 0, 0), 0.0)
    pitch_em = PITCH_CAPS if _is_caps(" ".join(" ".join(words) for words in paragraphs)) else PITCH_MIXED
    smallest = min(min_size or size, size)

    def line_limit(face: Face, pitch: float) -> float:
        nominal = face.ascent + face.descent
        by_height = 0 if height < nominal else math.floor((height - nominal) / pitch) + 1
        return min(by_height, max_lines) if max_lines else by_height

    def attempt(font_size: int, allow_break: bool) -> _Fit | None:
        face = fonts.face(weight, font_size)
        pitch = font_size * pitch_em
        limit = line_limit(face, pitch)
        if limit < 1:
            return None
        wrapped = _wrap(paragraphs, face, width, allow_break, limit)
        if wrapped is None:
            return None
        lines, broken = wrapped
        if not lines or not _fits(face, lines, pitch, width, height):
            return None
        return _Fit(font_size, lines, broken=broken)

    def truncate(font_size: int) -> _Fit | None:
        face = fonts.face(weight, font_size)
        pitch = font_size * pitch_em
        wrapped = _wrap(paragraphs, face, width, True, math.inf)
        if wrapped is None:
            return None
        lines, broken = wrapped
        most = int(min(line_limit(face, pitch), len(lines)))
        for count in range(most, 0, -1):
            kept = lines[:count]
            if count < len(lines):
                kept[-1] = _ellipsize(kept[-1], face, width)
                if not kept[-1]:
                    continue
            if _fits(face, kept, pitch, width, height):
                return _Fit(font_size, kept, truncated=count < len(lines), broken=broken)
        return None

    fit = _largest_fit(paragraphs, weight, size, smallest, width, pitch_em, line_limit, attempt)
    if fit is None:
        fit = attempt(smallest, True)
    if fit is None:
        fit = truncate(smallest)
    if fit is None:
        for font_size in range(smallest - 1, SMALLEST_SIZE - 1, -1):
            fit = truncate(font_size)
            if fit is not None:
                log.warning(
                    "chữ %r phải thu xuống cỡ %d, nhỏ hơn min_size %d, mới vừa ô %dx%d",
                    text[:40],
                    font_size,
                    smallest,
                    width,
                    height,
                )
                break
    if fit is None:
        log.warning("chữ %r không vừa ô %dx%d ở bất kỳ cỡ nào; bỏ qua", text[:40], width, height)
        return TextLayout(size, weight, (), (), (0, 0, 0, 0), 0.0, truncated=True)
    if not fit.truncated and not fit.broken and len(fit.lines) > 1:
        face = fonts.face(weight, fit.size)
        pitch = fit.size * pitch_em
        spare = int(line_limit(face, pitch)) - len(fit.lines)
        balanced = _balance(paragraphs, fit.lines, face, width, keep, uppercase, spare)
        if balanced != fit.lines and _fits(face, balanced, pitch, width, height):
            fit.lines = balanced
    return _place(fit, weight, pitch_em, width, height, align, valign)


def _largest_fit(
    paragraphs: list[list[str]],
    weight: str,
    size: int,
    smallest: int,
    width: int,
    pitch_em: float,
    line_limit: Callable[[Face, float], float],
    attempt: Callable[[int, bool], _Fit | None],
) -> _Fit | None:
    """The largest size in [smallest, size] at which the words wrap without breaking, or None.

    Each try wraps the whole text, so few are made: sizes at which the words cannot fit whatever the breaks (their
    advances, plus the spaces that stay inside lines, exceed the lines × the width: :func:`_cannot_fit`) are
    skipped without a try, and from the largest remaining size the search steps down 1, 2, 4… sizes, then bisects
    the last step. A title usually fits one to three sizes below that bound: three tries instead of six."""
    top = size
    while top >= smallest and _cannot_fit(paragraphs, weight, top, width, pitch_em, line_limit):
        top -= 1
    if top < smallest:
        return None
    found: _Fit | None = None
    fails_at = top + 1  # the smallest size known not to fit
    probe, step = top, 1
    while found is None:
        probe = max(probe, smallest)
        found = attempt(probe, False)
        if found is None:
            if probe == smallest:
                return None
            fails_at = probe
            probe, step = probe - step, step * 2
    low, high = found.size + 1, fails_at - 1
    while low <= high:
        middle = (low + high) // 2
        larger = attempt(middle, False)
        if larger is not None:
            found, low = larger, middle + 1
        else:
            high = middle - 1
    return found


def _cannot_fit(
    paragraphs: list[list[str]],
    weight: str,
    font_size: int,
    width: int,
    pitch_em: float,
    line_limit: Callable[[Face, float], float],
) -> bool:
    """True when no wrapping can fit: a line's advance never exceeds its ink width, and with L lines at least
    (words − L) spaces stay inside lines, so the advances must add up to at most L × width. Word advances are
    scaled from :func:`fonts.unit_advance` (a fraction of a pixel off per word: allowed for). Never True for text
    with combining marks (no estimate) or when nothing can be said."""
    words = [word for paragraph in paragraphs for word in paragraph]
    if not words or MARKS.search(" ".join(words)):
        return False
    face = fonts.face(weight, font_size)
    lines = line_limit(face, font_size * pitch_em)
    if lines < 1:
        return True  # not even one line fits the height: attempt() refuses this size too
    advances = font_size * sum(fonts.unit_advance(weight, word) for word in words)
    inside = max(0.0, len(words) - lines) * face.space
    return advances + inside - 0.1 * len(words) > lines * width


# Line balancing. Costs are in units of width²: a line's cost is its slack squared (so the total is least when the
# lines are even), and each rule below costs more than any amount of slack, in this order of importance.
_ORPHAN = 8.0  # one word alone on the last line
_NAME = 4.0  # a break inside a run of capitalised words: a place or a person ("Ninh / Thuận", "Hồ Chí / Minh")
_KNOWN = 2.0  # a break inside a known name (the unit's, an author's) that is not already a capitalised run
_NUMBER = 1.0  # a number parted from what it counts ("15 / tác giả")
_QUOTED = 0.5  # a break inside a short quoted name ("“Tháng cao / điểm sáng kiến”"), when a line can hold it
_DASH = 1.0  # a line that begins with a dash (the dash stays at the end of the line before)
_CLAUSE = -0.1  # a small bonus for a break after a comma, a colon or a dash, where a reader pauses anyway
_OPENING = "\"'“‘«([„"
_CLOSING = "\"'”’»)].,;:!?…"
_DASHES = {"–", "—", "-"}


def _bare(word: str) -> str:
    return word.strip(_OPENING + _CLOSING).casefold()


def _capitalised(word: str) -> bool:
    letters = word.lstrip(_OPENING)
    return bool(letters) and letters[0].isupper()


def _glue(words: list[str], keep: tuple[str, ...], all_caps: bool) -> list[float]:
    """The cost of breaking after each word (the last entry is unused): see the constants above."""
    glue = [0.0] * len(words)
    for i in range(len(words) - 1):
        left, right = words[i], words[i + 1]
        ends_clause = left[-1:] in _CLOSING and left[-1:] not in "\"'”’»)" or left in _DASHES
        if not all_caps and not ends_clause and _capitalised(left) and _capitalised(right):
            glue[i] += _NAME
        if re.fullmatch(r"[\d.,%]+", left.strip(_OPENING)) and right not in _DASHES and not ends_clause:
            glue[i] += _NUMBER
        if right in _DASHES:
            glue[i] += _DASH
        if left[-1:] in ",:;" or left in _DASHES:
            glue[i] += _CLAUSE
    start: int | None = None
    for i, word in enumerate(words):
        if word.startswith("“") and "”" not in word:
            start = i
        elif start is not None and "”" in word:
            if i - start < 6:  # a name or a motto; a long quotation may break anywhere
                for k in range(start, i):
                    glue[k] += _QUOTED
            start = None
    bare = [_bare(word) for word in words]
    for phrase in keep:
        parts = [_bare(part) for part in nfc(phrase).split() if _bare(part)]
        if len(parts) < 2:
            continue
        for start in range(len(words) - len(parts) + 1):
            if bare[start : start + len(parts)] == parts:
                for i in range(start, start + len(parts) - 1):
                    glue[i] = max(glue[i], _KNOWN)
    return glue


def _balance(
    paragraphs: list[list[str]],
    greedy: list[str],
    face: Face,
    width: int,
    keep: tuple[str, ...],
    all_caps: bool,
    spare: int = 0,
) -> list[str]:
    """The greedy lines rearranged: per paragraph, the same number of lines as greedy wrapping, chosen by dynamic
    programming for the least cost (even lengths; the orphan, name, number and dash rules). Greedy leaves
    "tỉnh Ninh / Thuận" or one word alone under two full lines; a reader sees the title as a block instead.
    When no arrangement with that many lines avoids breaking a rule and the box has room (``spare`` lines), one
    more line is used. Falls back to the greedy lines if the paragraphs do not match them (never expected)."""
    out: list[str] = []
    at = 0
    for words in paragraphs:
        if not words:
            out.append("")
            at += 1
            continue
        count = 0
        joined = " ".join(words)
        taken = ""
        while at + count < len(greedy) and taken != joined:
            taken = greedy[at + count] if not taken else f"{taken} {greedy[at + count]}"
            count += 1
        if taken != joined:
            return greedy
        at += count
        lines, cost = _balance_paragraph(words, count, face, width, keep, all_caps)
        if spare > 0 and cost >= float(width) ** 2 and count < len(words):
            more, more_cost = _balance_paragraph(words, count + 1, face, width, keep, all_caps)
            if more_cost < cost:
                lines, spare = more, spare - 1
        out.extend(lines)
    return out if at == len(greedy) else greedy


def _balance_paragraph(
    words: list[str], count: int, face: Face, width: int, keep: tuple[str, ...], all_caps: bool
) -> tuple[list[str], float]:
    """The best ``count`` lines for one paragraph and their cost (see the constants above)."""
    if count <= 1:
        return [" ".join(words)], 0.0
    glue = _glue(words, keep, all_caps)
    unit = float(width) ** 2
    exact = bool(MARKS.search(" ".join(words)))
    lines = _best_lines(words, count, face, width, glue, unit, exact)
    if lines is not None and not exact and any(face.width(line) > width for line in lines[0]):
        lines = _best_lines(words, count, face, width, glue, unit, True)  # kerning made a line too wide
    if lines is None:
        return _greedy_paragraph(words, face, width), math.inf
    return lines


def _best_lines(
    words: list[str], count: int, face: Face, width: int, glue: list[float], unit: float, exact: bool
) -> tuple[list[str], float] | None:
    n = len(words)
    run = Words(face, words)
    # cost[i][j]: the line words[i:j] (slack²), None when it does not fit; the width grows with j, so stop there.
    cost: list[dict[int, float]] = [{} for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n + 1):
            if exact:
                used = face.width(" ".join(words[i:j]))
            else:
                used = run.width(i, j)
            if used > width:
                break
            cost[i][j] = float(width - used) ** 2
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        for j in range(1, n + 1):
            for i in range(j - 1, -1, -1):
                line = cost[i].get(j)
                if line is None:
                    break  # a longer line (smaller i) does not fit either
                if best[k - 1][i] == inf:
                    continue
                total = best[k - 1][i] + line
                if j < n:
                    total += glue[j - 1] * unit
                if k == count and j == n and j - i == 1 and n > 1:
                    total += _ORPHAN * unit
                if total < best[k][j]:
                    best[k][j], back[k][j] = total, i
    if best[count][n] == inf:
        return None
    lines: list[str] = []
    j = n
    for k in range(count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1], best[count][n]


def _greedy_paragraph(words: list[str], face: Face, width: int) -> list[str]:
    wrapped = _wrap([words], face, width, False, math.inf)
    return wrapped[0] if wrapped else [" ".join(words)]


def _place(fit: _Fit, weight: str, pitch_em: float, width: int, height: int, align: str, valign: str) -> TextLayout:
    face = fonts.face(weight, fit.size)
    pitch = fit.size * pitch_em
    baselines, top, bottom, boxes = _block(face, fit.lines, pitch)
    slack = height - (bottom - top)
    offset = {"top": 0, "middle": slack // 2, "bottom": slack}[valign]
    first_baseline = offset - top
    origins = []
    lefts, rights = [], []
    for base, (left, _, right, _) in zip(baselines, boxes, strict=True):
        if align == "center":
            x = (width - (right - left)) // 2 - left
        elif align == "right":
            x = width - right
        else:
            x = -left
        origins.append((x, first_baseline + base))
        lefts.append(x + left)
        rights.append(x + right)
    ink = (min(lefts), offset, max(rights), offset + bottom - top)
    return TextLayout(fit.size, weight, tuple(fit.lines), tuple(origins), ink, pitch, fit.truncated, fit.broken)


def keep_phrases(context: Mapping[str, Any]) -> tuple[str, ...]:
    """Names that a line break should not split: the unit's name and short name, and the ``names`` the caller
    passes (every unit of the campaign, the story's authors). Sorted, so that they can be part of a cache key."""
    found: set[str] = set()
    unit = context.get("unit")
    if isinstance(unit, Mapping):
        found.update(str(unit.get(key) or "") for key in ("name", "short_name"))
    names = context.get("names")
    if isinstance(names, list | tuple | set | frozenset):
        found.update(str(name) for name in names if name)
    return tuple(sorted(nfc(name).strip() for name in found if name and " " in str(name).strip()))
