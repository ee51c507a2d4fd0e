"""How a message leaves: SMTP (CAMPAIGN_SMTP_URL) and Apprise (CAMPAIGN_NOTIFY_URLS)."""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from bot.alerts.kinds import SMTP_TIMEOUT
from bot.alerts.recipients import (
    apprise_recipient,
)
from bot.errors import BotError
from bot.store.models import (
    AlertMessage,
)

log = logging.getLogger(__name__)
# Apprise's debug lines may show a chat URL, which holds its token: never below warnings, even with -vv.
logging.getLogger("apprise").setLevel(logging.WARNING)

# --- transports -----------------------------------------------------------------------------


class SendError(BotError):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class SmtpSettings:
    host: str
    port: int
    ssl: bool
    starttls: bool
    user: str | None
    password: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_settings(url: str) -> SmtpSettings:
    """``smtp://host:port`` (STARTTLS when offered), ``smtps://user:password@host:465`` (TLS),
    ``smtp+starttls://…`` (STARTTLS required). Raises ValueError without echoing the URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise ValueError("CAMPAIGN_SMTP_URL phải có dạng smtp://máy:cổng hoặc smtps://người-dùng:mật-khẩu@máy:465")
    try:
        port = parts.port or (465 if scheme == "smtps" else 587 if scheme == "smtp+starttls" else 25)
    except ValueError:
        raise ValueError("CAMPAIGN_SMTP_URL có cổng không hợp lệ") from None
    return SmtpSettings(parts.hostname, port, scheme == "smtps", scheme == "smtp+starttls",
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None)


def email_message(msg: AlertMessage, sender: str) -> EmailMessage:
    """The e-mail of a stored message (an alert or a weekly digest), as sent by SMTP or written to a
    .eml file by the demo: one builder, so both look the same."""
    em = EmailMessage()
    # RFC 2047 encoded words made by email.header: the modern header folder of Python ≤ 3.12 drops the
    # space between two folded encoded words ("từ chối hẳn" arrived as "từ chốihẳn"); these lines are
    # short enough that the generator keeps them as they are.
    em.set_raw("Subject", Header(msg.subject, "utf-8", header_name="Subject").encode())
    em["From"] = sender
    em["To"] = msg.recipient
    em["Message-ID"] = msg.message_id
    em["Date"] = format_datetime(msg.created_at if msg.created_at.tzinfo else msg.created_at.replace(tzinfo=UTC))
    em["Auto-Submitted"] = "auto-generated"
    em["X-Campaign-Alert"] = msg.type
    em.set_content(msg.text)
    em.add_alternative(msg.html, subtype="html")
    return em


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib's login encodes credentials as ASCII; AUTH PLAIN is UTF-8 (RFC 4616), so a password
    with Vietnamese letters goes through PLAIN by hand."""
    if (user + password).isascii():
        conn.login(user, password)
        return
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, resp = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


class SmtpSender:
    """One SMTP connection for a pass, opened on first use."""

    def __init__(self, url: str, sender: str) -> None:
        self.settings = smtp_settings(url)
        self.sender = sender
        self.conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        st = self.settings
        try:
            if st.ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(st.host, st.port, timeout=SMTP_TIMEOUT,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(st.host, st.port, timeout=SMTP_TIMEOUT)
                conn.ehlo()
                if st.starttls or conn.has_extn("starttls"):
                    conn.starttls(context=ssl.create_default_context())
                    conn.ehlo()
            if st.user:
                _login(conn, st.user, st.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"máy chủ thư {st.where} từ chối đăng nhập ({exc.smtp_code})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"không kết nối được máy chủ thư {st.where}: {type(exc).__name__}") from None
        return conn

    def send(self, msg: AlertMessage) -> None:
        if self.conn is None:
            self.conn = self._open()
        em = email_message(msg, self.sender)
        try:
            self.conn.send_message(em)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            raise SendError(f"máy chủ thư từ chối người nhận ({', '.join(map(str, codes))})",
                            permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendError(f"máy chủ thư trả lời {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SendError(f"mất kết nối máy chủ thư {self.settings.where}: {type(exc).__name__}") from None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.conn = None


class AppriseSender:
    """Chat services through Apprise; the URL (with its secrets) stays in the environment."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.by_name = {apprise_recipient(u): u for u in urls}

    def send(self, msg: AlertMessage) -> None:
        import apprise

        url = self.by_name.get(msg.recipient)
        if url is None:
            raise SendError("địa chỉ này không còn trong CAMPAIGN_NOTIFY_URLS", permanent=True)
        ap = apprise.Apprise()
        if not ap.add(url):
            raise SendError("CAMPAIGN_NOTIFY_URLS có một địa chỉ Apprise không hợp lệ", permanent=True)
        if not ap.notify(title=msg.subject, body=msg.text, body_format=apprise.NotifyFormat.TEXT):
            raise SendError("dịch vụ nhắn tin không nhận tin")


