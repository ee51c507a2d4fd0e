"""A guide's PDF document: checked at load, its first page rendered as the post's cover.

Why: the plan asks the unions to share electronic guides ("tài liệu điện tử về hướng dẫn quy trình …").
A guide names its PDF with ``document:``; the PDF goes to the media store (the same public store as
Zalo's images, see :mod:`bot.media`), and the post carries an image of its first page and the link.
A file that is not a PDF, is locked by a password, is empty or absurdly large is refused when the
folder loads, with the file, the line and the fix — not when the post is due.

The PDF is read by PDFium through ``pypdfium2`` (see pyproject.toml): the renderer of Chromium, kept
up to date with it and fuzzed with it, so a hand-made or broken PDF from a district office is read by
code built for hostile input. Only the page count, the title and page 1 are read; the page is rendered
at a bounded size.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.errors import BotError
from bot.files import StampMemo
from bot.vn import nfc, so

DOCUMENT_BYTES_MAX = 50_000_000  # a guide of a few hundred pages with photos; Zalo and staff phones download it
PAGES_MAX = 2_000
COVER_WIDTH = 1200  # pixels: Facebook's recommended post image width
COVER_PIXELS_MAX = 6_000_000  # a page with an absurd aspect is rendered no larger than this
TITLE_MAX = 200
_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class DocumentProblem:
    message: str
    fix: str


@dataclass(frozen=True)
class DocumentInfo:
    size: int
    pages: int
    title: str  # the PDF's own title, '' when it has none
    sha256: str


class DocumentError(BotError):
    def __init__(self, problem: DocumentProblem) -> None:
        super().__init__(f"{problem.message} — cách sửa: {problem.fix}")
        self.problem = problem


_CHECKED: StampMemo[DocumentInfo | DocumentProblem] = StampMemo(lambda exc: DocumentProblem(
    f"không đọc được tài liệu ({exc.strerror or type(exc).__name__})", "kiểm tra tên và quyền đọc tệp"))
# PDFium is not thread-safe (pypdfium2's documentation): one document open at a time in this process.
_PDFIUM = threading.Lock()
_FIX = "xuất lại tài liệu thành PDF (trong Word: Tệp → Lưu thành → PDF) và ghi đúng đường dẫn"


def check_document(path: Path) -> DocumentInfo | DocumentProblem:
    """What the PDF is, or why it cannot be published. Remembered per (path, size, mtime)."""
    return _CHECKED.get(path, _check)


def _check(path: Path, size: int) -> DocumentInfo | DocumentProblem:
    if size == 0:
        return DocumentProblem("tệp tài liệu rỗng (0 byte)", "chép lại tệp PDF; tệp có thể chưa tải xong")
    if size > DOCUMENT_BYTES_MAX:
        return DocumentProblem(
            f"tài liệu quá lớn: {so(size / 1e6, 1)} MB (tối đa {so(DOCUMENT_BYTES_MAX // 1_000_000)} MB)",
            "xuất lại PDF với ảnh nén (trong Word: Tệp → Lưu thành → PDF → Kích thước tối thiểu)",
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        return DocumentProblem(f"không đọc được tài liệu ({exc.strerror or type(exc).__name__})", "kiểm tra quyền đọc tệp")
    if _MAGIC not in head:
        return DocumentProblem("tệp không phải PDF (nội dung không bắt đầu bằng %PDF)", _FIX)
    import pypdfium2 as pdfium

    digest = _sha256(path)
    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                return DocumentProblem("tài liệu PDF có mật khẩu", "xuất lại PDF không đặt mật khẩu mở tệp")
            return DocumentProblem("tệp PDF hỏng, không mở được", _FIX)
        try:
            pages = len(pdf)
            try:
                title = str(pdf.get_metadata_dict().get("Title") or "")
            except Exception:  # a broken info dictionary: the title is optional
                title = ""
        finally:
            pdf.close()
    if pages == 0:
        return DocumentProblem("tài liệu PDF không có trang nào", _FIX)
    if pages > PAGES_MAX:
        return DocumentProblem(f"tài liệu có {so(pages)} trang (tối đa {so(PAGES_MAX)})", "tách tài liệu thành nhiều tệp")
    title = nfc(" ".join(title.split()))[:TITLE_MAX]
    return DocumentInfo(size=size, pages=pages, title=title, sha256=digest)


def render_cover(path: Path, cache_dir: Path, width: int = COVER_WIDTH) -> Path:
    """Page 1 of the PDF as a JPEG ``width`` pixels wide (white background), kept in ``cache_dir``
    under a name derived from the file's content. Raises :class:`DocumentError`."""
    info = check_document(path)
    if isinstance(info, DocumentProblem):
        raise DocumentError(info)
    target = cache_dir / f"cover-{info.sha256[:24]}-{width}.jpg"
    if target.is_file() and target.stat().st_size > 0:
        return target
    import pypdfium2 as pdfium

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".tmp-{info.sha256[:24]}-{os.getpid()}-{threading.get_ident()}.jpg"
    try:
        with _PDFIUM:
            pdf = pdfium.PdfDocument(str(path))
            try:
                page = pdf[0]
                pw, ph = page.get_size()  # points
                scale = width / pw if pw > 0 else 1.0
                if pw * ph * scale * scale > COVER_PIXELS_MAX:
                    scale = (COVER_PIXELS_MAX / (pw * ph)) ** 0.5
                bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
                image = bitmap.to_pil().convert("RGB")
                page.close()
            finally:
                pdf.close()
        image.save(tmp, "JPEG", quality=88, optimize=True)
        os.replace(tmp, target)
    except pdfium.PdfiumError:
        raise DocumentError(DocumentProblem(f"không vẽ được trang đầu của {path.name}", _FIX)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def banner_data(info: DocumentInfo, fallback_title: str) -> dict[str, object]:
    """The names a banner template may use for a guide's document: ``document_title``, ``document_pages``
    (a number) and ``document_pages_text`` ("12 trang")."""
    return {
        "document_title": info.title or fallback_title,
        "document_pages": info.pages,
        "document_pages_text": f"{so(info.pages)} trang",
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
