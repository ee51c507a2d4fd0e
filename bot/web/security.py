"""Passwords, sessions' CSRF tokens, rate limits, lock-out and the response headers of `serve`.

Why these pieces: the staff pages guard the campaign's voice (an approved story is posted on every
Page), so a guessed password must be slow (Argon2id) and limited (lock-out by account and by
address, kept in the store so a restart does not reset it); every form carries a token bound to the
session (CSRF); every page forbids inline scripts, framing and foreign origins (CSP); and every
request body is bounded while it streams, so a 50 MB upload is cut off before it is read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import func, select

from bot.store import Store, utcnow
from bot.store.intake import LoginAttempt, StaffUser

HASHER = PasswordHasher()  # argon2-cffi's defaults (Argon2id, RFC 9106 low-memory profile)
PASSWORD_MIN = 10
PASSWORD_MAX = 200
ACCOUNT_FAILS = 5  # consecutive failures before an account is locked
ACCOUNT_LOCK = timedelta(minutes=15)
CLIENT_FAILS = 20  # failures from one address in CLIENT_WINDOW before every login from it is refused
CLIENT_WINDOW = timedelta(minutes=15)
_DUMMY_HASH = HASHER.hash("không-phải-mật-khẩu-thật")  # verify against it for unknown names (same timing)


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def password_problem(password: str) -> str | None:
    """Why a new password is refused (Vietnamese), or None."""
    if len(password) < PASSWORD_MIN:
        return f"mật khẩu cần ít nhất {PASSWORD_MIN} ký tự"
    if len(password) > PASSWORD_MAX:
        return f"mật khẩu dài quá {PASSWORD_MAX} ký tự"
    return None


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def client_key(secret: bytes, address: str) -> str:
    """An address as a keyed hash: enough to count and limit, useless to a reader of the store."""
    return hmac.new(secret, address.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


def session_stamp(secret: bytes, password_hash: str) -> str:
    """What a session remembers of the password: a keyed hash of its Argon2 hash, so a new password
    ends every session, and the cookie (signed, not encrypted) shows nothing of the hash."""
    return hmac.new(secret, password_hash.encode(), hashlib.sha256).hexdigest()[:24]


def normalize_name(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", name).strip().lower()


class LoginResult:
    OK = "ok"
    BAD = "bad"
    LOCKED = "locked"
    CLIENT_BLOCKED = "client_blocked"


def check_login(store: Store, name: str, password: str, client: str, now: datetime | None = None
                ) -> tuple[str, StaffUser | None]:
    """Verify a login and record the attempt. The account is locked after ``ACCOUNT_FAILS`` failures in a
    row, the address after ``CLIENT_FAILS`` failures in ``CLIENT_WINDOW`` (whatever names it tried); a locked
    account refuses even the right password until the lock ends."""
    now = now or utcnow()
    key = normalize_name(name)[:100]
    with store.session() as s:
        since = now - CLIENT_WINDOW
        fails = s.exec(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.client == client, LoginAttempt.ok == False, LoginAttempt.at >= since)).one()  # noqa: E712
        if fails >= CLIENT_FAILS:
            s.add(LoginAttempt(name=key, client=client, ok=False, at=now))
            return LoginResult.CLIENT_BLOCKED, None
        user = s.exec(select(StaffUser).where(StaffUser.name == key)).first()
        if user is None or not user.active:
            _verify(_DUMMY_HASH, password)
            s.add(LoginAttempt(name=key, client=client, ok=False, at=now))
            return LoginResult.BAD, None
        locked_until = user.locked_until
        if locked_until is not None and locked_until > now:
            s.add(LoginAttempt(name=key, client=client, ok=False, at=now))
            return LoginResult.LOCKED, user
        if not _verify(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= ACCOUNT_FAILS:
                user.locked_until = now + ACCOUNT_LOCK
                user.failed_logins = 0
            s.add(user)
            s.add(LoginAttempt(name=key, client=client, ok=False, at=now))
            return (LoginResult.LOCKED if user.locked_until and user.locked_until > now else LoginResult.BAD), user
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        s.add(user)
        s.add(LoginAttempt(name=key, client=client, ok=True, at=now))
        return LoginResult.OK, user


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password[:PASSWORD_MAX])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def add_user(store: Store, *, name: str, display_name: str, unit_id: str, role: str, password: str) -> bool:
    """A new staff account with the password's Argon2 hash; False when the name is taken."""
    with store.session() as s:
        if s.exec(select(StaffUser).where(StaffUser.name == name)).first() is not None:
            return False
        s.add(StaffUser(name=name, display_name=display_name, unit_id=unit_id, role=role,
                        password_hash=hash_password(password)))
    return True


def list_users(store: Store) -> list[StaffUser]:
    with store.session() as s:
        return list(s.exec(select(StaffUser).order_by(StaffUser.name)).all())


# --- CSRF ---------------------------------------------------------------------------------------


def csrf_token(session: MutableMapping[str, Any]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def csrf_ok(session: MutableMapping[str, Any], sent: Any) -> bool:
    token = session.get("csrf")
    return isinstance(token, str) and isinstance(sent, str) and len(token) >= 20 and hmac.compare_digest(token, sent)


# --- rate limits (in the process: the submission page is served by one `serve`) -------------------


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key; memory bounded by ``max_keys``."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self.events: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            if len(self.events) > self.max_keys:
                self.events.clear()
            q = self.events[key]
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True


def parse_rate(text: str | None, default: tuple[int, float]) -> tuple[int, float]:
    """``"5/600"``: 5 per 600 seconds (``CAMPAIGN_SUBMIT_RATE``)."""
    try:
        n, _, w = (text or "").partition("/")
        return max(1, min(int(n), 1_000_000)), max(1.0, min(float(w), 86_400.0))
    except ValueError:
        return default


# --- headers and body limits (pure ASGI: they see every response, also errors) ---------------------

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
                   Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised from ``receive`` once a request body passes its limit (the handler answers 413)."""


class GuardMiddleware:
    """Adds the security headers to every response; refuses bodies over ``max_body`` bytes: at once from
    Content-Length, else while streaming (``receive`` raises :class:`BodyTooLarge`)."""

    def __init__(self, app: ASGIApp, max_body: int, max_small: int = 64_000, hsts: bool = False) -> None:
        self.app, self.max_body, self.max_small = app, max_body, max_small
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # only the submission form takes photos; every other body is small
        limit = self.max_body if scope.get("path") in ("/submit",) else self.max_small
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = True
            if too_big:
                await _refuse_413(send, self.headers)
                return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in self.headers if h[0] not in names]
            await send(message)

        await self.app(scope, limited, with_headers)


TOO_LARGE_TEXT = "Dữ liệu gửi lên quá lớn. Mỗi ảnh tối đa 10 MB, cả bài tối đa 40 MB: hãy chọn ít ảnh hơn hoặc ảnh nhỏ hơn."


async def _refuse_413(send: Any, headers: list[tuple[bytes, bytes]]) -> None:
    body = ("<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Quá lớn</title></head>"
            f"<body><main><h1>Không nhận được</h1><p>{TOO_LARGE_TEXT}</p></main></body></html>").encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")] + headers})
    await send({"type": "http.response.body", "body": body})
