"""Facebook: the HTTP side of the Graph API (sessions, one call, rate-limit headers, small helpers).

Where the token travels: POST bodies carry ``access_token`` (and ``appsecret_proof``); GETs carry
``Authorization: Bearer`` (``appsecret_proof``, an HMAC that reveals neither the token nor the secret,
goes in the query). Errors are turned into worker decisions by :mod:`bot.channels.facebook.errors`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies

import requests
import requests.certs
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from bot.channels import HoldChannel, RetryLater
from bot.channels.spec import scrub

log = logging.getLogger("bot.channels.facebook")

USER_AGENT = "campaign-bot"
DEFAULT_BASE = "https://graph.facebook.com"
DEFAULT_VERSION = "v24.0"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0

REQUIRED_PERMISSIONS = ("pages_manage_posts", "pages_read_engagement", "pages_show_list")
BATCH_MAX = 50
USAGE_PAUSE_PERCENT = 90
# Default pauses when the platform gives no estimate: Mixpost (inovector/mixpost ManagesRateLimit)
# pauses an hour at 90 % of a budget; the platform budgets are rolling windows of 1 h (app) or 24 h (Page).
DEFAULT_PAGE_PAUSE = 3600.0
DEFAULT_APP_PAUSE = 900.0
DEFAULT_USER_PAUSE = 900.0
# Reconcile searches published_posts from the first attempt minus this margin (clock skew).
FIND_MARGIN = timedelta(minutes=15)
FIND_FALLBACK_WINDOW = timedelta(days=2)
FIND_MAX_PAGES = 20
# Unpublished photos uploaded for a multi-photo post are reused by a retry while this young.
MEDIA_REUSE_SECONDS = 6 * 3600

_PAGE_LOCKS: dict[str, threading.Lock] = {}
_PAGE_LOCKS_GUARD = threading.Lock()


def page_lock(page_id: str) -> threading.Lock:
    """The process-wide lock that keeps at most one post in flight per Page."""
    with _PAGE_LOCKS_GUARD:
        lock = _PAGE_LOCKS.get(page_id)
        if lock is None:
            lock = _PAGE_LOCKS[page_id] = threading.Lock()
        return lock


class Transport(requests.Session):
    """The HTTP transport one worker shares between all its channels (connection pooling).

    It *is* a ``requests.Session`` (Zalo and the media checks use it as one) and it also holds
    :attr:`graph`, a ``urllib3`` pool that the Graph API calls use. Why two: on the post path urllib3
    costs half the client CPU of requests or less (bench/bench_facebook.py --http, issue 15 item 3, two
    runs on this 2-core machine: 0.59–0.91 against 1.46–1.51 ms per photo POST, 0.48–0.56 against
    1.34–1.44 ms per text POST; requests with ``trust_env=False`` only saves on small posts), because
    requests rebuilds each request through several layers and looks up proxies, netrc and CA settings
    in the environment on every call. The environment is read once here instead (proxy from
    ``HTTPS_PROXY``/``https_proxy``, the same CA bundle as requests), with the same timeouts, no
    automatic retries (a retried POST could post twice), and the token only in bodies and headers.
    """

    def __init__(self, pool_maxsize: int = 10) -> None:
        super().__init__()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = USER_AGENT
        self.graph = graph_pool(pool_maxsize)

    def close(self) -> None:
        super().close()
        self.graph.clear()


def graph_pool(maxsize: int = 10) -> urllib3.PoolManager:
    """A urllib3 pool for the Graph API: no retries, no redirects followed, CA bundle and proxy read once."""
    options: dict[str, Any] = {
        "num_pools": 4, "maxsize": maxsize, "retries": False, "headers": {"User-Agent": USER_AGENT},
        "cert_reqs": "CERT_REQUIRED", "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or requests.certs.where(),
    }
    proxy = getproxies().get("https")
    if proxy:
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


def new_session(pool_maxsize: int = 10) -> Transport:
    """A transport to share between channels. Size the pool to the worker threads."""
    return Transport(pool_maxsize)


def appsecret_proof(token: str, app_secret: str) -> str:
    """Hex HMAC-SHA256 of the access token keyed by the app secret (Graph API "Securing Requests")."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def normalize_text(text: str | None) -> str:
    """What two messages must share to be the same post: NFC, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def _usage_percent(entry: Any) -> float:
    if not isinstance(entry, dict):
        return 0.0
    values = [entry.get(k) for k in ("call_count", "total_time", "total_cputime")]
    return float(max((v for v in values if isinstance(v, int | float)), default=0))


def _json_header(headers: Any, name: str) -> Any:
    raw = headers.get(name) if headers is not None else None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class Usage:
    """The rate-limit headers of one answer, reduced to what the worker needs."""

    app_percent: float = 0.0
    page_percent: float = 0.0
    regain_seconds: float = 0.0  # estimated_time_to_regain_access, in seconds

    @classmethod
    def from_headers(cls, headers: Any, page_id: str | None = None) -> Usage:
        """Read the usage headers; the Business Use Case header (``type: "pages"``) wins over X-Page-Usage.

        Page tokens fall under Business Use Case limits (Graph API "Rate Limits"), whose header is
        ``{"<id>": [{"type": "pages", "call_count", "total_cputime", "total_time",
        "estimated_time_to_regain_access": <minutes>}]}``. ``X-Page-Usage`` is the 2016 header: it is read
        only when no BUC entry for Pages came back.
        """
        app = _usage_percent(_json_header(headers, "X-App-Usage"))
        buc_entries: list[dict[str, Any]] = []
        buc = _json_header(headers, "X-Business-Use-Case-Usage")
        if isinstance(buc, dict):
            groups = [buc[page_id]] if page_id and page_id in buc else list(buc.values())
            for entries in groups:
                items = entries if isinstance(entries, list) else [entries]
                buc_entries.extend(e for e in items if isinstance(e, dict))
            pages = [e for e in buc_entries if e.get("type") == "pages"]
            buc_entries = pages or buc_entries
        legacy = _json_header(headers, "X-Page-Usage")
        legacy_entries = [legacy] if isinstance(legacy, dict) else []
        entries = buc_entries or legacy_entries
        page = max((_usage_percent(e) for e in entries), default=0.0)
        minutes = _regain_minutes(buc_entries) or _regain_minutes(legacy_entries)
        return cls(app_percent=app, page_percent=page, regain_seconds=minutes * 60)

    def advice(self) -> dict[str, float]:
        """Published.extra keys that ask the worker to pause before the platform throttles."""
        extra: dict[str, float] = {}
        if self.page_percent >= USAGE_PAUSE_PERCENT:
            extra["pause_channel_seconds"] = self.regain_seconds or DEFAULT_PAGE_PAUSE
        if self.app_percent >= USAGE_PAUSE_PERCENT:
            extra["pause_app_seconds"] = DEFAULT_APP_PAUSE
        return extra


def _regain_minutes(entries: list[dict[str, Any]]) -> float:
    values = [e.get("estimated_time_to_regain_access") for e in entries]
    return max((float(m) for m in values if _is_number(m)), default=0.0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class _Answer:
    body: Any
    usage: Usage


def _sent_before_failure(exc: BaseException) -> bool:
    """Whether a connection error happened after the request may have been sent."""
    reason: Any = exc.reason if isinstance(exc, MaxRetryError) else exc
    # Refused, unresolvable, or timed out while connecting: nothing reached the platform.
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)


def encode_body(data: dict[str, Any] | None, files: dict[str, Any] | None) -> tuple[bytes, str]:
    """A form body: urlencoded, or multipart when there are files (``{name: (filename, file, mime)}``)."""
    fields: dict[str, Any] = {k: str(v) for k, v in (data or {}).items() if v is not None}
    if not files:
        return urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded"
    for name, (filename, fh, mime) in files.items():
        fields[name] = (filename, fh.read() if hasattr(fh, "read") else fh, mime)
    body, content_type = urllib3.encode_multipart_formdata(fields)
    return body, content_type


def _reason_name(exc: BaseException) -> str:
    """The innermost cause's class name (e.g. RemoteDisconnected): informative, and free of URLs."""
    reason: Any = exc
    for _ in range(5):
        args = getattr(reason, "args", ())
        inner = getattr(reason, "reason", None) or next(
            (a for a in reversed(args) if isinstance(a, BaseException)), None)
        if inner is None or inner is reason:
            break
        reason = inner
    return type(reason).__name__


def _mime(path: Path) -> str:
    return {
        ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
        ".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
    }.get(path.suffix.lower(), "application/octet-stream")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _float(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class GraphHttp:
    """The HTTP half of :class:`~bot.channels.facebook.FacebookChannel` (a mixin: it uses the channel's fields)."""

    def _scrub(self, text: str) -> str:
        """Remove every secret (and any access_token query value) from a text meant for people."""
        return scrub(text, (self._token, self._app_token, self._app_secret), limit=None)

    # ------------------------------------------------------------------ HTTP

    def _url(self, path: str) -> str:
        return f"{self.base}/{self.version}/{path.lstrip('/')}"

    def _proof(self, token: str) -> str | None:
        return appsecret_proof(token, self._app_secret) if self._app_secret else None

    def _require_token(self) -> str:
        if not self._token:
            raise HoldChannel(
                f"Chưa có Page access token cho Trang {self.page_id}: biến {self.token_env or '(không tên)'} chưa đặt.",
                fix=f"Đặt Page access token của Trang {self.page_id} vào biến {self.token_env} trong tệp .env.",
                code="no-token",
            )
        return self._token

    def _call(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        creates: bool = False,
        token: str | None = None,
        url: str | None = None,
        need: str = "pages_manage_posts",
    ) -> _Answer:
        """One Graph call. Returns the decoded body or raises a classified ChannelError."""
        token = token or self._require_token()
        proof = self._proof(token)
        headers: dict[str, str] = {}
        if method == "GET":
            headers["Authorization"] = f"Bearer {token}"
            params = dict(params or {})
            if proof:
                params["appsecret_proof"] = proof
        else:
            data = dict(data or {})
            data["access_token"] = token
            if proof:
                data["appsecret_proof"] = proof
        target = url or self._url(path)
        shown = urlsplit(target).path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        body_bytes: bytes | None = None
        if method != "GET":
            body_bytes, headers["Content-Type"] = encode_body(data, files)
        started = time.monotonic()
        try:
            resp = self.pool.request(
                method, target, body=body_bytes, headers=headers, retries=False, redirect=False,
                timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
            )
        except (ConnectTimeoutError, NewConnectionError, MaxRetryError) as exc:
            if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
                raise RetryLater(
                    f"Không kết nối được tới Facebook ({method} {shown}): quá thời gian chờ kết nối.",
                    maybe_sent=False, code="connect-timeout",
                ) from None
            sent = _sent_before_failure(exc)
            raise RetryLater(
                f"Mất kết nối tới Facebook ({method} {shown}): {_reason_name(exc)}"
                + (" sau khi đã gửi yêu cầu." if sent else " trước khi gửi yêu cầu."),
                maybe_sent=creates and sent, in_flight=sent, code="connection",
            ) from None
        except ReadTimeoutError:
            raise RetryLater(
                f"Facebook không trả lời kịp ({method} {shown}, chờ {self.timeout[1]:g} s)"
                + (": bài có thể đã được đăng, sẽ kiểm tra Trang trước khi gửi lại." if creates else "."),
                maybe_sent=creates, in_flight=True, code="read-timeout",
            ) from None
        except (ProtocolError, OSError) as exc:
            raise RetryLater(
                f"Mất kết nối tới Facebook ({method} {shown}): {_reason_name(exc)} sau khi đã gửi yêu cầu.",
                maybe_sent=creates, in_flight=True, code="connection",
            ) from None
        except HTTPError as exc:
            raise RetryLater(
                f"Lỗi gọi Facebook ({method} {shown}): {self._scrub(str(exc))}",
                maybe_sent=creates, in_flight=True, code="request",
            ) from None
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s %s %s -> %s (%.0f ms)", self, method, shown, resp.status, elapsed)
        usage = Usage.from_headers(resp.headers, self.page_id)
        try:
            body = json.loads(resp.data) if resp.data else None
        except ValueError:
            body = None
        if resp.status == 200 and not (isinstance(body, dict) and "error" in body):
            return _Answer(body, usage)
        raise self._classify(resp.status, body, resp.headers, creates=creates, need=need)

