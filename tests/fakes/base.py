"""The shared base of the fake platform servers (tests/fakes/graph_server.py, zalo_server.py, …).

A fake platform is a real HTTP server on 127.0.0.1 that speaks the platform's protocol, so channel code
is tested over real sockets. What every fake needs is here, once:

* :class:`FakeHTTPServer`: a threading server with a listen backlog of 128 (the default of 5 drops
  connections when a bench fans out to many Pages, and the figures swing), daemon handler threads,
  and quiet handling of clients that vanish mid-request (a killed worker, a timeout);
* :class:`FakeHandler`: HTTP/1.1 keep-alive, TCP_NODELAY (no delayed-ACK stalls), no access log, and
  helpers to read the body, answer JSON, or drop the connection without an answer (the "answer lost"
  situation of the contract test);
* :class:`ServerThread`: start/stop one server in a thread and give its base URL.

A new platform's fake subclasses :class:`FakeHandler`, answers in ``do_GET``/``do_POST`` and runs
with :class:`ServerThread`; its fault switches (fail, slow, drop) follow the same words as the others.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LISTEN_BACKLOG = 128


class FakeHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server for fakes: backlog 128, daemon threads, quiet about vanished clients."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    block_on_close = False  # keep-alive handler threads must not delay stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FakeHandler(BaseHTTPRequestHandler):
    """Request handler base: keep-alive, TCP_NODELAY, silent, with JSON and drop helpers."""

    protocol_version = "HTTP/1.1"
    timeout = 60
    wbufsize = 64 * 1024  # headers and body leave in one segment

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # silence the stderr access log
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, body: bytes, content_type: str = "application/json; charset=UTF-8",
                  headers: dict[str, str] | None = None) -> None:
        """Answer; a client that already left is not an error."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers=headers)

    def drop(self) -> None:
        """Close the connection without an answer (the request may or may not have had its effect)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ServerThread:
    """One fake server served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, host: str = "127.0.0.1") -> None:
        self.server = FakeHTTPServer((host, 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=name, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
