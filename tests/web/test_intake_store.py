"""The intake tables on SQLite and PostgreSQL: migration 0007 matches the models, webhook events and notices
are unique, a login lock-out is kept in the store, and a notice is sent once even with two passes at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from bot.alerts import insert_ignore
from bot.store import Delivery, Store, utcnow
from bot.store.intake import StaffUser, Submission, SubmitterNotice, WebhookEvent
from bot.web import notices, security

INTAKE_TABLES = {"staffuser", "loginattempt", "submission", "submissionphoto", "webhookevent", "submitternotice"}


def test_migration_matches_the_models(any_store: Store) -> None:
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in INTAKE_TABLES)]
    assert ours == []
    with any_store.session() as s:
        assert insert_ignore(s, WebhookEvent, {"key": "msg:1", "event_name": "user_send_text", "received_at": utcnow()})
        assert not insert_ignore(s, WebhookEvent, {"key": "msg:1", "event_name": "user_send_text", "received_at": utcnow()})
    with pytest.raises(IntegrityError):
        with any_store.session() as s:
            s.add(SubmitterNotice(submission_id=1, kind="published"))
            s.add(SubmitterNotice(submission_id=1, kind="published"))


def test_lock_out_is_kept_in_the_store(any_store: Store) -> None:
    with any_store.session() as s:
        s.add(StaffUser(name="hoa", display_name="Hoa", unit_id="tinh", password_hash=security.hash_password("mat-khau-dai-2026")))
    now = utcnow()
    results = [security.check_login(any_store, "hoa", "sai", "c1", now)[0] for _ in range(security.ACCOUNT_FAILS)]
    assert results[-1] == security.LoginResult.LOCKED and results[0] == security.LoginResult.BAD
    assert security.check_login(any_store, "HOA", "mat-khau-dai-2026", "c2", now)[0] == security.LoginResult.LOCKED
    later = now + security.ACCOUNT_LOCK + timedelta(seconds=1)
    assert security.check_login(any_store, "hoa", "mat-khau-dai-2026", "c2", later)[0] == security.LoginResult.OK


class Box:
    def encrypt(self, text: str) -> str:
        return "enc:" + text

    def decrypt(self, text: str) -> str:
        return text.removeprefix("enc:")


def test_published_notice_waits_for_a_sent_delivery_and_goes_once(any_store: Store, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(notices, "send_one", lambda cfg, n, sub: sent.append(f"{sub.ref}:{n.kind}"))
    cfg = SimpleNamespace(store=any_store, env={}, box=Box(), workspace=tmp_path)
    with any_store.session() as s:
        sub = Submission(ref="GY-TEST001", state="approved", title="Bài", body="x", unit_id="tinh",
                         contact_kind="email", contact_enc="enc:a@example.vn", content_id="tu-co-so/bai-gy-test001")
        s.add(sub)
        s.flush()
        s.add(SubmitterNotice(submission_id=sub.id, kind="published", detail={"content_id": sub.content_id}))
    assert notices.run_pass(cfg) == 0 and sent == []  # not posted yet
    with any_store.session() as s:
        s.add(Delivery(content_id="tu-co-so/bai-gy-test001", channel_id="tinh/facebook", unit_id="tinh",
                       platform="facebook", day="2026-12-02", due_at=utcnow(), state="sent", sent_at=utcnow()))
    import threading

    threads = [threading.Thread(target=notices.run_pass, args=(cfg,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    notices.run_pass(cfg)
    assert sent == ["GY-TEST001:published"]
    with any_store.session() as s:
        assert s.exec(select(SubmitterNotice)).one().state == "sent"


def test_a_failed_notice_counts_one_attempt_per_try_and_keeps_no_secret(any_store: Store, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "fernet-key-that-must-never-show-0123456789"

    def refuse(cfg: object, n: object, sub: object) -> None:
        raise OSError(f"máy chủ thư từ chối (key={secret})")

    monkeypatch.setattr(notices, "send_one", refuse)
    cfg = SimpleNamespace(store=any_store, env={"CAMPAIGN_SECRET_KEY": secret}, box=Box(), workspace=tmp_path)
    with any_store.session() as s:
        sub = Submission(ref="GY-TEST002", state="rejected", title="Bài", body="x", unit_id="tinh",
                         contact_kind="email", contact_enc="enc:a@example.vn", reason="trùng bài")
        s.add(sub)
        s.flush()
        s.add(SubmitterNotice(submission_id=sub.id, kind="rejected", detail={}))
    assert notices.run_pass(cfg) == 0
    with any_store.session() as s:
        notice = s.exec(select(SubmitterNotice)).one()
        assert notice.state == "retry" and notice.attempts == 1  # one try, counted once
        assert secret not in (notice.error or "") and "từ chối" in (notice.error or "")
        assert notice.next_attempt_at is not None and notice.lease_owner is None


def test_housekeeping_forgets_what_is_no_longer_needed(any_store: Store, tmp_path: Path) -> None:
    from bot.store.intake import LoginAttempt, SubmissionPhoto
    from bot.web.housekeeping import prune

    now = utcnow()
    old = now - timedelta(days=40)
    folder = tmp_path / "intake"
    folder.mkdir()
    with any_store.session() as s:
        s.add(WebhookEvent(key="msg:old", received_at=old))
        s.add(WebhookEvent(key="msg:new", received_at=now))
        s.add(LoginAttempt(name="a", client="c", at=old))
        for state, ref in (("approved", "GY-A"), ("rejected", "GY-R"), ("draft", "GY-D"), ("new", "GY-N")):
            sub = Submission(ref=ref, state=state, updated_at=old, created_at=old)
            s.add(sub)
            s.flush()
            name = f"{sub.id:032x}.jpg"
            (folder / name).write_bytes(b"x")
            s.add(SubmissionPhoto(submission_id=sub.id, stored_name=name))
    assert prune(any_store, folder, now) == {"events": 1, "attempts": 1, "photos": 3, "drafts": 1}
    with any_store.session() as s:
        assert {x.ref for x in s.exec(select(Submission)).all()} == {"GY-A", "GY-R", "GY-N"}
        assert len(s.exec(select(SubmissionPhoto)).all()) == 1  # the one still waiting for a reviewer
        assert [e.key for e in s.exec(select(WebhookEvent)).all()] == ["msg:new"]
    assert len(list(folder.iterdir())) == 1
