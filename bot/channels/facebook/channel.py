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

from typing import Any, ClassVar

import requests

from bot.channels import ChannelContext, mask
from bot.channels.facebook.check import GraphCheck
from bot.channels.facebook.engagement import GraphEngagement
from bot.channels.facebook.errors import GraphErrors
from bot.channels.facebook.http import (
    BATCH_MAX,
    DEFAULT_BASE,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_VERSION,
    GraphHttp,
    _float,
    new_session,
)
from bot.channels.facebook.publish import GraphPublish
from bot.channels.facebook.reconcile import GraphReconcile
from bot.store import Channel as ChannelRow


class FacebookChannel(GraphHttp, GraphErrors, GraphPublish, GraphReconcile, GraphCheck, GraphEngagement):
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

    def close(self) -> None:
        if self._own_session:
            self.session.close()


