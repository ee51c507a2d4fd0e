"""The core path over real HTTP against `campaign-bot serve`: submit with photos → review → approve →
story file in content/ → `check` passes → the next tick plans and posts it → the submitter is told once."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from PIL import Image
from sqlmodel import select

from bot.store import Delivery
from bot.store.intake import Submission, SubmissionPhoto, SubmitterNotice
from tests.smtp_server import SmtpServer
from tests.web.conftest import Served, csrf, form, jpeg, login, start, stop


def submit(s: Served, files: list[tuple[str, bytes, str]] | None = None, **over: str) -> tuple[int, str, object]:
    c = s.client()
    page = c.get(s.base + "/submit")
    assert page.status_code == 200
    data = form(**over)
    data.setdefault("csrf", csrf(page.text))
    multipart = [("photos", (name, body, ctype)) for name, body, ctype in (files or [])]
    r = c.post(s.base + "/submit", data=data, files=multipart or None, allow_redirects=True)
    return r.status_code, r.text, c


def test_submit_review_approve_tick_and_notice(sample: Path, tmp_path: Path) -> None:
    import shutil

    shutil.rmtree(sample / "content")  # the staff's own stories would come first at the next slot
    (sample / "content").mkdir()
    subprocess.run(["git", "init", "-q", str(sample)], check=True)
    subprocess.run(["git", "-C", str(sample), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(sample), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "đầu"],
                   check=True)
    smtp = SmtpServer()
    smtp.start()
    s = start(sample, {"CAMPAIGN_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "CAMPAIGN_MAIL_FROM": "bot@ldld.example.vn",
                       "CAMPAIGN_NOTICE_EVERY": "1"})
    try:
        r = s.cli("users", "add", "tinh", "--unit", "ldld-tinh", "--display-name", "Ban Tuyên giáo LĐLĐ tỉnh",
                  "--password-stdin", stdin="mat-khau-that-dai-2026\n")
        assert r.returncode == 0, r.stderr
        status, html, _ = submit(s, [("anh 1.jpg", jpeg(exif_gps=True), "image/jpeg"), ("b.jpg", jpeg(3000, 2000), "image/jpeg")])
        assert status == 200 and "Cảm ơn bạn đã gửi bài" in html, html[:2000]
        store = s.store()
        with store.session() as db:
            sub = db.exec(select(Submission)).one()
            photos = db.exec(select(SubmissionPhoto)).all()
        assert sub.ref in html and len(photos) == 2
        assert sub.contact_enc and "an@example.vn" not in sub.contact_enc  # encrypted at rest
        stored = sample / ".campaign" / "intake" / photos[1].stored_name
        with Image.open(stored) as img:
            assert max(img.size) == 2048 and not img.getexif()  # resized, no EXIF
        with Image.open(sample / ".campaign" / "intake" / photos[0].stored_name) as img:
            assert not img.getexif() and 0x8825 not in img.getexif()

        c = login(s)
        listing = c.get(s.base + "/review")
        assert sub.title in listing.text and "an@example.vn" not in listing.text
        item = c.get(f"{s.base}/review/{sub.id}")
        assert "an@example.vn" not in item.text and "có e-mail (ẩn)" in item.text
        ph = c.get(f"{s.base}/review/photo/{photos[0].id}")
        assert ph.status_code == 200 and ph.headers["content-type"] == "image/jpeg"
        r = c.post(f"{s.base}/review/{sub.id}", data={
            "csrf": csrf(item.text), "action": "approve", "title": "Máy cắt gạch cải tiến của tổ bảo trì",
            "body": sub.body + " Đã biên tập.", "kind": "initiative_story", "audience": "own",
            "platforms": ["facebook", "zalo"], "banner": ""})
        assert r.status_code == 200 and "Đã duyệt bài" in r.text, r.text[:3000]
        with store.session() as db:
            sub = db.exec(select(Submission)).one()
        assert sub.state == "approved" and sub.story_path
        text = (sample / sub.story_path).read_text(encoding="utf-8")
        assert "approved: true" in text and "approved_by: Ban Tuyên giáo LĐLĐ tỉnh" in text and "Đã biên tập." in text
        assert "an@example.vn" not in text
        log = subprocess.run(["git", "-C", str(sample), "log", "-1", "--format=%an|%s", "--name-only"],
                             capture_output=True, text=True, check=True).stdout
        assert "Ban Tuyên giáo LĐLĐ tỉnh|Duyệt bài từ cơ sở" in log and sub.story_path in log and ".jpg" in log
        assert s.cli("check").returncode == 0
        # the next tick: plans it for the unit's channels and posts it (no tokens: the outbox)
        r = s.cli("tick", "--now", "2026-12-02T08:00")  # a Wednesday: bai-dinh-ky
        assert r.returncode == 0, r.stdout + r.stderr
        with store.session() as db:
            sent = db.exec(select(Delivery).where(Delivery.content_id == sub.content_id, Delivery.state == "sent")).all()
        assert sent, r.stdout
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not smtp.inbox.to("an@example.vn"):
            time.sleep(0.3)
        mails = smtp.inbox.to("an@example.vn")
        assert len(mails) == 1 and "đã được đăng" in str(mails[0]["Subject"])
        time.sleep(2.5)  # more passes: still one
        assert len(smtp.inbox.to("an@example.vn")) == 1
        with store.session() as db:
            assert db.exec(select(SubmitterNotice)).one().state == "sent"
        store.close()
        assert s.alive()
    finally:
        stop(s)
        smtp.stop()


def test_image_bytes_are_real(served: Served) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "PNG")
    status, html, _ = submit(served, [("x.png", buf.getvalue(), "image/png")])
    assert status == 200, html[:1000]
