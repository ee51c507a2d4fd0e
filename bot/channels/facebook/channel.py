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
368 / 1390008 ("posting too fast")                RetryLater(scope="channel", code "368/1390008"): the
                                                  Page pauses (regain estimate, else 15 min), then posts
368 "You've already posted this"                  like 506 (code "368/duplicate")
368, anything else (a real policy block)          Rejected, code "368": the delivery fails and the Page
                                                  rests (``spec.get("facebook").rest_after(exc)``, 6 h)
506 (duplicate)                                   the Page is searched: Published if our post is
                                                  there, else Rejected
===============================================  ==================================================

The Graph API as it answers today (issue 18; checked 30/11/2026 with the docs and issues corpora; also in
../shared/api-notes/graph-api.md):

* ``POST /{page-id}/photos`` takes the post's text in ``caption``; ``message`` is deprecated on that edge
  (Page Photos reference, https://developers.facebook.com/docs/graph-api/reference/page/photos/, and
  api-notes D2). Unpublished uploads for an album carry no text; the album's text goes to /feed ``message``.
* 368 is not always a policy block. Subcode 1390008 is "We limit how often you can post, comment or do
  other things in a given amount of time…" and Meta's error-handling guide says "wait and retry"
  (gitroomhq/postiz-app PR #2068, from logged production answers; Graph API "Handling Errors").
  "You've already posted this. Posting the same content repeatedly on Facebook isn't allowed." comes
  as 368 with HTTP 400 (arsduo/koala #422): the content is already there, so it is checked against the
  Page exactly like 506. Everything else under 368 ("deemed abusive", 1346003 …) is a policy block.
* Calls with a Page token count against Business Use Case limits, not the platform limits
  (Graph API "Rate Limits", https://developers.facebook.com/docs/graph-api/overview/rate-limiting):
  the answer carries ``X-Business-Use-Case-Usage: {"<id>": [{"type": "pages", "call_count", "total_cputime",
  "total_time", "estimated_time_to_regain_access": <minutes>}]}`` and a throttled Page gets code 80001
  "There have been too many calls to this Page account". ``X-Page-Usage`` is the 2016 page-level header
  (blog 2016-06-16, restfb #548): read only when no BUC entry came back (:meth:`Usage.from_headers`).
* Page-post insights: ``post_impressions_unique`` and the other ``*_unique`` impressions metrics were retired
  on 15/06/2025 and ``post_impressions`` on 15/11/2025, for all versions; "the API will return an invalid
  metric error" (Pages API "Deprecated Facebook Page Insights Metrics",
  https://developers.facebook.com/documentation/pages-api/platforminsights/page/deprecated-metrics; blog
  "Page Insights API Updates" 2025-08-15: impressions are replaced by views). A retired name fails the
  whole request, not just its own value (trypostit/trypost PR #320: ``post_impressions`` →
  ``post_media_view``, ``post_impressions_unique`` → ``post_total_media_view_unique``). We ask for those two
  (views and reach) and drop, for the process, any metric the platform refuses (engagement.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests
import urllib3

from bot.channels import ChannelContext
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
    graph_pool,
    new_session,
)
from bot.channels.facebook.publish import GraphPublish
from bot.channels.facebook.reconcile import GraphReconcile
from bot.channels.facebook.spec import SPEC, TEXT_MAX
from bot.channels.facebook.video import GraphVideo
from bot.channels.spec import describe
from bot.store import Channel as ChannelRow


class FacebookChannel(GraphHttp, GraphErrors, GraphPublish, GraphReconcile, GraphCheck, GraphEngagement, GraphVideo):
    """A Facebook Page. One instance per configured channel; thread-safe for distinct posts."""

    platform: ClassVar[str] = "facebook"

    # Apprise-style declaration of the service, its limits and its secret fields.
    service_name: ClassVar[str] = "Facebook Page"
    service_url: ClassVar[str] = "https://www.facebook.com/"
    setup_url: ClassVar[str] = "https://developers.facebook.com/docs/pages-api/getting-started"
    protocol: ClassVar[str] = "facebook"
    body_maxlen: ClassVar[int] = TEXT_MAX  # declared once, in spec.py (SPEC.limits.text_max)
    attachment_support: ClassVar[bool] = True
    max_in_flight: ClassVar[int] = SPEC.limits.in_flight  # posts in flight per Page
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
        # The Graph calls go through a urllib3 pool (see http.Transport); a shared transport brings its own.
        if ctx.transport is not None:
            self.session: requests.Session = ctx.transport
            self._own_session = False
        else:
            self.session = new_session(pool_maxsize=4)
            self._own_session = True
        shared = getattr(self.session, "graph", None)
        self.pool: urllib3.PoolManager = shared if shared is not None else graph_pool(4)
        self._own_pool = shared is None

    # ------------------------------------------------------------------ printing

    def __str__(self) -> str:
        return describe(self.row, {self.token_env: self._token} if self.token_env else {})

    __repr__ = __str__

    def close(self) -> None:
        if self._own_session:
            self.session.close()
        elif self._own_pool:
            self.pool.clear()


