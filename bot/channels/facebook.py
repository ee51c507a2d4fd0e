"""Facebook Pages through the Graph API.

Service ........ Facebook Page (Graph API, Pages API); Groups are gone since v19 (April 2024).
Protocol ....... ``facebook://{page_id}`` — configured in config/units.yaml as ``platform: facebook``,
                 ``page_id`` (-> ``row.account_id``) and ``token_env`` (-> ``row.token_env``).
Setup .......... https://developers.facebook.com/docs/pages-api/getting-started

Secret fields (never in a URL, a log line, an exception text or the store; printed only through
:func:`bot.channels.mask`):
  * the Page access token — ``ctx.env[row.token_env]`` (the row keeps only the variable's *name*);
  * ``FB_APP_SECRET`` — optional; when set every call carries ``appsecret_proof``;
  * ``FB_APP_TOKEN`` — optional app access token, or ``FB_APP_ID`` + ``FB_APP_SECRET`` which make one
    (``{app_id}|{app_secret}``); only used by :meth:`FacebookChannel.check` for ``debug_token``.

Settings (``ctx.env``): ``GRAPH_API_BASE`` (default https://graph.facebook.com), ``GRAPH_API_VERSION``
(default v24.0), ``GRAPH_API_CONNECT_TIMEOUT`` (5 s), ``GRAPH_API_READ_TIMEOUT`` (30 s).

Limits:
  * one post in flight per Page (spam blocks #368 otherwise) — enforced in-process by a per-Page lock,
    across processes by the worker's channel lease (:attr:`FacebookChannel.max_in_flight`);
  * batch requests: at most 50 per call (engagement reads are chunked by 50);
  * a post's text: 63,206 characters (:attr:`FacebookChannel.body_maxlen`);
  * usage headers at or above 90 % pause the Page (or the app) before the platform does.

Where the token travels: POST bodies carry ``access_token`` (and ``appsecret_proof``); GETs carry
``Authorization: Bearer`` (``appsecret_proof``, an HMAC that reveals neither the token nor the secret,
goes in the query). ``debug_token`` needs the inspected token as a query parameter, so it is sent
inside a batch request, whose ``relative_url`` travels in the POST body. ``paging.next`` URLs echoed by
the platform may carry ``access_token``: it is stripped before the next page is fetched.

How errors become worker decisions (facts: ../shared/api-notes/graph-api.md; Graph API "Handling
Errors", "Rate Limits" and "Batch Requests" pages on developers.facebook.com):

===============================================  ==================================================
envelope                                          raised
===============================================  ==================================================
1, 2, ``is_transient``, HTTP 5xx, timeouts        RetryLater(scope="delivery"); ``maybe_sent`` when a
                                                  creating POST may have reached the platform (a 500
                                                  on a photo upload may still have made the photo,
                                                  arsduo/koala #699)
4, 341                                            RetryLater(scope="app")
17, 32, 613, 80000–80014                          RetryLater(scope="channel", retry_after from
                                                  ``estimated_time_to_regain_access``)
190 (+ subcodes), 102, 104, bad appsecret_proof   HoldChannel — renew the token in ``row.token_env``
3, 10, 200–299                                    HoldChannel — grant the named permission
2635 (deprecated API version)                     HoldChannel — set GRAPH_API_VERSION
100, 324, 1609005                                 Rejected with the platform's message
368                                               Rejected, code "368": a person must look at the Page
506 (duplicate)                                   the Page is searched: Published if our post is
                                                  there, else Rejected
===============================================  ==================================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from bot.channels import (
    ChannelCheck,
    ChannelContext,
    ChannelError,
    EngagementReading,
    HoldChannel,
    Post,
    PostState,
    Published,
    Rejected,
    RetryLater,
    mask,
)
from bot.store import Channel as ChannelRow

log = logging.getLogger(__name__)

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

APP_LIMIT_CODES = {4, 341}
CHANNEL_LIMIT_CODES = {17, 32, 613} | set(range(80000, 80015))
TOKEN_CODES = {190, 102, 104}
PERMISSION_CODES = {3, 10} | set(range(200, 300))
REJECT_CODES = {100, 324, 1609005}
TRANSIENT_CODES = {1, 2}

TOKEN_SUBCODES = {
    458: "ứng dụng đã bị gỡ khỏi tài khoản của người cấp token",
    459: "tài khoản Facebook của người cấp token đang bị kiểm tra bảo mật (checkpoint)",
    460: "người cấp token đã đổi mật khẩu Facebook",
    463: "token đã hết hạn",
    464: "tài khoản của người cấp token chưa được xác minh",
    467: "token không còn hợp lệ (đã bị thu hồi hoặc đăng xuất)",
    492: "phiên không còn hiệu lực (người cấp token có thể đã mất vai trò quản trị Trang)",
}
SUBCODE_ACTION = {
    459: "Người cấp token đăng nhập https://www.facebook.com để hoàn tất kiểm tra bảo mật, rồi ",
    464: "Người cấp token xác minh tài khoản Facebook, rồi ",
    492: "Kiểm tra người cấp token vẫn là quản trị viên Trang, rồi ",
}

_PAGE_LOCKS: dict[str, threading.Lock] = {}
_PAGE_LOCKS_GUARD = threading.Lock()


def page_lock(page_id: str) -> threading.Lock:
    """The process-wide lock that keeps at most one post in flight per Page."""
    with _PAGE_LOCKS_GUARD:
        lock = _PAGE_LOCKS.get(page_id)
        if lock is None:
            lock = _PAGE_LOCKS[page_id] = threading.Lock()
        return lock


def new_session(pool_maxsize: int = 10) -> requests.Session:
    """A Session to share between channels (connection pooling). Size the pool to the worker threads."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "campaign-bot"
    return session


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
    def from_headers(cls, headers: Any) -> Usage:
        app = _usage_percent(_json_header(headers, "X-App-Usage"))
        page_entries: list[dict[str, Any]] = []
        page_usage = _json_header(headers, "X-Page-Usage")
        if isinstance(page_usage, dict):
            page_entries.append(page_usage)
        buc = _json_header(headers, "X-Business-Use-Case-Usage")
        if isinstance(buc, dict):
            for entries in buc.values():
                if isinstance(entries, list):
                    page_entries.extend(e for e in entries if isinstance(e, dict))
                elif isinstance(entries, dict):
                    page_entries.append(entries)
        page = max((_usage_percent(e) for e in page_entries), default=0.0)
        regain = [e.get("estimated_time_to_regain_access") for e in page_entries]
        minutes = max((float(m) for m in regain if _is_number(m)), default=0.0)
        return cls(app_percent=app, page_percent=page, regain_seconds=minutes * 60)

    def advice(self) -> dict[str, float]:
        """Published.extra keys that ask the worker to pause before the platform throttles."""
        extra: dict[str, float] = {}
        if self.page_percent >= USAGE_PAUSE_PERCENT:
            extra["pause_channel_seconds"] = self.regain_seconds or DEFAULT_PAGE_PAUSE
        if self.app_percent >= USAGE_PAUSE_PERCENT:
            extra["pause_app_seconds"] = DEFAULT_APP_PAUSE
        return extra


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class _Answer:
    body: Any
    usage: Usage


def _sent_before_failure(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether a connection error happened after the request may have been sent."""
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # Refused, unresolvable, or timed out while connecting: nothing reached the platform.
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)


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


class FacebookChannel:
    """A Facebook Page. One instance per configured channel; thread-safe for distinct posts."""

    platform: ClassVar[str] = "facebook"

    # Apprise-style declaration of the service, its limits and its secret fields.
    service_name: ClassVar[str] = "Facebook Page"
    service_url: ClassVar[str] = "https://www.facebook.com/"
    setup_url: ClassVar[str] = "https://developers.facebook.com/docs/pages-api/getting-started"
    protocol: ClassVar[str] = "facebook"
    body_maxlen: ClassVar[int] = 63206
    attachment_support: ClassVar[bool] = True
    max_in_flight: ClassVar[int] = 1  # posts in flight per Page
    batch_max: ClassVar[int] = BATCH_MAX
    template_tokens: ClassVar[dict[str, dict[str, Any]]] = {
        "page_id": {"name": "Page ID", "source": "row.account_id", "private": False, "required": True},
        "token": {"name": "Page access token", "source": "ctx.env[row.token_env]", "private": True,
                  "required": True},
        "app_secret": {"name": "App secret", "source": "ctx.env['FB_APP_SECRET']", "private": True},
        "app_token": {"name": "App access token", "source": "ctx.env['FB_APP_TOKEN']", "private": True},
        "app_id": {"name": "App ID", "source": "ctx.env['FB_APP_ID']", "private": False},
    }
    template_args: ClassVar[dict[str, dict[str, Any]]] = {
        "base": {"env": "GRAPH_API_BASE", "default": DEFAULT_BASE},
        "version": {"env": "GRAPH_API_VERSION", "default": DEFAULT_VERSION},
        "connect_timeout": {"env": "GRAPH_API_CONNECT_TIMEOUT", "default": DEFAULT_CONNECT_TIMEOUT},
        "read_timeout": {"env": "GRAPH_API_READ_TIMEOUT", "default": DEFAULT_READ_TIMEOUT},
    }

    def __init__(self, row: ChannelRow, ctx: ChannelContext) -> None:
        self.row = row
        self.ctx = ctx  # issue 18: the media store for a guide's PDF
        env = ctx.env or {}
        self.page_id = str(row.account_id or "")
        self.token_env = row.token_env or ""
        self._token = env.get(self.token_env, "") if self.token_env else ""
        self._app_secret = env.get("FB_APP_SECRET") or None
        app_id = env.get("FB_APP_ID")
        self._app_token = env.get("FB_APP_TOKEN") or (
            f"{app_id}|{self._app_secret}" if app_id and self._app_secret else None
        )
        self.base = (env.get("GRAPH_API_BASE") or DEFAULT_BASE).rstrip("/")
        self.version = (env.get("GRAPH_API_VERSION") or DEFAULT_VERSION).strip("/")
        self.timeout = (
            _float(env.get("GRAPH_API_CONNECT_TIMEOUT"), DEFAULT_CONNECT_TIMEOUT),
            _float(env.get("GRAPH_API_READ_TIMEOUT"), DEFAULT_READ_TIMEOUT),
        )
        if ctx.transport is not None:
            self.session: requests.Session = ctx.transport
            self._own_session = False
        else:
            self.session = new_session(pool_maxsize=4)
            self._own_session = True

    # ------------------------------------------------------------------ printing

    def __str__(self) -> str:
        return f"facebook://{mask(self._token)}@{self.page_id}"

    __repr__ = __str__

    def _scrub(self, text: str) -> str:
        """Remove every secret (and any access_token query value) from a text meant for people."""
        for secret in (self._token, self._app_token, self._app_secret):
            if secret:
                text = text.replace(secret, "****")
        return re.sub(r"(access_token|input_token|appsecret_proof)=[^&\s'\"]+", r"\1=****", text)

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
        started = time.monotonic()
        try:
            resp = self.session.request(
                method, target, params=params, data=data, files=files, headers=headers, timeout=self.timeout
            )
        except requests.exceptions.ConnectTimeout:
            raise RetryLater(
                f"Không kết nối được tới Facebook ({method} {shown}): quá thời gian chờ kết nối.",
                maybe_sent=False, code="connect-timeout",
            ) from None
        except requests.exceptions.ReadTimeout:
            raise RetryLater(
                f"Facebook không trả lời kịp ({method} {shown}, chờ {self.timeout[1]:g} s)"
                + (": bài có thể đã được đăng, sẽ kiểm tra Trang trước khi gửi lại." if creates else "."),
                maybe_sent=creates, in_flight=True, code="read-timeout",
            ) from None
        except requests.exceptions.ConnectionError as exc:
            sent = _sent_before_failure(exc)
            raise RetryLater(
                f"Mất kết nối tới Facebook ({method} {shown}): {_reason_name(exc)}"
                + (" sau khi đã gửi yêu cầu." if sent else " trước khi gửi yêu cầu."),
                maybe_sent=creates and sent, in_flight=sent, code="connection",
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RetryLater(
                f"Lỗi gọi Facebook ({method} {shown}): {self._scrub(str(exc))}",
                maybe_sent=creates, in_flight=True, code="request",
            ) from None
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s %s %s -> %s (%.0f ms)", self, method, shown, resp.status_code, elapsed)
        usage = Usage.from_headers(resp.headers)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 200 and not (isinstance(body, dict) and "error" in body):
            return _Answer(body, usage)
        raise self._classify(resp.status_code, body, resp.headers, creates=creates, need=need)

    # ------------------------------------------------------------------ classification

    def _classify(self, status: int, body: Any, headers: Any, *, creates: bool, need: str) -> ChannelError:
        """Turn an error answer into what the worker must do (see the table at the top)."""
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            return RetryLater(
                f"Facebook trả lời HTTP {status} không có mô tả lỗi"
                + (": bài có thể đã được đăng." if creates and status >= 500 else "."),
                maybe_sent=creates and status >= 500, code=f"http-{status}",
            )
        code = _int(err.get("code"))
        sub = _int(err.get("error_subcode"))
        text = self._scrub(str(err.get("message") or "").strip())
        user_msg = self._scrub(str(err.get("error_user_msg") or "").strip())
        trace = err.get("fbtrace_id")
        label = f"#{code}" + (f"/{sub}" if sub else "")
        said = f"Facebook báo lỗi {label}: {text}" + (f" — {user_msg}" if user_msg else "")
        if trace:
            said += f" (fbtrace_id {trace})"
        usage = Usage.from_headers(headers)

        if code in APP_LIMIT_CODES:
            return RetryLater(
                f"Ứng dụng Facebook đã chạm giới hạn số lần gọi; tạm dừng mọi Trang. {said}",
                scope="app", retry_after=usage.regain_seconds or DEFAULT_APP_PAUSE, code=str(code),
            )
        if code in CHANNEL_LIMIT_CODES:
            default = DEFAULT_USER_PAUSE if code == 17 else DEFAULT_PAGE_PAUSE
            return RetryLater(
                f"Trang {self.page_id} đã chạm giới hạn số lần gọi; tạm dừng Trang này. {said}",
                scope="channel", retry_after=usage.regain_seconds or default, code=str(code),
            )
        if code in TOKEN_CODES:
            return self._token_hold(code, sub, said)
        if code == 100 and "appsecret_proof" in text.lower():
            return HoldChannel(
                f"Facebook không chấp nhận appsecret_proof của Trang {self.page_id}. {said}",
                fix=(
                    "Đặt FB_APP_SECRET trong tệp .env bằng khoá bí mật (App secret) của đúng ứng dụng đã cấp "
                    f"token trong {self.token_env}; nếu ứng dụng không bật 'Require App Secret' thì có thể bỏ trống."
                ),
                code="appsecret_proof",
            )
        if code in PERMISSION_CODES:
            return self._permission_hold(code, text, said, need)
        if code == 2635:
            return HoldChannel(
                f"Phiên bản Graph API {self.version} đã ngừng hỗ trợ. {said}",
                fix="Đặt GRAPH_API_VERSION trong tệp .env thành một phiên bản còn hỗ trợ (ví dụ v24.0).",
                code="2635",
            )
        if code == 506:
            return Rejected(f"Facebook báo trùng nội dung với một bài vừa đăng trên Trang. {said}", code="506")
        if code == 368:
            return Rejected(
                f"Facebook tạm chặn Trang {self.page_id} vì nghi vi phạm chính sách; bài này không gửi lại. "
                f"Cần một người kiểm tra Trang (Hộp thư hỗ trợ / Chất lượng Trang). {said}",
                code="368",
            )
        if code in REJECT_CODES:
            reason = "ảnh thiếu hoặc không hợp lệ" if code == 324 else "nội dung hoặc tham số không hợp lệ"
            return Rejected(f"Facebook từ chối bài ({reason}). {said}", code=str(code))
        if code in TRANSIENT_CODES or err.get("is_transient") is True or status >= 500:
            return RetryLater(
                f"Facebook đang lỗi tạm thời; sẽ thử lại. {said}"
                + (" Bài có thể đã được đăng: sẽ kiểm tra Trang trước khi gửi lại." if creates else ""),
                maybe_sent=creates, code=str(code) if code is not None else f"http-{status}",
            )
        # Unknown: retry within the worker's budget (which ends in `failed`), checking the Page first.
        return RetryLater(
            f"Lỗi Facebook chưa phân loại; sẽ thử lại. {said}",
            maybe_sent=creates, code=str(code) if code is not None else f"http-{status}",
        )

    def _renew_fix(self, sub: int | None) -> str:
        lead = SUBCODE_ACTION.get(sub or 0, "")
        step = (
            f"tạo Page access token mới cho Trang {self.page_id} (từ token người dùng dài hạn của một quản trị viên "
            f"Trang, với các quyền {', '.join(REQUIRED_PERMISSIONS)}) và đặt vào biến {self.token_env} trong tệp .env. "
            "Kênh tự mở lại khi token đổi."
        )
        return (lead + step) if lead else step[0].upper() + step[1:]

    def _token_hold(self, code: int | None, sub: int | None, said: str) -> HoldChannel:
        why = TOKEN_SUBCODES.get(sub or 0) or (
            "phiên làm việc không hợp lệ" if code == 102 else "token không hợp lệ, đã hết hạn hoặc bị thu hồi"
        )
        return HoldChannel(
            f"Token của Trang {self.page_id} (biến {self.token_env}) không dùng được: {why}. {said}",
            fix=self._renew_fix(sub),
            code=f"{code}/{sub}" if sub else str(code),
        )

    def _permission_hold(self, code: int | None, text: str, said: str, need: str) -> HoldChannel:
        named = [p for p in (*REQUIRED_PERMISSIONS, "pages_read_user_content") if p in text]
        perms = named or [need]
        user_token = code == 200 and "page" in text.lower() and "token" in text.lower()
        fix = (
            f"Cấp quyền {', '.join(perms)} cho ứng dụng (người cấp phải là quản trị viên Trang {self.page_id} có quyền "
            f"tạo nội dung), rồi tạo lại Page access token và đặt vào biến {self.token_env} trong tệp .env."
        )
        if user_token or code == 200:
            fix += (
                f" Lưu ý: {self.token_env} phải là Page access token (lấy qua /me/accounts hoặc /{self.page_id}"
                "?fields=access_token), không phải token người dùng."
            )
        return HoldChannel(
            f"Thiếu quyền để dùng Trang {self.page_id}: {', '.join(perms)}. {said}",
            fix=fix,
            code=str(code),
        )

    # ------------------------------------------------------------------ publishing

    def publish(self, post: Post) -> Published:
        message = unicodedata.normalize("NFC", post.text)
        if len(message) > self.body_maxlen:
            raise Rejected(f"Bài dài {len(message)} ký tự, quá giới hạn {self.body_maxlen} của Facebook.", code="too-long")
        images = [Path(p) for p in post.images]
        for image in images:
            if not image.is_file():
                # A local problem (banner not rendered yet, file moved): retried within the budget.
                raise RetryLater(f"Không tìm thấy ảnh {image.name} để đăng.", code="no-image")
        self._require_token()
        if post.attachments.get("document"):  # issue 18: the PDF must be online before the post links to it
            from bot.media import ensure_document

            ensure_document(self.ctx, post)
        with page_lock(self.page_id):
            try:
                if post.attachments.get("video"):  # issue 18: a Page video or a Reel
                    from bot.channels.facebook_video import publish_video

                    published = publish_video(self, post, message)
                elif post.attachments.get("link_post"):  # issue 18: the link's preview card, no banner
                    published = self._publish_feed(message, post.link)
                elif len(images) == 1:
                    published = self._publish_photo(message, images[0])
                elif images:
                    published = self._publish_album(post, message, images)
                else:
                    published = self._publish_feed(message, post.link)
            except Rejected as exc:
                if exc.code != "506":
                    raise
                return self._resolve_duplicate(post, exc)
        log.info("%s: đã đăng %s (delivery %s)", self, published.post_id, post.delivery_id)
        return published

    def _published(self, post_id: str, usage: Usage, **extra: Any) -> Published:
        page, _, rest = post_id.partition("_")
        url = f"https://www.facebook.com/{page}/posts/{rest}" if rest else f"https://www.facebook.com/{post_id}"
        return Published(post_id=post_id, url=url, extra={**extra, **usage.advice()})

    def _publish_photo(self, message: str, image: Path) -> Published:
        with image.open("rb") as fh:
            answer = self._call(
                "POST",
                f"{self.page_id}/photos",
                data={"message": message},
                files={"source": (image.name, fh, _mime(image))},
                creates=True,
            )
        body = answer.body if isinstance(answer.body, dict) else {}
        post_id = str(body.get("post_id") or body.get("id") or "")
        if not post_id:
            raise RetryLater("Facebook nhận ảnh nhưng không trả mã bài.", maybe_sent=True, code="no-id")
        return self._published(post_id, answer.usage, fb_photo_id=str(body.get("id") or ""))

    def _publish_feed(self, message: str, link: str | None, media: list[str] | None = None) -> Published:
        data: dict[str, Any] = {"message": message}
        if link and not media:
            data["link"] = link
        for i, media_id in enumerate(media or []):
            data[f"attached_media[{i}]"] = json.dumps({"media_fbid": media_id})
        answer = self._call("POST", f"{self.page_id}/feed", data=data, creates=True)
        body = answer.body if isinstance(answer.body, dict) else {}
        post_id = str(body.get("id") or "")
        if not post_id:
            raise RetryLater("Facebook nhận bài nhưng không trả mã bài.", maybe_sent=True, code="no-id")
        extra: dict[str, Any] = {"fb_media_ids": list(media)} if media else {}
        return self._published(post_id, answer.usage, **extra)

    def _publish_album(self, post: Post, message: str, images: list[Path]) -> Published:
        files = [str(p) for p in images]
        progress = post.progress or {}
        media: list[str] = []
        reused = False
        if (
            progress.get("fb_media_files") == files
            and len(progress.get("fb_media_ids") or []) <= len(files)
            and time.time() - float(progress.get("fb_media_uploaded_at") or 0) < MEDIA_REUSE_SECONDS
        ):
            media = [str(m) for m in progress.get("fb_media_ids") or []]
            reused = bool(media)
        uploaded_at = float(progress.get("fb_media_uploaded_at") or 0) if reused else time.time()

        def saved() -> dict[str, Any]:
            return {"fb_media_ids": list(media), "fb_media_files": files, "fb_media_uploaded_at": uploaded_at}

        try:
            for image in images[len(media):]:
                media.append(self._upload_unpublished(image))
            try:
                return self._publish_feed(message, None, media)
            except Rejected as exc:
                if not (reused and exc.code == "100"):
                    raise
                # Reused photo ids were refused (expired or already used): upload again, once.
                log.info("%s: ảnh tải lên trước không dùng lại được, tải lại", self)
                media, uploaded_at = [], time.time()
                for image in images:
                    media.append(self._upload_unpublished(image))
                return self._publish_feed(message, None, media)
        except ChannelError as exc:
            exc.progress = {**exc.progress, **saved()}
            raise

    def _upload_unpublished(self, image: Path) -> str:
        # An unpublished photo is not a post: a lost answer here cannot make a visible duplicate.
        with image.open("rb") as fh:
            answer = self._call(
                "POST",
                f"{self.page_id}/photos",
                data={"published": "false"},
                files={"source": (image.name, fh, _mime(image))},
                creates=False,
            )
        body = answer.body if isinstance(answer.body, dict) else {}
        if not body.get("id"):
            raise RetryLater("Facebook nhận ảnh nhưng không trả mã ảnh.", code="no-id")
        return str(body["id"])

    def _resolve_duplicate(self, post: Post, exc: Rejected) -> Published:
        try:
            found = self.find_existing(post)
        except ChannelError:
            raise RetryLater(
                f"{exc.message} Chưa kiểm tra được Trang; sẽ kiểm tra lại trước khi gửi.",
                maybe_sent=True, code="506", progress=exc.progress,
            ) from None
        if found is None:
            raise Rejected(
                f"{exc.message} Trên Trang không có bài nào của lần gửi này: nội dung trùng với một bài đăng trước đó "
                "(có thể do người khác đăng). Sửa nội dung nếu vẫn muốn đăng.",
                code="506",
            )
        log.info("%s: Facebook báo trùng, bài đã có trên Trang: %s", self, found.post_id)
        return Published(post_id=found.post_id, url=found.url, extra={**found.extra, "duplicate_resolved": True})

    # ------------------------------------------------------------------ reconcile

    def find_existing(self, post: Post) -> Published | None:
        """Search the Page's recent posts for this post's text (after a crash or an unclear answer)."""
        if post.attachments.get("video"):  # issue 18: by the saved video id, else the Page's videos
            from bot.channels.facebook_video import find_existing_video

            return find_existing_video(self, post)
        wanted = normalize_text(post.text)
        start = post.first_attempt_at or post.created_at
        start = start - FIND_MARGIN if start else datetime.now(UTC) - FIND_FALLBACK_WINDOW
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        params: dict[str, Any] | None = {
            "fields": "id,message,created_time",
            "since": int(start.timestamp()),
            "limit": 100,
        }
        url: str | None = self._url(f"{self.page_id}/published_posts")
        matches: list[dict[str, Any]] = []
        for _ in range(FIND_MAX_PAGES):
            if url is None:
                break
            answer = self._call("GET", url=url, params=params, need="pages_read_engagement")
            body = answer.body if isinstance(answer.body, dict) else {}
            for item in body.get("data") or []:
                if isinstance(item, dict) and normalize_text(item.get("message")) == wanted and item.get("id"):
                    matches.append(item)
            url, params = self._next_page(body)
        if not matches:
            return None
        first = min(matches, key=lambda m: str(m.get("created_time") or ""))
        return self._published(str(first["id"]), Usage(), found_by="published_posts")

    def _next_page(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """The next page's URL and query; None if there is none.

        ``paging.next`` may echo ``access_token``: it is dropped, and the URL is rebuilt on our own base
        (so a proxy in GRAPH_API_BASE keeps working and a tampered answer cannot send the token elsewhere).
        """
        paging = body.get("paging")
        nxt = paging.get("next") if isinstance(paging, dict) else None
        if not nxt or not body.get("data"):
            return None, None
        parts = urlsplit(str(nxt))
        versioned = re.search(r"/v\d+\.\d+/.*$", parts.path)
        url = self.base + versioned.group(0) if versioned else self._url(parts.path)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if k not in ("access_token", "appsecret_proof")]
        return url, dict(query)

    # ------------------------------------------------------------------ check

    # ------------------------------------------------------------------ corrections (issue 16)
    # Update: POST /{page-post-id} with ``message`` → {"success": true}, only for posts made by this app,
    # else "(#200) App cannot edit non-app posts" (Pages API "Posts" guide; jgorset/facepy #149). A photo
    # cannot be replaced, only the text. Delete: DELETE /{page-post-id} → {"success": true}. A deleted or
    # unknown id answers #100 subcode 33 "… does not exist" (graph-api.md). See bot/corrections.py.

    @staticmethod
    def _gone(exc: ChannelError) -> bool:
        return exc.code == "100" and ("#100/33" in exc.message or "does not exist" in exc.message)

    def edit(self, post_id: str, post: Post) -> Published:
        message = unicodedata.normalize("NFC", post.text)
        if len(message) > self.body_maxlen:
            raise Rejected(f"Bài dài {len(message)} ký tự, quá giới hạn {self.body_maxlen} của Facebook.", code="too-long")
        link = self._published(post_id, Usage()).url
        with page_lock(self.page_id):
            try:
                answer = self._call("POST", post_id, data={"message": message}, creates=True)
            except Rejected as exc:
                if self._gone(exc):
                    raise Rejected(f"Bài {link} không còn trên Trang (có thể đã bị xoá bằng tay). {exc.message}",
                                   code="gone") from None
                raise
            except HoldChannel as exc:
                if "non-app" in exc.message.lower():
                    # Not a token problem: this one post was made by a person or another app.
                    raise Rejected(f"Facebook không cho sửa bài {link} vì bài không do ứng dụng này đăng; cần người "
                                   f"sửa tay trên Trang. {exc.message}", code="non-app") from None
                raise
        body = answer.body if isinstance(answer.body, dict) else {}
        if body.get("success") is not True:
            raise RetryLater("Facebook không xác nhận đã sửa bài.", maybe_sent=True, code="no-success")
        return Published(post_id=post_id, url=link, extra=answer.usage.advice())

    def remove(self, post_id: str) -> bool:
        with page_lock(self.page_id):
            try:
                answer = self._call("DELETE", post_id, creates=True)
            except Rejected as exc:
                if self._gone(exc):
                    return False
                raise
        body = answer.body if isinstance(answer.body, dict) else {}
        if body.get("success") is not True:
            raise RetryLater("Facebook không xác nhận đã gỡ bài.", maybe_sent=True, code="no-success")
        return True

    def current(self, post_id: str, post: Post | None = None) -> PostState:
        link = self._published(post_id, Usage()).url
        try:
            answer = self._call("GET", post_id, params={"fields": "id,message"}, need="pages_read_engagement")
        except Rejected as exc:
            if self._gone(exc):
                return PostState(exists=False, url=link)
            raise
        body = answer.body if isinstance(answer.body, dict) else {}
        matches = None if post is None else normalize_text(body.get("message")) == normalize_text(post.text)
        return PostState(exists=True, matches=matches, url=link)

    def check(self) -> ChannelCheck:
        """Which Page the token opens, its permissions and expiry. Never raises for an auth error."""
        details: dict[str, Any] = {
            "page_id": self.page_id,
            "token_env": self.token_env,
            "token": mask(self._token),
            "api": f"{self.base}/{self.version}",
            "verified": False,
        }

        def result(ok: bool, problem: str | None = None, fix: str | None = None, name: str | None = None):
            return ChannelCheck(
                channel_id=self.row.id, platform=self.platform, ok=ok, account_name=name,
                details=details, problem=problem, fix=fix,
            )

        if not self._token:
            return result(False, f"biến {self.token_env} chưa đặt: kênh dùng outbox, không đăng thật",
                          f"Đặt Page access token của Trang {self.page_id} vào {self.token_env} trong tệp .env.")
        try:
            me = self._call("GET", "me", params={"fields": "id,name"}, need="pages_show_list").body or {}
        except HoldChannel as exc:
            return result(False, exc.message, exc.fix)
        except ChannelError as exc:
            return result(False, f"Không kiểm tra được token: {exc.message}",
                          "Thử lại sau; nếu lỗi còn, kiểm tra mạng và GRAPH_API_BASE.")
        name = me.get("name")
        details["token_owner_id"] = me.get("id")
        if str(me.get("id")) != self.page_id:
            return result(
                False,
                f"Token trong {self.token_env} thuộc về '{name}' (id {me.get('id')}), không phải Trang {self.page_id}"
                " — có thể là token người dùng hoặc token của Trang khác.",
                f"Lấy Page access token của đúng Trang {self.page_id} (GET /{self.page_id}?fields=access_token bằng "
                f"token người dùng dài hạn của quản trị viên Trang) và đặt vào {self.token_env}.",
                name,
            )
        details["page_name"] = name
        problems: list[str] = []
        fixes: list[str] = []
        ok = True

        if self._app_token:
            info = self._debug_token()
            if isinstance(info, ChannelError):
                problems.append(f"debug_token không dùng được: {info.message}")
                fixes.append("Kiểm tra FB_APP_TOKEN (hoặc FB_APP_ID và FB_APP_SECRET) trong tệp .env.")
            else:
                ok, more_problems, more_fixes = self._read_debug_info(info, details)
                problems += more_problems
                fixes += more_fixes
        else:
            details["permissions"] = None
            details["expires"] = "không kiểm tra được"
            details["note"] = ("Đặt FB_APP_TOKEN (hoặc FB_APP_ID và FB_APP_SECRET) để kiểm tra quyền và hạn dùng "
                               "của token qua debug_token.")
        # Reconcile reads published_posts: make sure that works (needs pages_read_engagement).
        try:
            self._call("GET", f"{self.page_id}/published_posts", params={"fields": "id", "limit": 1},
                       need="pages_read_engagement")
            details["can_read_posts"] = True
        except HoldChannel as exc:
            ok = False
            details["can_read_posts"] = False
            problems.append(exc.message)
            fixes.append(exc.fix)
        except ChannelError as exc:
            details["can_read_posts"] = None
            problems.append(f"Chưa đọc thử được bài của Trang: {exc.message}")
        details["verified"] = True
        return result(ok, "; ".join(problems) or None, " ".join(fixes) or None, name)

    def _debug_token(self) -> dict[str, Any] | ChannelError:
        """debug_token of the Page token with the app token, sent in a batch so no token is in a URL."""
        batch = [{"method": "GET", "relative_url": "debug_token?" + urlencode({"input_token": self._token})}]
        try:
            answer = self._call("POST", "", data={"batch": json.dumps(batch), "include_headers": "false"},
                                token=self._app_token)
        except ChannelError as exc:
            return exc
        items = answer.body if isinstance(answer.body, list) else []
        item = items[0] if items else None
        if not isinstance(item, dict):
            return RetryLater("debug_token không trả lời.")
        try:
            body = json.loads(item.get("body") or "null")
        except ValueError:
            body = None
        if item.get("code") != 200:
            return self._classify(int(item.get("code") or 500), body, {}, creates=False, need="pages_show_list")
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else RetryLater("debug_token trả lời không đọc được.")

    def _read_debug_info(self, info: dict[str, Any], details: dict[str, Any]) -> tuple[bool, list[str], list[str]]:
        ok = True
        problems: list[str] = []
        fixes: list[str] = []
        details["token_type"] = info.get("type")
        details["is_valid"] = info.get("is_valid")
        scopes = [str(s) for s in info.get("scopes") or []]
        details["permissions"] = scopes
        missing = [p for p in REQUIRED_PERMISSIONS if p not in scopes]
        details["missing_permissions"] = missing
        expires = _int(info.get("expires_at"))
        details["expires_at"] = _iso(expires) if expires else None
        details["expires"] = "không hết hạn" if not expires else _iso(expires)
        data_expires = _int(info.get("data_access_expires_at"))
        details["data_access_expires_at"] = _iso(data_expires) if data_expires else None
        if info.get("is_valid") is False:
            err = info.get("error") if isinstance(info.get("error"), dict) else {}
            hold = self._token_hold(190, _int(err.get("subcode")), self._scrub(str(err.get("message") or "")))
            return False, [hold.message], [hold.fix]
        if info.get("type") and str(info.get("type")).upper() != "PAGE":
            ok = False
            problems.append(f"Token trong {self.token_env} là token loại {info.get('type')}, không phải Page token.")
            fixes.append(f"Đặt Page access token của Trang {self.page_id} vào {self.token_env}.")
        if info.get("profile_id") and str(info.get("profile_id")) != self.page_id:
            ok = False
            problems.append(f"Token là của Trang {info.get('profile_id')}, không phải Trang {self.page_id}.")
            fixes.append(f"Đặt Page access token của Trang {self.page_id} vào {self.token_env}.")
        if missing:
            ok = False
            problems.append(f"Token thiếu quyền: {', '.join(missing)}.")
            fixes.append(
                f"Cấp quyền {', '.join(missing)} cho ứng dụng, tạo lại Page access token của Trang {self.page_id} "
                f"và đặt vào {self.token_env}."
            )
        soon = time.time() + 7 * 86400
        for label, when in (("token", expires), ("quyền truy cập dữ liệu", data_expires)):
            if when and when < soon:
                problems.append(f"Hạn dùng {label} sắp hết: {_iso(when)}.")
                fixes.append(self._renew_fix(None))
        return ok, problems, fixes

    # ------------------------------------------------------------------ engagement

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        """Reactions, comments and shares, 50 posts per batch call; a failed item is skipped."""
        fields = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
        readings: dict[str, EngagementReading] = {}
        ids = list(dict.fromkeys(str(p) for p in post_ids if p))
        for start in range(0, len(ids), BATCH_MAX):
            chunk = ids[start:start + BATCH_MAX]
            batch = [{"method": "GET", "relative_url": f"{pid}?fields={fields}"} for pid in chunk]
            try:
                answer = self._call("POST", "", data={"batch": json.dumps(batch), "include_headers": "false"},
                                    need="pages_read_engagement")
            except RetryLater as exc:
                if exc.scope != "delivery":
                    raise
                log.warning("%s: đọc tương tác lỗi, bỏ qua %d bài: %s", self, len(chunk), exc.message)
                continue
            items = answer.body if isinstance(answer.body, list) else []
            for pid, item in zip(chunk, items, strict=False):
                reading = _reading(pid, item)
                if reading is None:
                    log.debug("%s: không đọc được tương tác của %s", self, pid)
                    continue
                readings[pid] = reading
        return readings

    def close(self) -> None:
        if self._own_session:
            self.session.close()


def _reading(post_id: str, item: Any) -> EngagementReading | None:
    if not isinstance(item, dict) or item.get("code") != 200:
        return None
    try:
        body = json.loads(item.get("body") or "null")
    except ValueError:
        return None
    if not isinstance(body, dict) or "error" in body:
        return None

    def total(key: str) -> int | None:
        part = body.get(key)
        if not isinstance(part, dict):
            return None
        summary = part.get("summary")
        return _int(summary.get("total_count")) if isinstance(summary, dict) else None

    shares = body.get("shares")
    return EngagementReading(
        post_id=post_id,
        reactions=total("reactions"),
        comments=total("comments"),
        shares=_int(shares.get("count")) if isinstance(shares, dict) else 0,
    )


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
