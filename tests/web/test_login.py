"""Login over real HTTP: 20 wrong passwords lock the account and then the address; the right password is
refused while locked; the server keeps serving; the attempts are in the store, the passwords nowhere."""

from __future__ import annotations

from sqlmodel import func, select

from bot.store.intake import LoginAttempt, StaffUser
from tests.web.conftest import PASSWORD, Served, csrf


def attempt(s: Served, name: str, password: str) -> tuple[int, str]:
    c = s.client()
    token = csrf(c.get(s.base + "/login").text)
    r = c.post(s.base + "/login", data={"name": name, "password": password, "csrf": token}, allow_redirects=False)
    return r.status_code, r.text


def test_twenty_wrong_passwords_lock_out(served: Served) -> None:
    statuses = []
    for i in range(20):
        status, text = attempt(served, "tinh", f"sai-mat-khau-{i}")
        statuses.append(status)
        assert "Traceback" not in text and f"sai-mat-khau-{i}" not in text
    assert statuses[:4] == [401] * 4
    assert all(st == 429 for st in statuses[4:]), statuses  # locked from the fifth failure on
    status, text = attempt(served, "tinh", PASSWORD)  # the right password while locked: refused
    assert status == 429 and ("tạm khóa" in text or "quá nhiều lần" in text)
    status, text = attempt(served, "nguoi-khac", "bat-ky-mat-khau")  # the address itself is now blocked
    assert status == 429 and "quá nhiều lần đăng nhập sai từ máy này" in text
    assert served.alive()
    store = served.store()
    with store.session() as db:
        user = db.exec(select(StaffUser)).one()
        assert user.locked_until is not None
        assert db.exec(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.ok == False)).one() >= 20  # noqa: E712
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
    store.close()
    db_bytes = (served.ws / ".campaign" / "campaign.db").read_bytes()
    assert b"sai-mat-khau" not in db_bytes and PASSWORD.encode() not in db_bytes


def test_good_login_then_logout(served: Served) -> None:
    c = served.client()
    token = csrf(c.get(served.base + "/login").text)
    r = c.post(served.base + "/login", data={"name": "TINH", "password": PASSWORD, "csrf": token})
    assert r.status_code == 200 and "Bài gửi từ cơ sở" in r.text
    assert c.get(served.base + "/dashboard").status_code == 200
    r = c.post(served.base + "/logout", data={"csrf": csrf(r.text)})
    assert "Cán bộ đăng nhập" in r.text
    assert c.get(served.base + "/review", allow_redirects=False).status_code == 303


def test_submissions_are_rate_limited_per_address(served: Served) -> None:
    from bot.store.intake import Submission
    from tests.web.conftest import form

    statuses = []
    for i in range(7):
        c = served.client()
        token = csrf(c.get(served.base + "/submit").text)
        r = c.post(served.base + "/submit", data={**form(title=f"Bài số {i} của cùng một máy", body=f"Nội dung số {i} "
                                                         "đủ dài để được nhận, gửi liên tiếp từ cùng một địa chỉ."),
                                                  "csrf": token})
        statuses.append(r.status_code)
    assert statuses == [200] * 5 + [429] * 2, statuses
    assert "đợi khoảng 10 phút" in r.text
    store = served.store()
    with store.session() as db:
        assert db.exec(select(func.count()).select_from(Submission)).one() == 5
    store.close()
    assert served.alive()
