"""A fake website CMS (a third platform, defined only in the test suite) on the shared fake base.

It exists to show what adding a platform costs: this fake, one channel module in tests
(tests/channels/site_platform.py) registered through :mod:`bot.channels.spec`, and one row in the
contract test. The protocol is deliberately small and JSON-only:

* ``POST /api/posts`` ``{"title", "text", "key"}`` with ``Authorization: Bearer <token>`` → 201 ``{"id"}``;
  the same ``key`` again → 409 ``{"error": "duplicate", "id": <existing>}``;
* ``GET /api/posts?key=…`` → ``{"data": [{"id", "key", "text"}]}``;
* ``PATCH``/``DELETE /api/posts/<id>``; ``GET /api/posts/<id>``;
* errors: 401 (token dead), 403 (permission), 422 (rejected), 429 with ``Retry-After`` (rate-limited), 500.

Faults: :meth:`SiteFake.fail_next` (status, once) and :meth:`SiteFake.drop_next` (close after the effect).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.base import FakeHandler, ServerThread


@dataclass
class SiteFake:
    token: str = "site-token-0123456789abcdef"
    scopes: set[str] = field(default_factory=lambda: {"read", "write"})
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[tuple[str, int | None]] = field(default_factory=list)  # ("fail", status) | ("drop", None)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _server: ServerThread | None = None

    def __enter__(self) -> SiteFake:
        fake = self

        class Handler(FakeHandler):
            server_version = "SiteFake/1.0"

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_PATCH(self) -> None:
                fake._serve(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._serve(self, "DELETE")

        self._server = ServerThread(Handler, "site-fake")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    def fail_next(self, status: int) -> None:
        with self.lock:
            self.faults.append(("fail", status))

    def drop_next(self) -> None:
        with self.lock:
            self.faults.append(("drop", None))

    def _serve(self, h: FakeHandler, method: str) -> None:
        body = h.read_body()
        parts = urlsplit(h.path)
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            h.send_json(401, {"error": "invalid token"})
            return
        with self.lock:
            fault = self.faults.pop(0) if self.faults and method != "GET" else None
        if fault and fault[0] == "fail":
            status = int(fault[1] or 500)
            h.send_json(status, {"error": f"fault {status}"}, {"Retry-After": "30"} if status == 429 else None)
            return
        if method != "GET" and "write" not in self.scopes:
            h.send_json(403, {"error": "missing scope write"})
            return
        status, answer = self._route(method, parts.path, parse_qs(parts.query), json.loads(body or b"{}"))
        if fault and fault[0] == "drop":
            h.drop()
            return
        h.send_json(status, answer)

    def _route(self, method: str, path: str, query: dict[str, list[str]], data: dict[str, Any]) -> tuple[int, Any]:
        seg = [s for s in path.split("/") if s]
        with self.lock:
            if seg == ["api", "posts"] and method == "POST":
                if not data.get("title") or not data.get("text"):
                    return 422, {"error": "title and text are required"}
                same = next((p for p in self.posts.values() if p["key"] == data.get("key")), None)
                if same is not None:
                    return 409, {"error": "duplicate", "id": same["id"]}
                pid = str(next(self._ids))
                self.posts[pid] = {"id": pid, "key": data.get("key"), "title": data["title"], "text": data["text"]}
                return 201, {"id": pid}
            if seg == ["api", "posts"] and method == "GET":
                key = (query.get("key") or [None])[0]
                return 200, {"data": [p for p in self.posts.values() if key is None or p["key"] == key]}
            if len(seg) == 3 and seg[:2] == ["api", "posts"]:
                post = self.posts.get(seg[2])
                if post is None:
                    return 404, {"error": "not found"}
                if method == "DELETE":
                    del self.posts[seg[2]]
                    return 200, {"ok": True}
                if method == "PATCH":
                    post.update({k: v for k, v in data.items() if k in ("title", "text")})
                return 200, post
        return 404, {"error": "no such route"}
