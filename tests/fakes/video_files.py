"""Small real videos and PDFs for the tests and the sample campaign, made with ffmpeg and Pillow.

Real files, never hand-written bytes: the checks in bot.video and bot.documents read them with the
same ffprobe and PDFium that read the staff's files. ``python -m tests.fakes.video_files`` rewrites
the sample campaign's two files (content/huong-dan/tep/, CC0; see the README.md beside them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def make_video(path: Path, *, size: str = "640x360", seconds: float = 2.0, vcodec: str = "libx264",
               acodec: str | None = "aac", fmt: str = "mp4", rate: int = 25, brand: str | None = None) -> Path:
    """A test-pattern video with a tone: ``vcodec``/``acodec`` as ffmpeg names them, ``fmt`` its muxer
    (``mp4``, ``mov``, ``matroska``…)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if acodec:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=44100"]
    cmd += ["-c:v", vcodec, "-pix_fmt", "yuv420p"]
    if vcodec == "libx264":
        cmd += ["-preset", "ultrafast", "-crf", "35"]
    cmd += ["-c:a", acodec, "-ac", "1"] if acodec else ["-an"]
    if brand:
        cmd += ["-brand", brand]
    cmd += ["-shortest", "-f", fmt, str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path


def make_pdf(path: Path, pages: int = 2, title: str = "Tài liệu thử") -> Path:
    """A PDF of ``pages`` A4 pages with Vietnamese text, drawn with Pillow."""
    from PIL import Image, ImageDraw

    font = _font("BeVietnamPro-Regular.ttf", 22)
    images = []
    for n in range(pages):
        im = Image.new("L", (827, 1169), 255)
        d = ImageDraw.Draw(im)
        d.text((60, 60), f"{title} — trang {n + 1}/{pages}", font=font, fill=0)
        d.text((60, 120), "Công đoàn cơ sở xác nhận sáng kiến đã được áp dụng.", font=font, fill=0)
        images.append(im)
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=100, title=title, quality=60)
    return path


def make_sample_video(path: Path) -> Path:
    """The sample campaign's video: 5 s, 540×960 (a valid Reel), H.264 main/AAC mono, about 240 KB."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y",
           "-f", "lavfi", "-i", "testsrc2=size=540x960:rate=30:duration=5",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=5:sample_rate=44100",
           "-c:v", "libx264", "-preset", "veryslow", "-crf", "34", "-pix_fmt", "yuv420p", "-profile:v", "main",
           "-c:a", "aac", "-b:a", "48k", "-ac", "1", "-movflags", "+faststart", "-shortest", "-map_metadata", "-1",
           "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", str(path)]
    subprocess.run(cmd, check=True, timeout=300)
    return path


def make_sample_pdf(path: Path) -> Path:
    """The sample campaign's guide: 2 A4 pages, "Quy trình phê duyệt sáng kiến"."""
    from PIL import Image, ImageDraw

    bold, head, body = _font("BeVietnamPro-Bold.ttf", 34), _font("BeVietnamPro-SemiBold.ttf", 24), _font("BeVietnamPro-Regular.ttf", 19)
    pages_text = [
        ("QUY TRÌNH PHÊ DUYỆT SÁNG KIẾN", "Chương trình “1 triệu sáng kiến” · Tài liệu mẫu", [
            "Bước 1. Đoàn viên đăng ký sáng kiến trên nền tảng trực tuyến.",
            "Bước 2. Công đoàn cơ sở xem xét trong 10 ngày làm việc:",
            "   sáng kiến đã được áp dụng, có mô tả rõ ràng, có kết quả.",
            "Bước 3. Công đoàn cơ sở xác nhận hoặc đề nghị bổ sung.",
            "Bước 4. Công đoàn cấp trên tổng hợp, báo cáo Liên đoàn",
            "   Lao động tỉnh hằng tháng.",
            "Bước 5. Sáng kiến tiêu biểu được giới thiệu khen thưởng.",
        ]),
        ("HỒ SƠ CẦN CHUẨN BỊ", "Trang 2/2", [
            "• Tên sáng kiến, lĩnh vực, tác giả và đồng tác giả.",
            "• Mô tả: trước đây làm thế nào, đã thay đổi gì, kết quả.",
            "• 1–3 ảnh hoặc một đoạn video ngắn (nếu có).",
            "• Xác nhận của thủ trưởng đơn vị nơi áp dụng.",
            "",
            "Liên hệ: Ban Tuyên giáo Liên đoàn Lao động tỉnh.",
            "Tài liệu minh họa, số liệu và tên gọi là giả định.",
        ]),
    ]
    pages = []
    for title, sub, lines in pages_text:
        im = Image.new("L", (827, 1169), 255)
        d = ImageDraw.Draw(im)
        d.rectangle((0, 0, 827, 150), fill=40)
        d.text((60, 40), title, font=bold, fill=255)
        d.text((60, 95), sub, font=body, fill=220)
        y = 210
        for line in lines:
            d.text((60, y), line, font=head if line.startswith("Bước") else body, fill=20)
            y += 44
        pages.append(im)
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=100,
                  title="Quy trình phê duyệt sáng kiến", author="LĐLĐ tỉnh (mẫu)", quality=60)
    return path


def _font(name: str, size: int) -> Any:
    import fontpkg_be_vietnam_pro
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(fontpkg_be_vietnam_pro.__file__).parent / "files" / name), size)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "content/huong-dan/tep")
    make_sample_video(folder / "gioi-thieu-chuong-trinh.mp4")
    make_sample_pdf(folder / "quy-trinh-phe-duyet-sang-kien.pdf")
