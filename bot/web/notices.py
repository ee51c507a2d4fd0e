"""Telling submitters what became of their story: published (once a post of it went out) or not.

Why like the alerts (bot.alerts): a notice is a row recorded *before* anything is sent — at approval
(``published``, due once a delivery of the story is ``sent``), at rejection (``rejected``, due at
once), on a Zalo submission (``received``) — then claimed under a lease by one process, sent, and
marked sent. A crash between the send and the mark leaves a ``sending`` row whose lease runs out;
such a row is not sent again blindly but given up as ``failed`` with the reason, so nobody is told
twice. E-mail goes through ``CAMPAIGN_SMTP_URL`` (the alerts' sender), a Zalo follower gets a reply
from the OA; a phone number cannot be told by the bot (the reviewer sees it is owed).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import select

from bot.channels import spec
from bot.store import Delivery, DeliveryState, utcnow
from bot.store.intake import Submission, SubmitterNotice

log = logging.getLogger("bot.web.notices")
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
PLATFORM_NAMES = {"facebook": "Trang Facebook", "zalo": "Zalo OA"}


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _due_ids(s: Any, now: datetime) -> list[int]:
    rows = s.exec(select(SubmitterNotice).where(
        SubmitterNotice.state.in_(("pending", "retry")),
        or_(SubmitterNotice.next_attempt_at.is_(None), SubmitterNotice.next_attempt_at <= now)).limit(200)).all()
    due = []
    for n in rows:
        if n.kind == "published":
            sent = s.exec(select(Delivery.id).where(Delivery.content_id == n.detail.get("content_id"),
                                                    Delivery.state == DeliveryState.SENT)).first()
            if sent is None:
                continue
        due.append(n.id)
    return due


def _claim(cfg: Any, notice_id: int, me: str) -> bool:
    """Take one notice for sending. The lease counts from now, read here: earlier sends of the same
    pass may have taken their time."""
    with cfg.store.session() as s:
        row = s.execute(update(SubmitterNotice).where(
            SubmitterNotice.id == notice_id, SubmitterNotice.state.in_(("pending", "retry")))
            .values(state="sending", lease_owner=me, lease_until=utcnow() + LEASE,
                    attempts=SubmitterNotice.attempts + 1)
            .returning(SubmitterNotice.id)).first()
        return row is not None


def _finish(cfg: Any, notice_id: int, me: str, **values: Any) -> None:
    with cfg.store.session() as s:
        s.execute(update(SubmitterNotice).where(SubmitterNotice.id == notice_id, SubmitterNotice.lease_owner == me)
                  .values(lease_owner=None, lease_until=None, **values))


def text_of(cfg: Any, notice: SubmitterNotice, sub: Submission) -> tuple[str, str]:
    """(subject, text) in Vietnamese."""
    title = sub.title or "câu chuyện của bạn"
    if notice.kind == "published":
        with cfg.store.session() as s:
            platforms = sorted({d.platform for d in s.exec(select(Delivery).where(
                Delivery.content_id == sub.content_id, Delivery.state == DeliveryState.SENT)).all()})
        where = ", ".join(PLATFORM_NAMES.get(p, p) for p in platforms) or "kênh của Công đoàn"
        return (f"Bài “{title}” đã được đăng",
                f"Chào bạn,\n\nCâu chuyện “{title}” (mã {sub.ref}) bạn gửi đã được Ban biên tập duyệt và đăng lên "
                f"{where}. Cảm ơn bạn đã chia sẻ sáng kiến!\n\nCông đoàn")
    if notice.kind == "rejected":
        return (f"Bài “{title}” chưa được đăng",
                f"Chào bạn,\n\nCâu chuyện “{title}” (mã {sub.ref}) bạn gửi chưa được đăng. Lý do: {sub.reason}\n\n"
                "Bạn có thể sửa và gửi lại. Cảm ơn bạn!\n\nCông đoàn")
    return ("Đã nhận bài", f"Công đoàn đã nhận câu chuyện của bạn, mã số {sub.ref}. Ban biên tập sẽ đọc và báo lại khi bài được đăng.")


def send_one(cfg: Any, notice: SubmitterNotice, sub: Submission) -> str | None:
    """Send; None when sent, else why it cannot be (raises SendError-like exceptions to retry)."""
    if not sub.contact_enc or cfg.box is None:
        return "người gửi không để lại e-mail hay Zalo"
    contact = cfg.box.decrypt(sub.contact_enc)
    subject, text = text_of(cfg, notice, sub)
    if sub.contact_kind == "email":
        from html import escape

        from bot.alerts import SmtpSender
        from bot.store.models import AlertMessage

        url = cfg.env.get("CAMPAIGN_SMTP_URL")
        if not url:
            raise RetryableNotice("chưa đặt CAMPAIGN_SMTP_URL")
        sender = cfg.env.get("CAMPAIGN_MAIL_FROM") or f"campaign-bot@{socket.getfqdn()}"
        msg = AlertMessage(recipient=contact, type="submitter." + notice.kind, subject=subject, text=text,
                           html="<p>" + escape(text).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>",
                           message_id=f"<gop-y-{sub.ref}-{notice.kind}@campaign-bot>", created_at=utcnow())
        smtp = SmtpSender(url, sender)
        try:
            smtp.send(msg)
        finally:
            smtp.close()
        return None
    if sub.contact_kind == "zalo":
        from bot.web.zalo_inbox import reply

        reply(cfg, sub.oa_id or "", contact, text)
        return None
    return "người gửi chỉ để lại số điện thoại: bot không nhắn được, hãy gọi nếu cần"


class RetryableNotice(Exception):
    pass


def run_pass(cfg: Any, now: datetime | None = None) -> int:
    """Send every notice that is due; the number sent."""
    now = now or utcnow()
    me = owner()
    sent = 0
    with cfg.store.session() as s:
        # a send that may have happened (lease ran out while sending): never twice, give up with the reason
        s.execute(update(SubmitterNotice).where(SubmitterNotice.state == "sending", SubmitterNotice.lease_until < now)
                  .values(state="failed", error="bị ngắt giữa chừng khi gửi; không gửi lại để tránh gửi hai lần",
                          lease_owner=None, lease_until=None))
        due = _due_ids(s, now)
    for notice_id in due:
        if not _claim(cfg, notice_id, me):
            continue
        with cfg.store.session() as s:
            notice = s.get(SubmitterNotice, notice_id)
            sub = s.get(Submission, notice.submission_id)
        try:
            why_not = send_one(cfg, notice, sub)
        except Exception as exc:  # noqa: BLE001 - any failure of a send is retried later, told in the row
            attempts = notice.attempts  # read after the claim, which counted this attempt
            final = attempts >= MAX_ATTEMPTS or getattr(exc, "permanent", False)
            said = spec.scrub(str(exc), spec.secret_values(cfg.env))[:300]  # an SMTP URL or a token never lands here
            _finish(cfg, notice_id, me, state="failed" if final else "retry", error=said,
                    next_attempt_at=utcnow() + timedelta(minutes=5 * 2 ** min(attempts, 6)))
            continue
        if why_not:
            _finish(cfg, notice_id, me, state="skipped", error=why_not)
        else:
            _finish(cfg, notice_id, me, state="sent", sent_at=utcnow(), error=None)
            sent += 1
    return sent


def notice_loop(cfg: Any, stop: threading.Event, every: float = 60.0) -> None:
    """`serve`'s own periodic task: a pass every minute until ``stop``, then the housekeeping."""
    while not stop.wait(float(cfg.env.get("CAMPAIGN_NOTICE_EVERY") or every)):
        try:
            run_pass(cfg)
            from bot.web.housekeeping import prune

            prune(cfg.store, cfg.intake_dir)
        except Exception as exc:  # noqa: BLE001 - the loop must outlive a store hiccup; the next pass retries
            log.warning("lượt gửi thông báo cho người gửi bài lỗi: %s", type(exc).__name__)
