"""The Zalo OA inbox end to end over real HTTP: signed webhook calls from a follower (keyword, title, text, a
photo, XONG) make one submission with a re-encoded photo; the OA answers through the (fake) Zalo Open API with
the reference number; a rejection is told to the follower once, with the reason."""

from __future__ import annotations

import functools
import io
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from sqlmodel import select

from bot.store.intake import Submission, SubmissionPhoto, SubmitterNotice
from tests.fakes.zalo_server import FakeZalo
from tests.web.conftest import PASSWORD, csrf, login, start, stop
from tests.web.test_bad_input import OA, OA_SECRET, message, signed


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_follower_sends_a_story_and_hears_back(sample: Path, tmp_path: Path) -> None:
    media = tmp_path / "cdn"
    media.mkdir()
    img = Image.new("RGB", (1000, 700), (10, 120, 40))
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (11.0, 34.0, 0.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    (media / "anh.jpg").write_bytes(buf.getvalue())
    (media / "gia.jpg").write_text("không phải ảnh", encoding="utf-8")
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(media)))
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    with FakeZalo() as fake:
        fake.add_oa(OA, name="LĐLĐ Phan Rang")
        env = fake.env(ZALO_REFRESH_LDLD_PHAN_RANG=fake.seed_refresh_token(OA), ZALO_OA_SECRET_KEY=OA_SECRET,
                       CAMPAIGN_WEB_ALLOW_HTTP_MEDIA="1", CAMPAIGN_NOTICE_EVERY="1")
        s = start(sample, env)
        try:
            r = s.cli("users", "add", "tinh", "--unit", "ldld-tinh", "--password-stdin", stdin=PASSWORD + "\n")
            assert r.returncode == 0
            url = s.base + "/webhooks/zalo"
            user = "8400000000000000777"

            def send(payload: dict[str, Any]) -> None:
                body, headers = signed(payload)
                assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200

            send(message("xin chào", "z-0", user=user))
            send(message("Gửi bài", "z-1", user=user))
            send(message("Tổ an toàn vệ sinh viên sáng tạo", "z-2", user=user))
            send(message("Tổ an toàn vệ sinh viên của nhà máy đã làm biển cảnh báo phát sáng từ vật liệu cũ.", "z-3", user=user))
            for i, name in enumerate(("anh.jpg", "gia.jpg")):
                photo = message("", f"z-img-{i}", user=user)
                photo["event_name"] = "user_send_image"
                photo["message"]["attachments"] = [{"type": "image", "payload": {"url": f"http://127.0.0.1:{cdn.server_port}/{name}"}}]
                send(photo)
            send(message("XONG", "z-4", user=user))
            texts = [t for oa, u, t in fake.cs_messages if u == user and oa == OA]
            assert "nhắn “GỬI BÀI”" in texts[0] and "Mời bạn nhắn tiêu đề" in texts[1]
            assert any("không phải ảnh" in t for t in texts)  # the fake photo refused, with a word
            store = s.store()
            with store.session() as db:
                sub = db.exec(select(Submission)).one()
                photos = db.exec(select(SubmissionPhoto)).all()
            assert sub.state == "new" and sub.ref in texts[-1] and len(photos) == 1
            with Image.open(s.ws / ".campaign" / "intake" / photos[0].stored_name) as stored:
                assert not stored.getexif()
            c = login(s)
            page = c.get(f"{s.base}/review/{sub.id}")
            assert user not in page.text and "có Zalo (ẩn)" in page.text
            r = c.post(f"{s.base}/review/{sub.id}", data={"csrf": csrf(page.text), "action": "reject",
                                                        "reason": "Cần thêm tên đơn vị và kết quả cụ thể."})
            assert r.status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any("Lý do" in t for _, u, t in fake.cs_messages if u == user):
                time.sleep(0.3)
            told = [t for _, u, t in fake.cs_messages if u == user and "Lý do" in t]
            assert len(told) == 1 and "Cần thêm tên đơn vị" in told[0]
            time.sleep(2.5)
            assert len([t for _, u, t in fake.cs_messages if u == user and "Lý do" in t]) == 1
            with store.session() as db:
                assert db.exec(select(SubmitterNotice).where(SubmitterNotice.kind == "rejected")).one().state == "sent"
            store.close()
            assert "8400000000000000777" not in (s.ws / ".campaign" / "campaign.db").read_bytes().decode("latin-1")
        finally:
            stop(s)
            cdn.shutdown()
