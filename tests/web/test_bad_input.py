"""Hostile input through real HTTP against one `campaign-bot serve` process: each gets a clear Vietnamese
refusal, nothing is stored, and the server keeps serving."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlmodel import func, select

from bot.store.intake import Submission, SubmissionPhoto, WebhookEvent
from tests.conftest import REPO, SAMPLE_PARTS
from tests.web.conftest import PASSWORD, Served, csrf, form, jpeg, login, start, stop

APP_ID = "3141592653589793238"
OA_SECRET = "oa-secret-key-thu-nghiem"
OA = "4318527600000000002"  # ldld-phan-rang's OA in the sample


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    ws = tmp_path_factory.mktemp("web") / "ws"
    ws.mkdir()
    for part in SAMPLE_PARTS:
        if (REPO / part).exists():
            shutil.copytree(REPO / part, ws / part)
    s = start(ws, {"ZALO_APP_ID": APP_ID, "ZALO_OA_SECRET_KEY": OA_SECRET, "CAMPAIGN_SUBMIT_RATE": "1000/600"})
    for name, unit in (("tinh", "ldld-tinh"), ("bacai", "ldld-bac-ai")):
        r = s.cli("users", "add", name, "--unit", unit, "--password-stdin", stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    yield s
    stop(s)


def counts(s: Served) -> tuple[int, int, int, int]:
    store = s.store()
    try:
        with store.session() as db:
            subs = db.exec(select(func.count()).select_from(Submission)).one()
            photos = db.exec(select(func.count()).select_from(SubmissionPhoto)).one()
            events = db.exec(select(func.count()).select_from(WebhookEvent)).one()
    finally:
        store.close()
    intake = s.ws / ".campaign" / "intake"
    return subs, photos, events, len(list(intake.iterdir())) if intake.is_dir() else 0


def post_submit(s: Served, data: dict[str, Any], files: list[Any] | None = None, with_csrf: bool = True) -> requests.Response:
    c = s.client()
    page = c.get(s.base + "/submit")
    if with_csrf:
        data = {**data, "csrf": csrf(page.text)}
    return c.post(s.base + "/submit", data=data, files=files, timeout=60)


def refused(s: Served, response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text[:1500]
    assert words in response.text, response.text[:3000]
    assert "Traceback" not in response.text
    assert s.alive()


# --- uploads ---------------------------------------------------------------------------------------------


def test_a_50_mb_upload_is_cut_off(server: Served) -> None:
    before = counts(server)
    big = b"\xff\xd8\xff" + b"0" * 50_000_000
    r = post_submit(server, form(), files=[("photos", ("to.jpg", big, "image/jpeg"))])
    refused(server, r, 413, "quá lớn")
    # without Content-Length (chunked): cut while streaming
    c = server.client()
    token = csrf(c.get(server.base + "/submit").text)
    boundary = "ranh-gioi"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(50):
            yield b"1" * 1_000_000

    try:
        r = c.post(server.base + "/submit", data=chunks(), timeout=60,
                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413 and "quá lớn" in r.text
    except requests.ConnectionError:
        pass  # the server may close the connection once it refused: also a refusal
    assert counts(server) == before
    assert server.alive()


def test_a_text_file_named_jpg_is_refused(server: Served) -> None:
    before = counts(server)
    r = post_submit(server, form(title="Bài có tệp giả ảnh"), files=[("photos", ("anh.jpg", b"day la chu, khong phai anh " * 50, "image/jpeg"))])
    refused(server, r, 400, "không phải ảnh")
    assert "Ảnh thứ 1 (anh.jpg)" in r.text
    assert counts(server) == before


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 20_001 * 4)) + chunk(b"IEND", b"")


def test_a_20000_by_20000_png_is_refused(server: Served) -> None:
    before = counts(server)
    r = post_submit(server, form(title="Bài có ảnh khổng lồ"), files=[("photos", ("lon.png", png_header_only(20_000, 20_000), "image/png"))])
    refused(server, r, 400, "ảnh quá lớn")
    assert counts(server) == before


def test_path_traversal_in_file_names(server: Served) -> None:
    before = counts(server)
    evil = "../../../../tmp/../etc/passwd.jpg"
    r = post_submit(server, form(title="Bài với tên tệp ảnh nguy hiểm", body="Nội dung thử tên tệp có ../ để xem máy chủ có ghi ra ngoài không."),
                    files=[("photos", (evil, jpeg(), "image/jpeg")), ("photos", ("..\\..\\x.jpg", b"not an image", "image/jpeg"))])
    refused(server, r, 400, "Ảnh thứ 2 (x.jpg)")  # only the base name is shown, never used
    assert counts(server) == before
    r = post_submit(server, form(title="Bài với tên tệp ảnh nguy hiểm", body="Nội dung thử tên tệp có ../ để xem máy chủ có ghi ra ngoài không."),
                    files=[("photos", (evil, jpeg(), "image/jpeg"))])
    assert r.status_code == 200 and "Cảm ơn" in r.text
    names = [p.name for p in (server.ws / ".campaign" / "intake").iterdir()]
    assert all(len(n) == 36 and n.endswith(".jpg") for n in names), names
    assert not (server.ws.parent / "etc").exists() and not any("passwd" in n for n in names)


# --- text ----------------------------------------------------------------------------------------------


def test_script_tags_in_every_field(server: Served) -> None:
    before = counts(server)
    tag = "<script>alert('x')</script>"
    for field in ("title", "body", "unit", "author_name", "author_role", "contact"):
        value = {"title": "Tiêu đề " + tag, "body": "Nội dung đủ dài để qua giới hạn tối thiểu. " + tag}.get(field, tag)
        r = post_submit(server, form(**{field: value}))
        refused(server, r, 400, "thẻ HTML")
        assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text  # echoed back escaped, never as markup
    assert counts(server) == before


def test_missing_csrf_token(server: Served) -> None:
    before = counts(server)
    r = post_submit(server, form(title="Bài không có mã bảo vệ"), with_csrf=False)
    refused(server, r, 403, "thiếu mã bảo vệ")
    c = server.client()
    c.get(server.base + "/login")
    r = c.post(server.base + "/login", data={"name": "tinh", "password": PASSWORD})
    refused(server, r, 403, "thiếu mã bảo vệ")
    assert counts(server) == before


def test_honeypot_and_duplicates(server: Served) -> None:
    before = counts(server)
    r = post_submit(server, form(title="Bài của máy gửi tự động", website="http://spam.example"))
    refused(server, r, 400, "dữ liệu lạ")
    assert counts(server) == before
    data = form(title="Một bài chỉ gửi một lần thôi", body="Nội dung này giống hệt lần trước, gửi hai lần do bấm nhầm nút gửi.")
    assert post_submit(server, data).status_code == 200
    r = post_submit(server, data)
    refused(server, r, 409, "đã được gửi trước đó")
    assert counts(server)[0] == before[0] + 1


def test_a_reviewer_cannot_approve_another_branchs_submission(server: Served) -> None:
    r = post_submit(server, form(title="Bài của Phan Rang cho cán bộ Bác Ái thử", body="Nội dung bài của LĐLĐ thành phố Phan Rang – Tháp Chàm, không thuộc Bác Ái."))
    assert r.status_code == 200
    store = server.store()
    with store.session() as db:
        sub = db.exec(select(Submission).where(Submission.title.like("Bài của Phan Rang%"))).one()
    other = login(server, "bacai")
    assert sub.title not in other.get(server.base + "/review").text
    refused(server, other.get(f"{server.base}/review/{sub.id}"), 404, "phạm vi đơn vị")
    token = csrf(other.get(server.base + "/review").text)
    r = other.post(f"{server.base}/review/{sub.id}", data={"csrf": token, "action": "approve", "title": sub.title,
                                                           "body": sub.body, "kind": "initiative_story", "audience": "own",
                                                           "platforms": "facebook"})
    refused(server, r, 403, "không được duyệt bài của đơn vị khác")
    with store.session() as db:
        photos = db.exec(select(SubmissionPhoto).where(SubmissionPhoto.submission_id == sub.id)).all()
        assert db.get(Submission, sub.id).state == "new"
    store.close()
    assert not (server.ws / "content" / "tu-co-so").exists()
    for p in photos:
        assert other.get(f"{server.base}/review/photo/{p.id}").status_code == 404
    # not logged in at all: to the login page, never the queue
    anon = server.client()
    r = anon.get(server.base + "/review", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_every_page_sends_the_security_headers(server: Served) -> None:
    c = server.client()
    for path in ("/submit", "/login", "/thanks", "/khong-co"):
        r = c.get(server.base + path)
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    cookie = c.get(server.base + "/submit").headers.get("set-cookie", "") or str(c.cookies)
    r = requests.get(server.base + "/submit")
    sc = r.headers["set-cookie"].lower()
    assert "httponly" in sc and "secure" in sc and "samesite=strict" in sc, cookie
    assert requests.get(server.base + "/khong-co").status_code == 404


# --- the Zalo webhook ----------------------------------------------------------------------------------


def signed(payload: dict[str, Any], secret: str = OA_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    mac = hashlib.sha256(payload["app_id"].encode() + body + str(payload["timestamp"]).encode() + secret.encode()).hexdigest()
    return body, {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}


def message(text: str, msg_id: str, *, at: int | None = None, user: str = "8400000000000000001") -> dict[str, Any]:
    return {"app_id": APP_ID, "event_name": "user_send_text", "timestamp": str(at or int(time.time() * 1000)),
            "sender": {"id": user}, "recipient": {"id": OA}, "message": {"text": text, "msg_id": msg_id}}


def test_forged_and_replayed_webhooks(server: Served) -> None:
    url = server.base + "/webhooks/zalo"
    before = counts(server)
    body, headers = signed(message("GỬI BÀI", "m-forged"), secret="khong-phai-khoa-that")
    r = requests.post(url, data=body, headers=headers)
    assert r.status_code == 401 and "chữ ký không đúng" in r.json()["error"]
    r = requests.post(url, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and "thiếu chữ ký" in r.json()["error"]
    body, headers = signed(message("GỬI BÀI", "m-old", at=int(time.time() * 1000) - 3_600_000))
    r = requests.post(url, data=body, headers=headers)
    assert r.status_code == 401 and "quá cũ" in r.json()["error"]
    tampered = body.replace(b"GU", b"XX") if b"GU" in body else body + b" "
    r = requests.post(url, data=tampered, headers=headers)
    assert r.status_code == 401
    assert counts(server) == before  # nothing stored by any of them

    body, headers = signed(message("GỬI BÀI", "m-1"))
    assert requests.post(url, data=body, headers=headers).status_code == 200
    again = requests.post(url, data=body, headers=headers)  # Zalo's retry, or a replay within the window
    assert again.status_code == 200 and "đã xử lý" in again.json()["note"]
    for i, text in enumerate(["Sáng kiến bếp ăn ca tiết kiệm điện",
                              "Tổ bếp của công ty đã thay nồi hơi cũ bằng nồi cơm điện công nghiệp có hẹn giờ, tiết kiệm 30% điện.",
                              "XONG"]):
        body, headers = signed(message(text, f"m-{i + 2}"))
        assert requests.post(url, data=body, headers=headers).status_code == 200
        assert requests.post(url, data=body, headers=headers).status_code == 200  # each retried: processed once
    store = server.store()
    with store.session() as db:
        subs = db.exec(select(Submission).where(Submission.source == "zalo")).all()
        events = db.exec(select(func.count()).select_from(WebhookEvent)).one()
    store.close()
    assert len(subs) == 1 and subs[0].state == "new" and subs[0].unit_id == "ldld-phan-rang"
    assert subs[0].title == "Sáng kiến bếp ăn ca tiết kiệm điện" and "nồi cơm điện" in subs[0].body
    assert "8400000000000000001" not in (subs[0].contact_enc or "") and subs[0].contact_kind == "zalo"
    assert events == 4
    assert server.alive()
