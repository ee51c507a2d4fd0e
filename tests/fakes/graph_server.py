"""A fake Facebook Graph API on 127.0.0.1, speaking the documented protocol over real HTTP.

It reproduces what a Page-publishing client meets (../shared/api-notes/graph-api.md): versioned paths,
``POST /{page}/photos`` (multipart ``source`` + ``message``, or ``published=false``), ``POST /{page}/feed``
(``message``, ``link``, ``attached_media[i]``), ``GET /{page}/published_posts`` (``since``, paging with an
echoed ``access_token`` in ``paging.next`` as the real API does), ``GET /{post}`` engagement fields,
``GET /me``, ``GET /me/permissions``, ``GET /debug_token`` (app token only), ``DELETE /{post}``, the update
``POST /{post}`` (``message``; only posts made by this app, else ``(#200) App cannot edit non-app posts``; a
deleted or unknown id answers #100 subcode 33, as the real API) and the
batch ``POST /`` (at most 50 items, each answered on its own). Answers carry ``X-App-Usage``,
``X-Page-Usage`` and ``X-Business-Use-Case-Usage``.

It is stricter than the real API where the project's rules are stricter: a token in the query string
of a URL is refused (and counted in :attr:`GraphFake.violations`); a missing or unknown token gets #190;
with ``app_secret`` set, ``appsecret_proof`` is required and checked.

Tests steer it through a thread-safe API::

    with GraphFake(latency=0.02) as fake:
        token = fake.add_page("100064000000001", name="LĐLĐ tỉnh")
        fake.fail_next(code=190, subcode=463)                 # next call: expired token
        fake.fail_next(code=1, status=500, endpoint="photos", accept=True)  # 500, but the post exists
        fake.slow_next(2.0)                                     # answer after 2 s
        fake.drop_next(after_accept=True)                       # close the socket after posting
        fake.posts_for("100064000000001")                       # what was accepted

Standard library only (``http.server`` + ``email`` for multipart headers), so the lead's conftest can
import it anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from tests.fakes import graph_video
from tests.fakes.base import FakeHandler, ServerThread

DEFAULT_SCOPES = ("pages_manage_posts", "pages_read_engagement", "pages_show_list")
BATCH_MAX = 50
VERSION_RE = re.compile(r"^v(\d+)\.(\d+)$")
OLDEST_VERSION = 19

# code -> (HTTP status, type, message, is_transient) for answers the tests ask for.
ERRORS: dict[int, tuple[int, str, str, bool]] = {
    1: (500, "OAuthException", "An unknown error occurred", True),
    2: (500, "OAuthException", "An unexpected error has occurred. Please retry your request later.", True),
    3: (400, "OAuthException", "(#3) Application does not have the capability to make this API call.", False),
    4: (403, "OAuthException", "(#4) Application request limit reached", True),
    10: (403, "OAuthException", "(#10) This endpoint requires the 'pages_read_engagement' permission or the "
         "'Page Public Content Access' feature.", False),
    17: (403, "OAuthException", "(#17) User request limit reached", True),
    32: (403, "OAuthException", "(#32) Page request limit reached", True),
    100: (400, "OAuthException", "(#100) Invalid parameter", False),
    102: (400, "OAuthException", "Session key invalid or no longer valid", False),
    190: (400, "OAuthException", "Error validating access token: The session has been invalidated.", False),
    200: (403, "OAuthException", "(#200) If posting to a page, requires both pages_read_engagement and "
          "pages_manage_posts as an admin with sufficient administrative permission", False),
    324: (400, "OAuthException", "(#324) Missing or invalid image file", False),
    341: (400, "OAuthException", "(#341) Application limit reached", True),
    368: (400, "OAuthException", "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
          False),
    506: (400, "OAuthException", "(#506) Duplicate status message", False),
    613: (400, "OAuthException", "(#613) Calls to this api have exceeded the rate limit.", True),
    80001: (400, "OAuthException", "(#80001) There have been too many calls to this Page account. Wait a bit and "
            "try again. For more info, please refer to "
            "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.", True),
}
SUBCODE_MESSAGES = {
    458: "Error validating access token: The user has not authorized application.",
    459: "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow "
         "the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user changed their password "
         "or Facebook has changed the session for security reasons.",
    463: "Error validating access token: Session has expired.",
    464: "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed "
         "user.",
    467: "Error validating access token: The session is invalid because the user logged out.",
    492: "Error validating access token: The session is invalid because the user has lost a role on the Page.",
}
# Code 368 means several things today (api-notes graph-api.md; postiz-app PR #2068; koala #422).
TOO_FAST_SUBCODE = 1390008
TOO_FAST_MESSAGE = ("We limit how often you can post, comment or do other things in a given amount of time in order to "
                    "help protect the community from spam. You can try again later.")
ALREADY_POSTED_MESSAGE = "You've already posted this. Posting the same content repeatedly on Facebook isn't allowed."
# Page-post insights metrics (Pages API "Deprecated Page Insights Metrics", blog 2025-08-15): these answer #100.
RETIRED_METRICS = frozenset({
    "post_impressions", "post_impressions_unique", "post_impressions_paid", "post_impressions_paid_unique",
    "post_impressions_fan", "post_impressions_fan_unique", "post_impressions_organic",
    "post_impressions_organic_unique", "post_impressions_viral", "post_impressions_viral_unique",
    "post_impressions_nonviral", "post_impressions_nonviral_unique", "post_engaged_users",
})
LIVE_METRICS = frozenset({"post_media_view", "post_total_media_view_unique", "post_clicks",
                          "post_reactions_by_type_total"})
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


class GraphError(Exception):
    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        subcode: int | None = None,
        status: int | None = None,
        type_: str | None = None,
        is_transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default = ERRORS.get(code, (400, "OAuthException", f"(#{code}) Error", False))
        self.code = code
        self.subcode = subcode
        self.status = status or default[0]
        self.type = type_ or default[1]
        self.message = (message or (SUBCODE_MESSAGES.get(subcode or 0) if code == 190 else None)
                        or (TOO_FAST_MESSAGE if code == 368 and subcode == TOO_FAST_SUBCODE else None) or default[2])
        self.is_transient = default[3] if is_transient is None else is_transient
        self.headers = headers or {}
        super().__init__(self.message)

    def envelope(self) -> dict[str, Any]:
        err: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "is_transient": self.is_transient,
            "fbtrace_id": "Fake" + hashlib.sha1(self.message.encode()).hexdigest()[:8],
        }
        if self.subcode:
            err["error_subcode"] = self.subcode
        return {"error": err}


@dataclass
class TokenInfo:
    token: str
    kind: str  # PAGE | USER | APP
    owner_id: str
    name: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    expires_at: int = 0  # 0: never
    data_access_expires_at: int = 0
    revoked_subcode: int | None = None  # set: every call answers #190 with this subcode
    revoked: bool = False


@dataclass
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class PostRecord:
    id: str
    page_id: str
    kind: str  # photo | feed
    message: str
    created_time: float
    link: str | None = None
    photo_ids: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    filenames: list[str | None] = field(default_factory=list)
    published: bool = True
    by_app: bool = True  # made through this app (only those can be edited: "(#200) App cannot edit non-app posts")
    messages: list[str] = field(default_factory=list)  # every text it showed, in order (edits append)


@dataclass
class PhotoRecord:
    id: str
    page_id: str
    data: bytes
    filename: str | None
    caption: str
    published: bool
    used_by: str | None = None
    created_time: float = 0.0


@dataclass
class Seen:
    """One request as it arrived: the request line, headers and form field names."""

    method: str
    target: str  # path and query exactly as sent
    headers: dict[str, str]
    fields: list[str]
    token_in: str | None  # header | body | query | None
    status: int = 0


@dataclass
class Fault:
    kind: str  # fail | slow | drop
    page_id: str | None = None
    endpoint: str | None = None
    count: int = 1
    code: int = 1
    subcode: int | None = None
    status: int | None = None
    message: str | None = None
    is_transient: bool | None = None
    estimated_minutes: float | None = None
    legacy_minutes: float | None = None  # X-Page-Usage's estimate when it differs from the BUC header's
    accept: bool = False  # fail/slow: process the request first (the post exists) then answer
    seconds: float = 0.0


def _graph_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, Upload]]:
    """Split a multipart/form-data body into text fields and files (RFC 7578)."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise GraphError(100, "(#100) Invalid multipart body: no boundary")
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise GraphError(100, "(#100) Invalid multipart body")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise GraphError(100, "(#100) Invalid multipart part")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        # Part headers carry UTF-8 names raw (HTML5 form encoding, as urllib3 sends them).
        part = HeaderParser().parsestr(head.decode("utf-8", "replace") + "\r\n\r\n")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename, part.get("content-type"), content)
        else:
            charset = part.get_content_charset() or "utf-8"
            fields[name] = content.decode(charset)
    return fields, files


class GraphFake:
    """The fake Graph API. Thread-safe; start with :meth:`start` or use as a context manager."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        app_secret: str | None = None,
        app_id: str = "1234567890",
        app_token: str | None = None,
        host: str = "127.0.0.1",
        duplicate_window: float = 3600.0,
        echo_token_in_paging: bool = True,
    ) -> None:
        self.latency = latency
        self.app_secret = app_secret
        self.app_id = app_id
        self.app_token = app_token or f"{app_id}|fake-app-secret-token"
        self.host = host
        self.duplicate_window = duplicate_window
        self.echo_token_in_paging = echo_token_in_paging
        self._lock = threading.RLock()
        self._tokens: dict[str, TokenInfo] = {}
        self._pages: dict[str, str] = {}  # page id -> name
        self._page_token: dict[str, str] = {}
        self._posts: list[PostRecord] = []
        self._posts_by_id: dict[str, PostRecord] = {}
        self._photos: dict[str, PhotoRecord] = {}
        self._engagement: dict[str, dict[str, int]] = {}
        self._insights_values: dict[str, dict[str, int]] = {}
        self.retired_metrics: frozenset[str] = RETIRED_METRICS
        self._faults: list[Fault] = []
        self._app_usage = {"call_count": 0, "total_cputime": 0, "total_time": 0}
        self._page_usage: dict[str | None, tuple[float, float]] = {}
        self._calls_per_page: dict[str, int] = defaultdict(int)
        self._in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        # Every moment two calls were open at once on one Page (reads included): (page, method, path, time).
        # A call is open from its arrival until its answer is written (or its connection dropped), even when
        # the client gave up long before: the platform is still working on it.
        self.overlaps: list[tuple[str, str, str, float]] = []
        self._next_id = 10_000_000
        self.requests: list[Seen] = []
        self.violations: list[str] = []
        self.edits: list[tuple[str, str]] = []  # (post id, new message) for every accepted update
        self.deleted: list[PostRecord] = []  # every post removed by DELETE
        self._server: ServerThread | None = None
        self._tokens[self.app_token] = TokenInfo(self.app_token, "APP", app_id, "Campaign Bot App", ())

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GraphFake:
        fake = self

        class Handler(_Handler):
            graph = fake

        self._server = ServerThread(Handler, "graph-fake", self.host)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> GraphFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("GraphFake is not started")
        return self._server.base_url

    # ------------------------------------------------------------------ setup

    def _new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    def add_page(
        self,
        page_id: str,
        name: str | None = None,
        *,
        token: str | None = None,
        scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
        expires_at: int = 0,
        data_access_expires_at: int = 0,
    ) -> str:
        """Register a Page and its Page access token; returns the token."""
        token = token or "EAAfake" + hashlib.sha256(f"page-{page_id}".encode()).hexdigest()[:40]
        with self._lock:
            self._pages[page_id] = name or f"Trang {page_id}"
            self._page_token[page_id] = token
            self._tokens[token] = TokenInfo(
                token, "PAGE", page_id, self._pages[page_id], tuple(scopes), expires_at, data_access_expires_at
            )
        return token

    def add_pages(self, count: int, first_id: int = 100064000000001) -> dict[str, str]:
        return {str(first_id + i): self.add_page(str(first_id + i)) for i in range(count)}

    def add_user_token(self, token: str, user_id: str = "5550001", name: str = "Nguyễn Văn A",
                       scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
        with self._lock:
            self._tokens[token] = TokenInfo(token, "USER", user_id, name, tuple(scopes))
        return token

    def token_for(self, page_id: str) -> str:
        return self._page_token[page_id]

    def set_scopes(self, token: str, scopes: tuple[str, ...] | list[str]) -> None:
        with self._lock:
            self._tokens[token].scopes = tuple(scopes)

    def revoke(self, token: str, subcode: int | None = 467) -> None:
        """Every later call with this token answers #190 (with ``subcode``)."""
        with self._lock:
            info = self._tokens[token]
            info.revoked, info.revoked_subcode = True, subcode

    def set_usage(self, page_id: str | None = None, *, percent: float | None = None,
                  estimated_minutes: float = 0, app_percent: float | None = None) -> None:
        """Usage reported in headers: Page (X-Page-Usage, X-Business-Use-Case-Usage) and app (X-App-Usage)."""
        with self._lock:
            if percent is not None:
                self._page_usage[page_id] = (percent, estimated_minutes)
            if app_percent is not None:
                self._app_usage = {k: int(app_percent) for k in self._app_usage}

    def add_post(self, page_id: str, message: str, created_time: float | None = None, *, kind: str = "feed") -> str:
        """A post already on the Page (made by a person, or earlier)."""
        post_id = f"{page_id}_{self._new_id()}"
        record = PostRecord(post_id, page_id, kind, message, created_time or time.time(), by_app=False)
        with self._lock:
            self._posts.append(record)
            self._posts_by_id[post_id] = record
        return post_id

    def set_engagement(self, post_id: str, *, reactions: int = 0, comments: int = 0, shares: int = 0) -> None:
        with self._lock:
            self._engagement[post_id] = {"reactions": reactions, "comments": comments, "shares": shares}

    # ------------------------------------------------------------------ faults

    def page_of_request(self, target: str, headers: dict[str, str], body: bytes) -> str | None:
        """The Page a call concerns, for the in-flight count: from its path (``/{page}/…``, a post id
        ``{page}_{n}``), else from its Page token (reads with ``Authorization: Bearer``, batches)."""
        seg = [s for s in urlsplit(target).path.split("/") if s]
        if seg and VERSION_RE.match(seg[0]):
            seg = seg[1:]
        with self._lock:
            if seg:
                head = seg[0].split("_", 1)[0]
                if head in self._pages:
                    return head
            token = None
            match = re.match(r"^(?:Bearer|OAuth)\s+(\S+)$", headers.get("authorization", "").strip(), re.IGNORECASE)
            if match:
                token = match.group(1)
            elif headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                token = (parse_qs(body.decode("utf-8", "replace")).get("access_token") or [None])[0]
            info = self._tokens.get(token or "")
            if info is not None and info.kind == "PAGE" and info.owner_id in self._pages:
                return info.owner_id
        return None

    def fail_next(
        self,
        page_id: str | None = None,
        *,
        code: int = 2,
        subcode: int | None = None,
        status: int | None = None,
        count: int = 1,
        message: str | None = None,
        is_transient: bool | None = None,
        estimated_minutes: float | None = None,
        legacy_minutes: float | None = None,
        endpoint: str | None = None,
        accept: bool = False,
    ) -> None:
        """The next ``count`` matching calls answer this error envelope.

        ``endpoint``: photos | feed | published_posts | me | permissions | debug_token | batch | object
        (``GET``/``DELETE /{id}``; also matches batch items) | insights. ``accept``: process the call first, so
        the post exists although the answer is an error (a 500 after the photo was made).
        ``estimated_minutes`` goes in X-Business-Use-Case-Usage; ``legacy_minutes`` (default: the same) in the
        old X-Page-Usage header, so a test can tell which one the client read.
        """
        with self._lock:
            self._faults.append(Fault("fail", page_id, endpoint, count, code, subcode, status, message,
                                      is_transient, estimated_minutes, legacy_minutes, accept))

    def slow_next(self, seconds: float, page_id: str | None = None, *, endpoint: str | None = None,
                  count: int = 1, accept: bool = True) -> None:
        """The next matching calls answer after ``seconds`` (processed first unless ``accept=False``)."""
        with self._lock:
            self._faults.append(Fault("slow", page_id, endpoint, count, accept=accept, seconds=seconds))

    def drop_next(self, after_accept: bool = True, page_id: str | None = None, *, endpoint: str | None = None,
                  count: int = 1) -> None:
        """The next matching calls get no answer: the connection is closed (after posting if ``after_accept``)."""
        with self._lock:
            self._faults.append(Fault("drop", page_id, endpoint, count, accept=after_accept))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, endpoint: str, page_id: str | None, *, top_level: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count <= 0:
                    continue
                if not top_level and fault.kind != "fail":
                    continue
                if fault.endpoint is not None and fault.endpoint != endpoint:
                    continue
                if fault.page_id is not None and fault.page_id != page_id:
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ inspection

    def posts_for(self, page_id: str | None = None) -> list[PostRecord]:
        with self._lock:
            return [p for p in self._posts if page_id is None or p.page_id == page_id]

    def post_count(self, page_id: str | None = None) -> int:
        return len(self.posts_for(page_id))

    def post_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        with self._lock:
            for post in self._posts:
                counts[post.page_id] += 1
        return dict(counts)

    def photos(self, page_id: str | None = None) -> list[PhotoRecord]:
        with self._lock:
            return [p for p in self._photos.values() if page_id is None or p.page_id == page_id]

    def request_lines(self) -> list[str]:
        with self._lock:
            return [f"{s.method} {s.target}" for s in self.requests]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.violations.clear()

    # ------------------------------------------------------------------ dispatch

    def _usage_headers(self, info: TokenInfo | None, page_id: str | None,
                       override: tuple[float, float] | None = None,
                       legacy_minutes: float | None = None) -> dict[str, str]:
        headers = {"X-App-Usage": json.dumps(self._app_usage)}
        page = page_id or (info.owner_id if info and info.kind == "PAGE" else None)
        if page is None:
            return headers
        with self._lock:
            calls = self._calls_per_page[page]
            percent, minutes = override or self._page_usage.get(page) or self._page_usage.get(None) or (
                min(100, calls * 100 // 4800), 0)
        entry = {"call_count": int(percent), "total_cputime": int(percent) // 2, "total_time": int(percent) // 2}
        page_header = dict(entry)
        legacy = minutes if legacy_minutes is None else legacy_minutes
        if legacy:
            page_header["estimated_time_to_regain_access"] = legacy
        headers["X-Page-Usage"] = json.dumps(page_header)
        headers["X-Business-Use-Case-Usage"] = json.dumps(
            {page: [{"type": "pages", **entry, "estimated_time_to_regain_access": minutes}]}
        )
        return headers

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, *,
               top_level: bool = True, batch_token: str | None = None,
               seen: Seen | None = None) -> tuple[str, Any]:
        """Process one call. Returns ("answer", (status, headers, body)) or a fault action for the HTTP layer."""
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        form: dict[str, str] = {}
        files: dict[str, Upload] = {}
        info: TokenInfo | None = None
        page_ctx: str | None = None
        try:
            ctype = headers.get("content-type", "")
            if body and ctype.startswith("multipart/form-data"):
                form, files = parse_multipart(body, ctype)
            elif body and ctype.startswith("application/octet-stream"):  # issue 18: a Reel's bytes (rupload)
                form, files = graph_video.raw_body(headers, body)
            elif body:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            if seen is not None:
                seen.fields = sorted([*form, *files])
            segments = [s for s in parts.path.split("/") if s]
            if segments and VERSION_RE.match(segments[0]):
                major = int(VERSION_RE.match(segments[0]).group(1))  # type: ignore[union-attr]
                if major < OLDEST_VERSION:
                    raise GraphError(2635, f"(#2635) You are calling a deprecated version of the Graph API "
                                           f"({segments[0]}). Please update to the latest version.")
                segments = segments[1:]
            endpoint, page_ctx = self._route(method, segments)
            token, where = self._find_token(headers, form, query, top_level=top_level, batch_token=batch_token)
            if seen is not None:
                seen.token_in = where
            if where == "query" and top_level:
                self.violations.append(f"{method} {parts.path}: access_token in the URL query string")
                raise GraphError(100, "(#100) fake Graph: an access_token in the URL query string is refused; "
                                      "send it in the body or the Authorization header")
            # A batch item using the batch's own token is covered by the batch's appsecret_proof.
            info = self._check_token(token, form, query, proof_checked=(where == "batch"))
            if page_ctx is None and info.kind == "PAGE":
                page_ctx = info.owner_id
            if page_ctx and page_ctx in self._pages:
                with self._lock:
                    self._calls_per_page[page_ctx] += 1
            fault = self._take_fault(endpoint, page_ctx, top_level=top_level)
            if fault is not None and fault.kind == "drop":
                if fault.accept:
                    self._execute(method, endpoint, segments, info, form, files, query)
                return "drop", None
            if fault is not None and fault.kind == "slow" and not fault.accept:
                time.sleep(fault.seconds)  # wait first, then process and answer at once
                fault = None
            if fault is not None and fault.kind == "fail":
                if fault.accept:
                    self._execute(method, endpoint, segments, info, form, files, query)
                override = (100.0, fault.estimated_minutes or 0) if fault.estimated_minutes is not None else None
                err = GraphError(fault.code, fault.message, subcode=fault.subcode, status=fault.status,
                                 is_transient=fault.is_transient,
                                 headers=self._usage_headers(info, page_ctx, override, fault.legacy_minutes))
                raise err
            result = self._execute(method, endpoint, segments, info, form, files, query)
            answer = (200, self._usage_headers(info, page_ctx), result)
            if fault is not None and fault.kind == "slow":
                return "slow", (fault.seconds, answer)
            return "answer", answer
        except GraphError as err:
            hdrs = dict(err.headers or self._usage_headers(info, page_ctx))
            if err.code == 190:
                hdrs["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "Error validating access token"'
            return "answer", (err.status, hdrs, err.envelope())

    def _route(self, method: str, seg: list[str]) -> tuple[str, str | None]:
        if (video := graph_video.route(method, seg)) is not None:  # issue 18: tests/fakes/graph_video.py
            return video
        if not seg:
            if method == "POST":
                return "batch", None
            raise GraphError(100, "(#100) Unsupported get request.", status=400, type_="GraphMethodException")
        if seg == ["me"] and method == "GET":
            return "me", None
        if seg == ["me", "permissions"] and method == "GET":
            return "permissions", None
        if seg == ["debug_token"] and method == "GET":
            return "debug_token", None
        if len(seg) == 2 and seg[1] == "photos" and method == "POST":
            return "photos", seg[0]
        if len(seg) == 2 and seg[1] == "feed" and method == "POST":
            return "feed", seg[0]
        if len(seg) == 2 and seg[1] == "published_posts" and method == "GET":
            return "published_posts", seg[0]
        if len(seg) == 2 and seg[1] == "insights" and method == "GET":
            return "insights", seg[0].split("_")[0]
        if len(seg) == 1 and method in ("GET", "DELETE", "POST"):
            return "object", seg[0].split("_")[0]
        raise GraphError(100, f"Unsupported {method.lower()} request. Object with ID '{'/'.join(seg)}' does not "
                              "exist, cannot be loaded due to missing permissions, or does not support this operation.",
                         subcode=33, type_="GraphMethodException")

    def _find_token(self, headers: dict[str, str], form: dict[str, str], query: dict[str, str], *,
                    top_level: bool, batch_token: str | None) -> tuple[str | None, str | None]:
        auth = headers.get("authorization", "")
        match = re.match(r"^(?:Bearer|OAuth)\s+(\S+)$", auth.strip(), re.IGNORECASE)
        if "access_token" in query:
            return query["access_token"], "query"
        if match:
            return match.group(1), "header"
        if "access_token" in form:
            return form["access_token"], "body"
        if not top_level and batch_token:
            return batch_token, "batch"
        return None, None

    def _check_token(self, token: str | None, form: dict[str, str], query: dict[str, str], *,
                     proof_checked: bool = False) -> TokenInfo:
        if not token:
            raise GraphError(190, "An access token is required to request this resource.")
        with self._lock:
            info = self._tokens.get(token)
        if info is None:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if info.revoked:
            raise GraphError(190, subcode=info.revoked_subcode)
        if info.expires_at and info.expires_at < time.time():
            raise GraphError(190, subcode=463)
        if self.app_secret and not proof_checked:
            proof = form.get("appsecret_proof") or query.get("appsecret_proof")
            if not proof:
                raise GraphError(100, "API calls from the server require an appsecret_proof argument",
                                 type_="GraphMethodException")
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, expected):
                raise GraphError(100, "Invalid appsecret_proof provided in the API argument",
                                 type_="GraphMethodException")
        return info

    def _need_page(self, info: TokenInfo, page_id: str, scope: str) -> None:
        if page_id not in self._pages:
            raise GraphError(100, f"Unsupported post request. Object with ID '{page_id}' does not exist, cannot be "
                                  "loaded due to missing permissions, or does not support this operation.",
                             subcode=33, type_="GraphMethodException")
        if info.kind != "PAGE" or info.owner_id != page_id:
            raise GraphError(200)
        if scope not in info.scopes:
            if scope == "pages_manage_posts":
                raise GraphError(200)
            raise GraphError(10, f"(#10) This endpoint requires the '{scope}' permission or the 'Page Public Content "
                                 "Access' feature.")

    # ------------------------------------------------------------------ endpoints

    def _execute(self, method: str, endpoint: str, seg: list[str], info: TokenInfo, form: dict[str, str],
                 files: dict[str, Upload], query: dict[str, str]) -> Any:
        if endpoint in graph_video.VIDEO_ENDPOINTS or (endpoint == "object" and graph_video.is_video(self, seg[0])):
            return graph_video.execute(self, method, endpoint, seg, info, form, files, query)  # issue 18
        if endpoint == "batch":
            return self._batch(info, form)
        if endpoint == "me":
            return self._fields({"id": info.owner_id, "name": info.name}, query, default="id,name")
        if endpoint == "permissions":
            if info.kind != "USER":
                raise GraphError(100, f"(#100) Tried accessing nonexisting field (permissions) on node type "
                                      f"({'Page' if info.kind == 'PAGE' else 'Application'})")
            return {"data": [{"permission": s, "status": "granted"} for s in info.scopes]}
        if endpoint == "debug_token":
            return self._debug_token(info, query)
        if endpoint == "photos":
            return self._photo(info, seg[0], form, files)
        if endpoint == "feed":
            return self._feed(info, seg[0], form)
        if endpoint == "published_posts":
            return self._published_posts(info, seg[0], query)
        if endpoint == "insights":
            return self._insights(info, seg[0], query)
        return self._object(method, info, seg[0], query, form)

    @staticmethod
    def _fields(node: dict[str, Any], query: dict[str, str], default: str) -> dict[str, Any]:
        wanted = {f.strip() for f in (query.get("fields") or default).split(",") if f.strip()}
        wanted.add("id")
        return {k: v for k, v in node.items() if k in wanted}

    def _debug_token(self, info: TokenInfo, query: dict[str, str]) -> dict[str, Any]:
        if info.kind != "APP":
            raise GraphError(100, "(#100) You must provide an app access token, or a user access token that is an "
                                  "owner or developer of the app")
        target = self._tokens.get(query.get("input_token", ""))
        if target is None:
            return {"data": {"is_valid": False, "scopes": [],
                             "error": {"code": 190, "message": "Invalid OAuth access token."}}}
        data: dict[str, Any] = {
            "app_id": self.app_id,
            "type": target.kind,
            "application": "Campaign Bot App",
            "data_access_expires_at": target.data_access_expires_at,
            "expires_at": target.expires_at,
            "is_valid": not target.revoked and not (target.expires_at and target.expires_at < time.time()),
            "issued_at": int(time.time()) - 86400,
            "scopes": list(target.scopes),
            "granular_scopes": [{"scope": s} for s in target.scopes],
            "user_id": "5550001",
        }
        if target.kind == "PAGE":
            data["profile_id"] = target.owner_id
        if not data["is_valid"]:
            sub = target.revoked_subcode if target.revoked else 463
            data["error"] = {"code": 190, "subcode": sub, "message": SUBCODE_MESSAGES.get(sub or 0, "Invalid")}
        return {"data": data}

    def _photo(self, info: TokenInfo, page_id: str, form: dict[str, str], files: dict[str, Upload]) -> Any:
        self._need_page(info, page_id, "pages_manage_posts")
        upload = files.get("source")
        if upload is None:
            if form.get("url"):
                upload = Upload(None, None, b"\xff\xd8\xff(fetched from url)")
            else:
                raise GraphError(324, "(#324) Requires upload file")
        if not upload.data.startswith(IMAGE_MAGIC) and not (upload.data[:4] == b"RIFF" and upload.data[8:12] == b"WEBP"):
            raise GraphError(324, "(#324) Missing or invalid image file")
        published = form.get("published", "true").lower() not in ("false", "0")
        if published and "message" in form and "caption" not in form:
            # The text of a photo post goes in `caption`; `message` is deprecated on this edge (api-notes, D2).
            self.violations.append(f"POST /{page_id}/photos: `message` instead of `caption`")
        caption = form.get("caption") or form.get("message") or ""
        photo_id = self._new_id()
        now = time.time()
        with self._lock:
            self._photos[photo_id] = PhotoRecord(photo_id, page_id, upload.data, upload.filename, caption, published,
                                                 created_time=now)
        if not published:
            return {"id": photo_id}
        post_id = f"{page_id}_{self._new_id()}"
        record = PostRecord(post_id, page_id, "photo", caption, now, photo_ids=[photo_id], images=[upload.data],
                            filenames=[upload.filename])
        with self._lock:
            self._photos[photo_id].used_by = post_id
            self._posts.append(record)
            self._posts_by_id[post_id] = record
        return {"id": photo_id, "post_id": post_id}

    def _feed(self, info: TokenInfo, page_id: str, form: dict[str, str]) -> Any:
        self._need_page(info, page_id, "pages_manage_posts")
        message = form.get("message", "")
        link = form.get("link") or None
        media_keys = sorted((k for k in form if k.startswith("attached_media[")),
                            key=lambda k: int(re.sub(r"\D", "", k) or 0))
        photo_ids: list[str] = []
        for key in media_keys:
            try:
                media_id = str(json.loads(form[key])["media_fbid"])
            except (ValueError, KeyError, TypeError):
                raise GraphError(100, f"(#100) param {key} must be a JSON object with media_fbid") from None
            photo = self._photos.get(media_id)
            if photo is None or photo.page_id != page_id or photo.published or photo.used_by:
                raise GraphError(100, f"(#100) param {key} has invalid media_fbid {media_id}")
            photo_ids.append(media_id)
        if not message and not link and not photo_ids:
            raise GraphError(100, "(#100) Missing message or attachment")
        if form.get("published", "true").lower() in ("false", "0"):
            raise GraphError(100, "(#100) fake Graph: unpublished feed posts are not simulated")
        now = time.time()
        with self._lock:
            last = next((p for p in reversed(self._posts) if p.page_id == page_id), None)
            if (message and last is not None and last.message == message and self.duplicate_window
                    and now - last.created_time < self.duplicate_window):
                raise GraphError(506)
            post_id = f"{page_id}_{self._new_id()}"
            record = PostRecord(post_id, page_id, "feed", message, now, link=link, photo_ids=photo_ids,
                                images=[self._photos[m].data for m in photo_ids],
                                filenames=[self._photos[m].filename for m in photo_ids])
            for media_id in photo_ids:
                self._photos[media_id].used_by = post_id
            self._posts.append(record)
            self._posts_by_id[post_id] = record
        return {"id": post_id}

    def _published_posts(self, info: TokenInfo, page_id: str, query: dict[str, str]) -> Any:
        self._need_page(info, page_id, "pages_read_engagement")
        since = float(query["since"]) if query.get("since") else None
        until = float(query["until"]) if query.get("until") else None
        limit = max(1, min(100, int(query.get("limit") or 25)))
        offset = 0
        if query.get("after"):
            offset = int(base64.urlsafe_b64decode(query["after"].encode()).decode())
        with self._lock:
            posts = [p for p in self._posts if p.page_id == page_id and p.published
                     and (since is None or p.created_time >= since) and (until is None or p.created_time <= until)]
        posts.sort(key=lambda p: p.created_time, reverse=True)
        page = posts[offset:offset + limit]
        wanted = {f.strip() for f in (query.get("fields") or "id,message,created_time").split(",")}
        data = []
        for post in page:
            node = {"id": post.id, "created_time": _graph_time(post.created_time)}
            if post.message:
                node["message"] = post.message
            data.append({k: v for k, v in node.items() if k in wanted or k == "id"})
        result: dict[str, Any] = {"data": data}
        if page:
            cursors = {"before": base64.urlsafe_b64encode(str(offset).encode()).decode(),
                       "after": base64.urlsafe_b64encode(str(offset + len(page)).encode()).decode()}
            result["paging"] = {"cursors": cursors}
            if offset + len(page) < len(posts):
                params = {k: v for k, v in query.items() if k not in ("after", "access_token", "appsecret_proof")}
                params["after"] = cursors["after"]
                if self.echo_token_in_paging:
                    params["access_token"] = info.token
                result["paging"]["next"] = f"{self.base_url}/v24.0/{page_id}/published_posts?{urlencode(params)}"
        return result

    def _object(self, method: str, info: TokenInfo, object_id: str, query: dict[str, str],
                form: dict[str, str] | None = None) -> Any:
        with self._lock:
            post = self._posts_by_id.get(object_id)
        if post is None and object_id in self._pages and method == "GET":
            return self._fields({"id": object_id, "name": self._pages[object_id]}, query, default="id,name")
        if post is None:
            raise GraphError(100, f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
                                  "cannot be loaded due to missing permissions, or does not support this operation.",
                             subcode=33, type_="GraphMethodException")
        need = "pages_manage_posts" if method in ("DELETE", "POST") else "pages_read_engagement"
        self._need_page(info, post.page_id, need)
        if method == "DELETE":
            with self._lock:
                self._posts.remove(post)
                del self._posts_by_id[object_id]
                self.deleted.append(post)
            return {"success": True}
        if method == "POST":
            # Update (Pages API "Posts" guide): only posts made by this app; the answer is {"success": true}.
            if not post.by_app:
                raise GraphError(200, "(#200) App cannot edit non-app posts", status=403)
            message = (form or {}).get("message")
            if message is None:
                raise GraphError(100, "(#100) Missing message to update")
            with self._lock:
                if not post.messages:
                    post.messages.append(post.message)
                post.message = message
                post.messages.append(message)
                self.edits.append((object_id, message))
            return {"success": True}
        counts = self._engagement.get(object_id, {"reactions": 0, "comments": 0, "shares": 0})
        fields = query.get("fields", "id")
        node: dict[str, Any] = {"id": object_id}
        if re.search(r"(^|,)shares($|,)", fields) and counts["shares"]:
            node["shares"] = {"count": counts["shares"]}
        if "reactions" in fields:
            node["reactions"] = {"data": [], "summary": {"total_count": counts["reactions"], "viewer_reaction": "NONE"}}
        if "comments" in fields:
            node["comments"] = {"data": [], "summary": {"order": "ranked", "total_count": counts["comments"],
                                                        "can_comment": True}}
        wanted_metrics = re.search(r"insights\.metric\(([^)]*)\)", fields)
        if wanted_metrics:
            # Field expansion fails as a whole when one metric is retired, like the /insights edge.
            node["insights"] = self._insights(info, object_id, {"metric": wanted_metrics.group(1)})
        for simple in ("message", "created_time"):
            if re.search(rf"(^|,){simple}($|,)", fields):
                node[simple] = post.message if simple == "message" else _graph_time(post.created_time)
        return node

    def retire_metric(self, name: str) -> None:
        """From now on ``name`` answers #100 like a metric Meta retired (one bad name fails the whole call)."""
        with self._lock:
            self.retired_metrics = self.retired_metrics | {name}

    def set_insights(self, post_id: str, **values: int) -> None:
        """Lifetime values of a post's insights metrics (e.g. post_media_view=120)."""
        with self._lock:
            self._insights_values.setdefault(post_id, {}).update(values)

    def _insights(self, info: TokenInfo, object_id: str, query: dict[str, str]) -> Any:
        with self._lock:
            post = self._posts_by_id.get(object_id)
            retired = self.retired_metrics
            values = dict(self._insights_values.get(object_id, {}))
        if post is None:
            raise GraphError(100, f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
                                  "loaded due to missing permissions, or does not support this operation.",
                             subcode=33, type_="GraphMethodException")
        self._need_page(info, post.page_id, "pages_read_engagement")
        metrics = [m.strip() for m in (query.get("metric") or "").split(",") if m.strip()]
        if not metrics:
            raise GraphError(100, "(#100) The parameter metric is required")
        for name in metrics:
            if name in retired or name not in LIVE_METRICS:
                raise GraphError(100, "(#100) The value must be a valid insights metric")
        data = [{"name": m, "period": "lifetime", "values": [{"value": values.get(m, 0)}],
                 "title": m, "id": f"{object_id}/insights/{m}/lifetime"} for m in metrics]
        return {"data": data}

    def _batch(self, info: TokenInfo, form: dict[str, str]) -> Any:
        try:
            items = json.loads(form.get("batch") or "")
        except ValueError:
            raise GraphError(100, "(#100) The parameter batch must be a JSON array") from None
        if not isinstance(items, list) or not items:
            raise GraphError(100, "(#100) The parameter batch must be a non-empty JSON array")
        if len(items) > BATCH_MAX:
            raise GraphError(1, "Too many requests in batch message. Maximum batch size is 50",
                             type_="GraphBatchException", status=400, is_transient=False)
        include_headers = form.get("include_headers", "true").lower() != "false"
        answers: list[Any] = []
        for item in items:
            if not isinstance(item, dict) or "relative_url" not in item:
                answers.append({"code": 400, "body": json.dumps(GraphError(100, "(#100) Missing relative_url")
                                                                .envelope())})
                continue
            method = str(item.get("method", "GET")).upper()
            body = str(item.get("body") or "").encode()
            headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
            action, payload = self.handle(method, "/" + str(item["relative_url"]).lstrip("/"), headers, body,
                                          top_level=False, batch_token=info.token)
            status, hdrs, result = payload
            answer: dict[str, Any] = {"code": status, "body": json.dumps(result)}
            if include_headers:
                answer["headers"] = [{"name": k, "value": v} for k, v in hdrs.items()]
            answers.append(answer)
        return answers


class _Handler(FakeHandler):
    graph: GraphFake
    server_version = "GraphFake/1.0"

    def _serve(self) -> None:
        graph = self.graph
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = Seen(self.command, self.path, dict(self.headers.items()), [], None)
        with graph._lock:
            graph.requests.append(seen)
        if graph.latency:
            time.sleep(graph.latency)
        page = graph.page_of_request(self.path, headers, body)
        if page is not None:
            with graph._lock:
                graph._in_flight[page] += 1
                if graph._in_flight[page] > 1:
                    graph.overlaps.append((page, self.command, urlsplit(self.path).path, time.time()))
                graph.max_in_flight[page] = max(graph.max_in_flight[page], graph._in_flight[page])
        try:
            self._answer(graph, seen, headers, body)
        finally:
            if page is not None:
                with graph._lock:
                    graph._in_flight[page] -= 1

    def _answer(self, graph: GraphFake, seen: Seen, headers: dict[str, str], body: bytes) -> None:
        action, payload = graph.handle(self.command, self.path, headers, body, seen=seen)
        if action == "drop":
            seen.status = -1
            self.drop()
            return
        if action == "slow":
            seconds, payload = payload
            time.sleep(seconds)
        status, hdrs, result = payload
        seen.status = status
        self.send_json(status, result, hdrs)

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve


def _page_of(target: str) -> str | None:
    """The Page a creating call (``/{page}/feed``, ``/{page}/photos``) is made on."""
    seg = [s for s in urlsplit(target).path.split("/") if s]
    if seg and VERSION_RE.match(seg[0]):
        seg = seg[1:]
    if len(seg) == 2 and seg[1] in ("photos", "feed"):
        return seg[0]
    return None
