"""A fake Zalo: the OAuth host and the Open API host, on 127.0.0.1, over real HTTP.

It speaks the protocol of ../shared/api-notes/zalo-oa-api.md (the "Fake server checklist"), so that
every Zalo test, and demos, run offline. Two listeners share one state: ``oauth_base`` (what
``ZALO_OAUTH_BASE`` points at) and ``openapi_base`` (``ZALO_OPENAPI_BASE``), so tests can assert that
``secret_key`` only goes to the OAuth host and ``access_token`` only to the Open API host.

Usage::

    with FakeZalo() as fake:
        fake.add_oa("4318000000000000001", name="Công đoàn KCN", verified=True)
        seed = fake.seed_refresh_token("4318000000000000001")   # what the OA admin gets from the console
        env = fake.env(ZALO_REFRESH_X=seed)                        # ZALO_APP_ID, ZALO_SECRET_KEY, both bases
        fake.clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))    # 10:00 in Vietnam: broadcasts allowed
        fake.fail_next("/v2.0/article/create", error=-248)         # any documented error, once
        ...
        fake.created_articles  # every article ever created (the fake never dedupes)
        fake.broadcasts        # every accepted broadcast

Every answer is HTTP 200 with ``Content-Type: application/json; charset=utf-8`` and the envelope
``{"error": 0, "message": "Success", "data": {...}}`` (errors: ``{"error": <negative>, "message": …}``,
no ``data``), unless a fault says otherwise. IDs are strings.

OAuth host (``POST /v4/oa/access_token``, form body, header ``secret_key``)
    * ``grant_type=refresh_token&refresh_token=…&app_id=…`` → ``{"access_token","refresh_token",
      "expires_in":"90000"}`` (a *string*). The refresh token is single-use: it is dead at once.
      The previous access token stays valid until its own expiry (``old_access_valid_after_refresh``).
    * a consumed refresh token → ``{"error":-14014,"error_name":"Invalid refresh token.","message":"",
      "access_token":"","refresh_token":""}``, or an empty HTTP-200 body (``reused_refresh_answer="empty"``);
      an unknown or expired (``refresh_ttl``, 3 months) one → the same -14014 JSON.
    * wrong ``secret_key`` or ``app_id`` → ``{"error":-14002,"error_name":"Invalid appId",…}`` (no ``message``).
    * ``grant_type=authorization_code&code=…`` with codes from :meth:`FakeZalo.issue_code` (single-use, 10 min).
    * switches: ``rotate_refresh=False`` (answer without a new refresh token, the old one stays valid),
      ``string_error_codes=True`` (``"error":"-14014"``).
    * crash windows through faults on ``/v4/oa/access_token``: ``drop="after"`` (rotate, then close the
      socket), ``delay=…`` (sleep past the client's timeout, then rotate), ``http_status=504`` with an HTML
      body (no rotation), ``error=-32`` (rate limit, no rotation), ``hold=True`` (rotate, then wait on
      :attr:`FakeZalo.release` after setting :attr:`FakeZalo.held`: a test kills the client meanwhile).

Open API host (header ``access_token``; a token only in the query string is ignored, and answered with
HTTP 404 when ``query_token_404``)
    * no/unknown token → -216; expired (``access_ttl`` on the fake clock) → -220.
    * ``X-RateLimit-Limit``/``X-RateLimit-Remain`` on every answer; over ``rate_limit`` per fake minute → -32.
    * ``POST /v2.0/article/create`` (JSON): validates type, title ≤150, author ≤50, description ≤300
      (code points as sent), cover, body block types, status/comment; **fetches** the cover and body image
      URLs (http only when ``allow_http_images``; ≤ 1 MB; JPEG/PNG) → ``{"data":{"token":"tok_…"}}``.
      Article quota per package month (``OA.article_quota``) → -223 "…limit quota create article".
      Status defaults to ``hide``. Two identical creates make two articles.
    * ``POST /v2.0/article/verify`` ``{"token"}`` → -214 for the first ``verify_pending_calls`` calls (or until
      ``processing_seconds`` of fake time pass), then ``{"data":{"id":"art_…"}}``; unknown token → -201;
      ``fail_processing=-248`` makes processing fail.
    * ``GET /v2.0/article/getslice?offset&limit&type`` → ``{"data":{"medias":[…],"total":N}}`` newest first,
      processed and not removed articles only; ``limit`` over ``max_slice_limit`` → -201.
      ``create_date`` is epoch milliseconds (``create_date_format="ms"``) or ``"dd/mm/yyyy"`` ("date").
    * ``GET /v2.0/article/getdetail?id``, ``POST /v2.0/article/update`` (new token to verify again; counted in
      ``Article.updates``), ``POST /v2.0/article/remove`` (``removed_at``); an unknown or removed id → -201
      "id is invalid!" on getdetail, update and remove.
    * ``POST /v2.0/oa/message`` (broadcast of an article): unverified OA → -221; 22:00–06:00 Vietnam time on
      the fake clock → -234; OA monthly allowance (``OA.broadcast_quota``) spent → -211; followers all capped
      (one per day, ``OA.follower_monthly`` per month) → -218 (or success with 0 recipients,
      ``capped_answer="ok"``); an ``attachment_id`` that is not a verified article id → -201;
      a 1:1 ``recipient.user_id`` body → -240.
    * ``POST /v3.0/oa/quota/message``, ``POST /v2.0/oa/quota/message``, ``GET /v2.0/oa/getoa``
      (``oaid`` instead of ``oa_id`` with ``oaid_key``), ``GET /v3.0/oa/user/getlist``, ``GET /v2.0/oa/getfollowers``,
      ``POST /v2.0/oa/upload/image`` (multipart ``file``, ≤ 1 MB).
    * unknown routes → HTTP 404 with an HTML body.

Faults (:meth:`FakeZalo.fail_next`): any path (or ``"*"``), ``times`` times: ``error=<code>`` (the documented
message by default), ``http_status``/``body``, ``delay`` seconds, ``drop="before"|"after"`` (close the socket
without an answer, before or after the effect), ``hold``. Clock: :attr:`FakeZalo.clock` or
``POST /__fake/clock {"advance": seconds}`` / ``{"set": "<iso>"}``. Every request is recorded
(:attr:`FakeZalo.requests`).
"""

from __future__ import annotations

import itertools
import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tests.fakes import zalo_video
from tests.fakes.base import FakeHandler, FakeHTTPServer, ServerThread

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_IMAGE = 1_000_000

# The OA error table (docs.zaloplatforms.com/docs/OA/phu-luc/ma-loi, via the notes), Zalo's typos kept.
ERRORS: dict[int, str] = {
    -32: "Your OA reached limit call api",
    -100: "attachment_id was expired",
    -200: "Send message failed",
    -201: "data is invalid!",
    -204: "Offical Account is disable",
    -205: "Offical Account is not exist",
    -209: "Not supported this api",
    -210: "Parameter exceeds allowable limit",
    -211: "Out of quota",
    -212: "App has not registed this api",
    -213: "User has not followed OA",
    -214: "Article is being processed",
    -216: "Access token is invalid",
    -217: "User has blocked invitation from OA",
    -218: "Out of quota receive",
    -219: "App is removed or disabled",
    -220: "access_token is expired or removed",
    -221: "The OA needs to be verified to use this feature",
    -223: "Official Account has not authorized this API",
    -224: "The OA needs to upgrade OA Tier Package to use this feature",
    -227: "User is banned or has been inactive for more than 45 days",
    -230: "User has not interacted with the OA in the past 7 days",
    -232: "User has not interacted with the OA, or the last interaction has expired",
    -233: "message type is invalid or not support",
    -234: "This message cannot be sent at night (10:00PM - 6:00AM)",
    -235: "This API does not support this type of OA",
    -240: "MessageV2 API has been shut down, please switch to MessageV3",
    -242: "Invalid appsecret_proof provided in the API argument",
    -244: "User has restricted this message type from your OA",
    -248: "Violates our platform standards",
    -320: "Your app needs to connect with Zalo Cloud Account to use paid features",
    -321: "Zalo Cloud Account associated with this app is out of money or unable to be charged",
}
ARTICLE_QUOTA_MESSAGE = "Your OA has reach the limit quota create article"


class FakeClock:
    """Fake time: real time plus an offset that tests set or advance."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + timedelta(seconds=self._offset)

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("aware datetime needed")
        with self._lock:
            self._offset = (when - datetime.now(UTC)).total_seconds()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class OA:
    oa_id: str
    name: str
    verified: bool = True
    num_follower: int = 1234
    package_name: str = "Gói Nâng cao"
    package_day: int = 1  # the package anniversary day: OA quotas reset then
    article_quota: int | None = None  # articles per package month
    broadcast_quota: int | None = None  # broadcasts per package month
    follower_monthly: int = 4  # broadcasts a follower may receive per calendar month (1 per day)


@dataclass
class RefreshToken:
    value: str
    oa_id: str
    issued_at: datetime
    used: bool = False


@dataclass
class AccessToken:
    value: str
    oa_id: str
    issued_at: datetime
    revoked: bool = False


@dataclass
class Article:
    id: str
    oa_id: str
    token: str
    payload: dict[str, Any]
    created_at: datetime
    verify_calls: int = 0
    processed: bool = False
    removed: bool = False
    fail: int | None = None
    total_view: int = 0
    total_share: int = 0
    updates: int = 0  # accepted article/update calls (issue 16: each correction exactly once)
    removed_at: datetime | None = None

    @property
    def status(self) -> str:
        return self.payload.get("status") or "hide"


@dataclass
class Broadcast:
    message_id: str
    oa_id: str
    article_ids: list[str]
    target: dict[str, Any]
    at: datetime
    recipients: int


@dataclass
class Fault:
    path: str
    times: int = 1
    error: int | str | None = None
    message: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0
    drop: str | None = None  # "before" | "after"
    hold: bool = False


@dataclass
class Recorded:
    host: str  # "oauth" | "openapi"
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def url(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


class _Answer(Exception):
    def __init__(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class FakeZalo:
    def __init__(self, *, app_id: str = "3141592653589793238", secret_key: str | None = None) -> None:
        self.app_id = app_id
        self.secret_key = secret_key or "sk_" + secrets.token_urlsafe(18)
        self.clock = FakeClock()
        self.lock = threading.RLock()
        # settings
        self.access_ttl = 90000
        self.refresh_ttl = timedelta(days=90)
        self.code_ttl = timedelta(minutes=10)
        self.rotate_refresh = True
        self.reused_refresh_answer = "json"  # or "empty"
        self.string_error_codes = False
        self.wrong_app_error = -14002
        self.old_access_valid_after_refresh = True
        self.query_token_404 = True
        self.rate_limit = 4000
        self.verify_pending_calls = 1
        self.processing_seconds: float | None = None
        self.fail_processing: int | None = None
        self.max_slice_limit = 10
        self.create_date_format = "ms"
        self.allow_http_images = True
        self.fetch_images = True
        self.image_fetch_timeout = 5.0
        self.capped_answer = "error"  # or "ok"
        self.oaid_key = False
        # state
        self.oas: dict[str, OA] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.codes: dict[str, tuple[str, datetime, bool]] = {}
        self.articles: dict[str, Article] = {}  # by id
        self.jobs: dict[str, Article] = {}  # by create/update token
        self.created_articles: list[Article] = []
        self.broadcasts: list[Broadcast] = []
        self.follower_log: list[tuple[str, datetime]] = []  # (oa_id, at) of broadcasts that reached followers
        self.fetched_urls: list[str] = []
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.token_grants: list[dict[str, Any]] = []  # every successful token answer (oa, old rt, new rt)
        self.held = threading.Event()
        self.release = threading.Event()
        self._minute: tuple[int, int] = (0, 0)
        self._ids = itertools.count(1)
        self._servers: list[ServerThread] = []
        self.oauth_base = ""
        self.openapi_base = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeZalo:
        for kind in ("oauth", "openapi"):
            server = ServerThread(_make_handler(self, kind), f"fake-zalo-{kind}")
            self._servers.append(server)
            if kind == "oauth":
                self.oauth_base = server.base_url
            else:
                self.openapi_base = server.base_url
        return self

    def stop(self) -> None:
        self.release.set()
        for server in self._servers:
            server.stop()
        self._servers.clear()

    def __enter__(self) -> FakeZalo:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a client needs to talk to this fake."""
        return {
            "ZALO_APP_ID": self.app_id,
            "ZALO_SECRET_KEY": self.secret_key,
            "ZALO_OAUTH_BASE": self.oauth_base,
            "ZALO_OPENAPI_BASE": self.openapi_base,
            **extra,
        }

    # ------------------------------------------------------------------ test hooks

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{secrets.token_hex(4)}"

    def add_oa(self, oa_id: str, name: str = "Công đoàn thử nghiệm", **kw: Any) -> OA:
        with self.lock:
            oa = OA(oa_id=oa_id, name=name, **kw)
            self.oas[oa_id] = oa
            return oa

    def seed_refresh_token(self, oa_id: str, *, issued_at: datetime | None = None) -> str:
        """A first refresh token, as the OA admin obtains it from the console (API Explorer)."""
        with self.lock:
            value = "rt_" + secrets.token_urlsafe(24)
            self.refresh_tokens[value] = RefreshToken(value, oa_id, issued_at or self.clock.now())
            return value

    def issue_access_token(self, oa_id: str) -> str:
        with self.lock:
            value = "at_" + secrets.token_urlsafe(24)
            self.access_tokens[value] = AccessToken(value, oa_id, self.clock.now())
            return value

    def issue_code(self, oa_id: str) -> str:
        with self.lock:
            code = "code_" + secrets.token_urlsafe(12)
            self.codes[code] = (oa_id, self.clock.now(), False)
            return code

    def revoke_all(self, oa_id: str) -> None:
        """What removing the app's permission in the console does."""
        with self.lock:
            for t in self.access_tokens.values():
                if t.oa_id == oa_id:
                    t.revoked = True
            for r in self.refresh_tokens.values():
                if r.oa_id == oa_id:
                    r.used = True

    def fail_next(self, path: str = "*", **kw: Any) -> Fault:
        if "error" in kw and "message" not in kw and isinstance(kw["error"], int):
            kw["message"] = ERRORS.get(kw["error"], "Unknown error")
        fault = Fault(path=path, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def live_refresh_tokens(self, oa_id: str) -> list[str]:
        with self.lock:
            return [r.value for r in self.refresh_tokens.values() if r.oa_id == oa_id and not r.used]

    def visible_articles(self, oa_id: str | None = None) -> list[Article]:
        with self.lock:
            return [
                a
                for a in self.articles.values()
                if self._processed(a) and not a.removed and (oa_id is None or a.oa_id == oa_id)
            ]

    def set_engagement(self, article_id: str, *, views: int = 0, shares: int = 0) -> None:
        with self.lock:
            self.articles[article_id].total_view = views
            self.articles[article_id].total_share = shares

    def all_request_text(self) -> str:
        """Every URL, header and body received, for asserting that no secret leaked where it must not."""
        with self.lock:
            parts = []
            for r in self.requests:
                parts.append(
                    f"{r.host} {r.method} {r.url}\n{json.dumps(r.headers)}\n{r.body.decode('utf-8', 'replace')}"
                )
            return "\n".join(parts)

    def urls(self) -> list[str]:
        with self.lock:
            return [r.url for r in self.requests] + list(self.fetched_urls)

    def calls(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------------ helpers

    def _err(self, code: int, message: str | None = None) -> _Answer:
        value: int | str = str(code) if self.string_error_codes else code
        return _Answer(200, _json({"error": value, "message": message or ERRORS.get(code, "Unknown error")}))

    def _ok(self, data: Any = None) -> _Answer:
        body: dict[str, Any] = {"error": 0, "message": "Success"}
        if data is not None:
            body = {"data": data, **body}
        return _Answer(200, _json(body))

    def _oauth_err(self, code: int, name: str, reason: str = "") -> _Answer:
        value: int | str = str(code) if self.string_error_codes else code
        return _Answer(
            200,
            _json(
                {
                    "error": value,
                    "error_name": name,
                    "error_reason": reason,
                    "ref_doc": "https://developers.zalo.me/docs/",
                    "error_description": "",
                }
            ),
        )

    def _invalid_refresh(self) -> _Answer:
        value: int | str = "-14014" if self.string_error_codes else -14014
        return _Answer(
            200,
            _json(
                {
                    "error": value,
                    "error_name": "Invalid refresh token.",
                    "message": "",
                    "access_token": "",
                    "refresh_token": "",
                }
            ),
        )

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and (f.path == path or f.path == "*"):
                    f.times -= 1
                    if f.times == 0:
                        self.faults.remove(f)
                    return f
        return None

    def _processed(self, a: Article) -> bool:
        if a.processed:
            return True
        if a.fail is None and self.processing_seconds is not None:
            if self.clock.now() >= a.created_at + timedelta(seconds=self.processing_seconds):
                a.processed = True
        return a.processed

    def _package_period(self, oa: OA, at: datetime) -> tuple[int, int]:
        local = at.astimezone(VN)
        y, m = local.year, local.month
        if local.day < oa.package_day:
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        return y, m

    # ------------------------------------------------------------------ OAuth host

    def handle_oauth(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> _Answer:
        if path != "/v4/oa/access_token" or method != "POST":
            raise _Answer(404, b"<html><body>404 Not Found</body></html>", "text/html")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        if headers.get("secret_key") != self.secret_key or form.get("app_id") != self.app_id:
            return self._oauth_err(self.wrong_app_error, "Invalid appId", "App is not active but user is not admin")
        now = self.clock.now()
        grant = form.get("grant_type")
        with self.lock:
            if grant == "refresh_token":
                rt = self.refresh_tokens.get(form.get("refresh_token", ""))
                if rt is None or now - rt.issued_at > self.refresh_ttl:
                    return self._invalid_refresh()
                if rt.used:
                    if self.reused_refresh_answer == "empty":
                        return _Answer(200, b"")
                    return self._invalid_refresh()
                oa_id = rt.oa_id
                old = rt.value
            elif grant == "authorization_code":
                entry = self.codes.get(form.get("code", ""))
                if entry is None or entry[2] or now - entry[1] > self.code_ttl:
                    return self._oauth_err(-14014, "Invalid parameter", "code has expired")
                self.codes[form["code"]] = (entry[0], entry[1], True)
                oa_id = entry[0]
                old = None
            else:
                return self._oauth_err(-14003, "Invalid parameter", "grant_type is invalid")
            if not self.old_access_valid_after_refresh:
                for t in self.access_tokens.values():
                    if t.oa_id == oa_id:
                        t.revoked = True
            at = "at_" + secrets.token_urlsafe(24)
            self.access_tokens[at] = AccessToken(at, oa_id, now)
            answer: dict[str, Any] = {"access_token": at, "expires_in": str(self.access_ttl)}
            new_rt = None
            if self.rotate_refresh or old is None:
                if old is not None:
                    self.refresh_tokens[old].used = True
                new_rt = "rt_" + secrets.token_urlsafe(24)
                self.refresh_tokens[new_rt] = RefreshToken(new_rt, oa_id, now)
                answer["refresh_token"] = new_rt
            self.token_grants.append({"oa_id": oa_id, "old": old, "new": new_rt, "access": at, "at": now})
        return _Answer(200, _json(answer))

    # ------------------------------------------------------------------ Open API host

    def _auth(self, headers: dict[str, str], query: dict[str, list[str]]) -> OA:
        token = headers.get("access_token")
        if not token:
            if "access_token" in query and self.query_token_404:
                raise _Answer(404, b"<html><body>404 Not Found</body></html>", "text/html")
            raise self._err(-216)
        with self.lock:
            at = self.access_tokens.get(token)
            if at is None or at.revoked:
                raise self._err(-216)
            if (self.clock.now() - at.issued_at).total_seconds() > self.access_ttl:
                raise self._err(-220)
            oa = self.oas.get(at.oa_id)
        if oa is None:
            raise self._err(-205)
        return oa

    def _rate(self) -> tuple[int, int]:
        minute = int(self.clock.now().timestamp() // 60)
        with self.lock:
            m, count = self._minute
            count = count + 1 if m == minute else 1
            self._minute = (minute, count)
        return count, max(0, self.rate_limit - count)

    def handle_openapi(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> _Answer:
        routes = {
            ("POST", "/v2.0/article/create"): self._article_create,
            ("POST", "/v2.0/article/update"): self._article_update,
            ("POST", "/v2.0/article/verify"): self._article_verify,
            ("GET", "/v2.0/article/getslice"): self._article_getslice,
            ("GET", "/v2.0/article/getdetail"): self._article_getdetail,
            ("POST", "/v2.0/article/remove"): self._article_remove,
            ("POST", "/v2.0/oa/message"): self._message,
            ("POST", "/v3.0/oa/quota/message"): self._quota_v3,
            ("POST", "/v2.0/oa/quota/message"): self._quota_v2,
            ("GET", "/v2.0/oa/getoa"): self._getoa,
            ("GET", "/v3.0/oa/user/getlist"): self._user_getlist,
            ("GET", "/v2.0/oa/getfollowers"): self._getfollowers,
            ("POST", "/v2.0/oa/upload/image"): self._upload_image,
            **zalo_video.routes(self),  # issue 18: tests/fakes/zalo_video.py
        }
        routes.update(__import__("tests.fakes.zalo_cs", fromlist=["cs_routes"]).cs_routes(self))  # issue 19
        handler = routes.get((method, path))
        if handler is None:
            raise _Answer(404, b"<html><body>404 Not Found</body></html>", "text/html")
        oa = self._auth(headers, query)
        count, remain = self._rate()
        if count > self.rate_limit:
            return self._err(-32)
        return handler(oa, query, headers, body)

    def _body_json(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise self._err(-201, "body is invalid!") from None
        if not isinstance(data, dict):
            raise self._err(-201, "body is invalid!")
        return data

    def _fetch_image(self, url: Any, field_name: str) -> None:
        if not isinstance(url, str) or not url:
            raise self._err(-201, f"{field_name} is invalid!")
        scheme = urlsplit(url).scheme
        if scheme != "https" and not (scheme == "http" and self.allow_http_images):
            raise self._err(-201, f"{field_name} is invalid!")
        if not self.fetch_images:
            return
        try:
            with urllib.request.urlopen(url, timeout=self.image_fetch_timeout) as resp:  # noqa: S310 (test fake)
                data = resp.read(MAX_IMAGE + 1)
                status = resp.status
        except (urllib.error.URLError, OSError, ValueError):
            raise self._err(-201, f"{field_name} is invalid!") from None
        with self.lock:
            self.fetched_urls.append(url)
        if status != 200:
            raise self._err(-201, f"{field_name} is invalid!")
        if len(data) > MAX_IMAGE:
            raise self._err(-210)
        if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
            raise self._err(-201, f"{field_name} is invalid!")

    def _validate_article(self, d: dict[str, Any]) -> None:
        typ = d.get("type")
        if typ not in ("normal", "video"):
            raise self._err(-201, "type is invalid!")
        title = d.get("title")
        if not isinstance(title, str) or not title.strip():
            raise self._err(-201, "title is invalid!")
        if len(title) > 150:
            raise self._err(-210)
        desc = d.get("description")
        if not isinstance(desc, str) or not desc.strip():
            raise self._err(-201, "description is invalid!")
        if len(desc) > 300:
            raise self._err(-210)
        for key in ("status", "comment"):
            if key in d and d[key] not in ("show", "hide"):
                raise self._err(-201, f"{key} is invalid!")
        if typ == "video":
            zalo_video.validate(self, d)  # issue 18
            return
        author = d.get("author")
        if not isinstance(author, str) or not author.strip():
            raise self._err(-201, "author is invalid!")
        if len(author) > 50:
            raise self._err(-210)
        cover = d.get("cover")
        if not isinstance(cover, dict) or cover.get("cover_type") not in ("photo", "video"):
            raise self._err(-201, "cover is invalid!")
        if cover.get("cover_type") == "photo":
            self._fetch_image(cover.get("photo_url"), "photo_url")
        blocks = d.get("body")
        if not isinstance(blocks, list) or not blocks:
            raise self._err(-201, "body is invalid!")
        for block in blocks:
            if not isinstance(block, dict) or block.get("type") not in ("text", "image", "video", "product"):
                raise self._err(-201, "body is invalid!")
            if block["type"] == "text" and not isinstance(block.get("content"), str):
                raise self._err(-201, "content is invalid!")
            if block["type"] == "image":
                self._fetch_image(block.get("url"), "url")

    def _article_create(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        d = self._body_json(body)
        now = self.clock.now()
        with self.lock:
            if oa.article_quota is not None:
                period = self._package_period(oa, now)
                used = sum(
                    1
                    for a in self.created_articles
                    if a.oa_id == oa.oa_id and self._package_period(oa, a.created_at) == period
                )
                if used >= oa.article_quota:
                    return self._err(-223, ARTICLE_QUOTA_MESSAGE)
        self._validate_article(d)
        with self.lock:
            token = self._new_id("tok_")
            art = Article(id=self._new_id("art_"), oa_id=oa.oa_id, token=token, payload=d, created_at=now)
            art.fail = self.fail_processing
            self.articles[art.id] = art
            self.jobs[token] = art
            self.created_articles.append(art)
        return self._ok({"token": token})

    def _article_update(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        d = self._body_json(body)
        with self.lock:
            art = self.articles.get(str(d.get("id")))
            if art is None or art.oa_id != oa.oa_id or art.removed:
                return self._err(-201, "id is invalid!")
        self._validate_article(d)
        with self.lock:
            token = self._new_id("tok_")
            art.payload = {k: v for k, v in d.items() if k != "id"}
            art.verify_calls = 0
            art.updates += 1
            self.jobs[token] = art
        return self._ok({"token": token})

    def _article_verify(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        d = self._body_json(body)
        with self.lock:
            art = self.jobs.get(str(d.get("token")))
            if art is None or art.oa_id != oa.oa_id:
                return self._err(-201, "token is invalid!")
            art.verify_calls += 1
            if art.fail is not None:
                return self._err(art.fail)
            if not self._processed(art):
                if art.verify_calls <= self.verify_pending_calls:
                    return self._err(-214)
                art.processed = True
            return self._ok({"id": art.id})

    def _media(self, a: Article) -> dict[str, Any]:
        created = a.created_at
        if self.create_date_format == "ms":
            stamp: Any = int(created.timestamp() * 1000)
        else:
            stamp = created.astimezone(VN).strftime("%d/%m/%Y")
        return {
            "id": a.id,
            "type": a.payload.get("type", "normal"),
            "title": a.payload.get("title", ""),
            "status": a.status,
            "total_view": a.total_view,
            "total_share": a.total_share,
            "create_date": stamp,
            "update_date": stamp,
            "thumb": (a.payload.get("cover") or {}).get("photo_url", ""),
            "link_view": f"https://zalo.me/fake/article/{a.id}",
        }

    def _article_getslice(self, oa: OA, query: dict[str, list[str]], headers: Any, body: bytes) -> _Answer:
        try:
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["10"])[0])
        except ValueError:
            return self._err(-201, "offset is invalid!")
        if limit < 1 or limit > self.max_slice_limit:
            return self._err(-201, "limit is invalid!")
        typ = query.get("type", ["normal"])[0]
        with self.lock:
            items = [a for a in self.visible_articles(oa.oa_id) if a.payload.get("type", "normal") == typ]
            items.sort(key=lambda a: (a.created_at, a.id), reverse=True)
            page = [self._media(a) for a in items[offset : offset + limit]]
            return self._ok({"medias": page, "total": len(items)})

    def _article_getdetail(self, oa: OA, query: dict[str, list[str]], headers: Any, body: bytes) -> _Answer:
        art_id = query.get("id", [""])[0]
        with self.lock:
            art = self.articles.get(art_id)
            if art is None or art.oa_id != oa.oa_id or art.removed or not self._processed(art):
                return self._err(-201, "id is invalid!")
            p = art.payload
            return self._ok(
                {
                    "id": art.id,
                    "type": p.get("type"),
                    "title": p.get("title"),
                    "author": p.get("author"),
                    "cover": p.get("cover"),
                    "description": p.get("description"),
                    "status": art.status,
                    "body": p.get("body"),
                    "comment": p.get("comment", "show"),
                    "cite": {},
                    **({"video_id": p.get("video_id"), "avatar": p.get("avatar")} if p.get("type") == "video" else {}),
                }
            )

    def _article_remove(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        d = self._body_json(body)
        with self.lock:
            art = self.articles.get(str(d.get("id")))
            if art is None or art.oa_id != oa.oa_id or art.removed:
                return self._err(-201, "id is invalid!")
            art.removed = True
            art.removed_at = self.clock.now()
        return self._ok()

    def _message(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        d = self._body_json(body)
        recipient = d.get("recipient") or {}
        if "user_id" in recipient:
            return self._err(-240)
        if "target" not in recipient:
            return self._err(-201, "recipient is invalid!")
        try:
            payload = d["message"]["attachment"]["payload"]
            elements = payload["elements"]
            assert payload.get("template_type") == "media"
            ids = [str(e["attachment_id"]) for e in elements if e.get("media_type") == "article"]
            assert ids
        except (KeyError, TypeError, AssertionError):
            return self._err(-201, "message is invalid!")
        now = self.clock.now()
        with self.lock:
            for art_id in ids:
                art = self.articles.get(art_id)
                if art is None or art.oa_id != oa.oa_id or art.removed or not self._processed(art):
                    return self._err(-201, "attachment_id is invalid!")
            if not oa.verified:
                return self._err(-221)
            local = now.astimezone(VN)
            if local.hour >= 22 or local.hour < 6:
                return self._err(-234)
            if oa.broadcast_quota is not None:
                period = self._package_period(oa, now)
                used = sum(
                    1 for b in self.broadcasts if b.oa_id == oa.oa_id and self._package_period(oa, b.at) == period
                )
                if used >= oa.broadcast_quota:
                    return self._err(-211)
            today = [t for o, t in self.follower_log if o == oa.oa_id and t.astimezone(VN).date() == local.date()]
            month = [
                t
                for o, t in self.follower_log
                if o == oa.oa_id and (t.astimezone(VN).year, t.astimezone(VN).month) == (local.year, local.month)
            ]
            capped = bool(today) or len(month) >= oa.follower_monthly
            if capped and self.capped_answer == "error":
                return self._err(-218)
            recipients = 0 if capped else oa.num_follower
            if not capped:
                self.follower_log.append((oa.oa_id, now))
            msg = Broadcast(self._new_id("msg_"), oa.oa_id, ids, recipient.get("target") or {}, now, recipients)
            self.broadcasts.append(msg)
        return self._ok({"message_id": msg.message_id})

    def _quota_v3(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        self._body_json(body)
        now = self.clock.now().astimezone(VN)
        with self.lock:
            today = sum(1 for o, t in self.follower_log if o == oa.oa_id and t.astimezone(VN).date() == now.date())
            month = sum(
                1
                for o, t in self.follower_log
                if o == oa.oa_id and (t.astimezone(VN).year, t.astimezone(VN).month) == (now.year, now.month)
            )
        return self._ok(
            {
                "last_interaction": str(int(self.clock.now().timestamp() * 1000)),
                "cs_reply": {"remain": 0, "total": 0},
                "promotion": {
                    "daily_remain": max(0, 1 - today),
                    "daily_total": 1,
                    "monthly_remain": max(0, oa.follower_monthly - month),
                    "monthly_total": oa.follower_monthly,
                },
            }
        )

    def _quota_v2(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        d = self._body_json(body) if body.strip() else {}
        if d.get("type") == "promotion":
            return self._ok({"type": "promotion", "remain": oa.follower_monthly, "total": oa.follower_monthly})
        return self._ok({"type": "active", "remain": 2000, "total": 2000})

    def _getoa(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        data = {
            "oaid" if self.oaid_key else "oa_id": oa.oa_id,
            "name": oa.name,
            "description": "Trang chính thức của " + oa.name,
            "oa_alias": "cd-" + oa.oa_id[-4:],
            "is_verified": oa.verified,
            "oa_type": 2,
            "cate_name": "Tổ chức xã hội",
            "num_follower": oa.num_follower,
            "avatar": "https://stc.example.invalid/avatar.png",
            "cover": "https://stc.example.invalid/cover.png",
            "package_name": oa.package_name,
            "package_valid_through_date": "31/12/2027",
            "package_auto_renew_date": f"{oa.package_day:02d}/01/2027",
            "linked_ZCA": "",
        }
        return self._ok(data)

    def _user_getlist(self, oa: OA, query: dict[str, list[str]], headers: Any, body: bytes) -> _Answer:
        try:
            req = json.loads(query.get("data", ["{}"])[0])
            offset, count = int(req.get("offset", 0)), int(req.get("count", 50))
        except (ValueError, TypeError):
            return self._err(-201, "data is invalid!")
        if count > 50:
            return self._err(-201, "count is invalid!")
        users = [{"user_id": f"{9000000000000000000 + i}"} for i in range(offset, min(oa.num_follower, offset + count))]
        return self._ok({"total": oa.num_follower, "count": len(users), "offset": offset, "users": users})

    def _getfollowers(self, oa: OA, query: Any, headers: Any, body: bytes) -> _Answer:
        return self._err(-224)

    def _upload_image(self, oa: OA, query: Any, headers: dict[str, str], body: bytes) -> _Answer:
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._err(-201, "file is invalid!")
        msg = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                data = part.get_payload(decode=True) or b""
                if len(data) > MAX_IMAGE:
                    return self._err(-210)
                if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG")):
                    return self._err(-201, "file is invalid!")
                return self._ok({"attachment_id": self._new_id("att_")})
        return self._err(-201, "file is invalid!")

    def handle_fake(self, method: str, path: str, body: bytes) -> _Answer:
        if path == "/__fake/clock" and method == "POST":
            d = json.loads(body or b"{}")
            if "advance" in d:
                self.clock.advance(float(d["advance"]))
            if "set" in d:
                self.clock.set(datetime.fromisoformat(d["set"]))
            return self._ok({"now": self.clock.now().isoformat()})
        raise _Answer(404, b"<html><body>404 Not Found</body></html>", "text/html")


def _make_handler(fake: FakeZalo, kind: str) -> type[FakeHandler]:
    class Handler(FakeHandler):
        server_version = "FakeZalo/1.0"

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _send(self, answer: _Answer, rate: bool) -> None:
            headers: dict[str, str] = {}
            if rate:
                minute, count = fake._minute
                headers["X-RateLimit-Limit"] = str(fake.rate_limit)
                headers["X-RateLimit-Remain"] = str(max(0, fake.rate_limit - count))
            self.send_body(answer.status, answer.body, answer.content_type, headers)

        def _drop(self) -> None:
            self.drop()

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            body = self.read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append(Recorded(kind, method, parts.path, parts.query, headers, body))
            query = parse_qs(parts.query)
            if parts.path.startswith("/__fake/"):
                try:
                    answer = fake.handle_fake(method, parts.path, body)
                except _Answer as a:
                    answer = a
                self._send(answer, False)
                return
            fault = fake._take_fault(parts.path)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.drop == "before":
                    self._drop()
                    return
                if fault.error is not None:
                    code = int(str(fault.error))
                    if kind == "oauth" and code != -32:
                        answer = fake._oauth_err(code, fault.message or "Error", "")
                    else:
                        answer = fake._err(code, fault.message)
                    self._send(answer, kind == "openapi")
                    return
                if fault.http_status is not None:
                    self._send(_Answer(fault.http_status, fault.body or b"", fault.content_type), False)
                    return
            try:
                if kind == "oauth":
                    answer = fake.handle_oauth(method, parts.path, query, headers, body)
                else:
                    answer = fake.handle_openapi(method, parts.path, query, headers, body)
            except _Answer as a:
                answer = a
            if fault is not None and fault.drop == "after":
                self._drop()
                return
            if fault is not None and fault.hold:
                fake.held.set()
                fake.release.wait(60)
            self._send(answer, kind == "openapi")

    return Handler


class StaticServer:
    """Serves a folder over HTTP on 127.0.0.1 (the federation's web server, in tests)."""

    def __init__(self, folder: Any) -> None:
        import functools
        from http.server import SimpleHTTPRequestHandler

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        self.server = FakeHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
# Helpers for tests that drive bot.channels.zalo against this fake

DAY = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam: broadcasts allowed
OA_ID = "4318000000000000001"


class ZaloRig:
    """Builds ZaloChannels wired to a FakeZalo, a store and a folder media store served over HTTP."""

    def __init__(self, fake: FakeZalo, store: Any, workspace: Any, media_folder: Any, media_base: str) -> None:
        from bot.secretbox import generate_key

        self.fake = fake
        self.store = store
        self.workspace = workspace
        self.media_folder = media_folder
        self.media_base = media_base
        self.key = generate_key()
        self.seeds: dict[str, str] = {}
        self.env: dict[str, str] = {}

    def media(self) -> dict[str, Any]:
        return {"folder": str(self.media_folder), "base_url": self.media_base, "allow_http": True}

    def seed(self, oa_id: str = OA_ID, token_env: str = "ZALO_REFRESH_KCN", **oa: Any) -> str:
        if oa_id not in self.fake.oas:
            self.fake.add_oa(oa_id, name=oa.pop("name", "Công đoàn các Khu công nghiệp"), **oa)
        value = self.fake.seed_refresh_token(oa_id)
        self.seeds[token_env] = value
        return value

    def channel(
        self,
        oa_id: str = OA_ID,
        *,
        unit: str = "cd-kcn",
        token_env: str = "ZALO_REFRESH_KCN",
        broadcast: bool = False,
        env: dict[str, str] | None = None,
        campaign: Any = "default",
        **oa: Any,
    ) -> Any:
        from types import SimpleNamespace

        from bot.channels import ChannelContext
        from bot.channels.zalo import ZaloChannel
        from bot.store import Channel

        if token_env not in self.seeds:
            self.seed(oa_id, token_env, **oa)
        full = self.fake.env(CAMPAIGN_SECRET_KEY=self.key, ZALO_TIMEOUT="3", **self.seeds)
        full.update(self.env)
        full.update(env or {})
        if campaign == "default":
            campaign = SimpleNamespace(media=self.media())
        row = Channel(
            id=f"{unit}/zalo", unit_id=unit, platform="zalo", account_id=oa_id, token_env=token_env, broadcast=broadcast
        )
        ch = ZaloChannel(row, ChannelContext(self.workspace, self.store, full, campaign))
        ch.now = self.fake.clock.now
        ch.verify_delays = (0.01, 0.01, 0.01, 0.01, 0.01)
        return ch

    def banner(self, name: str = "banner.png", color: tuple[int, int, int] = (183, 28, 28)) -> Any:
        from PIL import Image

        path = self.workspace / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (1200, 630), color).save(path, "PNG")
        return path

    def post(self, delivery_id: int = 1, *, title: str = "Sáng kiến máy bóc vỏ hạt điều bán tự động", **kw: Any) -> Any:
        from bot.channels import Post

        now = self.fake.clock.now()
        fields: dict[str, Any] = dict(
            delivery_id=delivery_id,
            content_id=f"sang-kien/bai-{delivery_id}",
            channel_id="cd-kcn/zalo",
            unit_id="cd-kcn",
            unit_name="Công đoàn các Khu công nghiệp tỉnh",
            platform="zalo",
            title=title,
            text=title,
            body="Anh Nguyễn Văn Bình, công nhân nhà máy chế biến điều, đã chế tạo máy bóc vỏ.\n\n"
            "Năng suất tăng gấp ba, giảm tai nạn lao động & bụi <độc hại>.",
            hashtags=["#1TrieuSangKien", "#TuHaoTriTueLaoDongVietNam"],
            link="https://congdoan.example.vn/bai-viet",
            images=[self.banner()],
            created_at=now,
            first_attempt_at=now,
        )
        fields.update(kw)
        return Post(**fields)
