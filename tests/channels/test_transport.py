"""The shared transport (issue 15, item 3): a requests.Session for Zalo and media checks, with a urllib3
pool for the Graph post path that reads the environment once, never retries, never follows redirects."""

from __future__ import annotations

import pytest
import requests
import urllib3

from bot.channels.facebook.http import Transport, encode_body, graph_pool, new_session


def test_the_transport_is_a_session_with_a_graph_pool() -> None:
    t = new_session(pool_maxsize=8)
    try:
        assert isinstance(t, requests.Session) and isinstance(t, Transport)
        assert isinstance(t.graph, urllib3.PoolManager) and not isinstance(t.graph, urllib3.ProxyManager)
        assert t.graph.connection_pool_kw["retries"].total is False and t.graph.connection_pool_kw["maxsize"] == 8
    finally:
        t.close()


def test_a_proxy_in_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("https_proxy", "http://proxy.local:3128")
    pool = graph_pool(2)
    assert isinstance(pool, urllib3.ProxyManager) and pool.proxy.host == "proxy.local"


def test_bodies_are_form_or_multipart() -> None:
    body, ctype = encode_body({"message": "Tự hào", "published": False, "skip": None}, None)
    assert ctype == "application/x-www-form-urlencoded" and body == b"message=T%E1%BB%B1+h%C3%A0o&published=False"
    body, ctype = encode_body({"caption": "Mốc 1.000"}, {"source": ("a.png", b"\x89PNG", "image/png")})
    assert ctype.startswith("multipart/form-data; boundary=") and b"\x89PNG" in body
    assert "Mốc 1.000".encode() in body
