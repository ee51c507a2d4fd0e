"""A tiny HTTP server on 127.0.0.1 that serves metric readings (CSV or JSON) for the URL source."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class MetricServer:
    base: str
    # path -> (status, content type, body, delay in seconds)
    routes: dict[str, tuple[int, str, str, float]] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def serve(self, path: str, body: str, ctype: str = "text/csv; charset=utf-8", status: int = 200,
              delay: float = 0.0) -> str:
        self.routes[path] = (status, ctype, body, delay)
        return self.base + path


@contextmanager
def metric_server() -> Iterator[MetricServer]:
    state: dict[str, MetricServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            srv = state["srv"]
            status, ctype, body, delay = srv.routes.get(self.path, (404, "text/plain", "không có", 0.0))
            srv.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
            if delay:
                time.sleep(delay)
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["srv"] = MetricServer(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["srv"]
    finally:
        server.shutdown()
        server.server_close()
