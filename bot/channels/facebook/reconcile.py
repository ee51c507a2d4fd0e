"""Facebook: finding a post again after a crash (reconcile), and corrections (edit, remove, current)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.channels import ChannelError, HoldChannel, Post, PostState, Published, Rejected, RetryLater
from bot.channels.facebook.http import (
    FIND_FALLBACK_WINDOW,
    FIND_MARGIN,
    FIND_MAX_PAGES,
    Usage,
    normalize_text,
    page_lock,
)


class GraphReconcile:
    """Reconcile and corrections of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def find_existing(self, post: Post) -> Published | None:
        """Search the Page's recent posts for this post's text (after a crash or an unclear answer)."""
        if post.attachments.get("video"):  # issue 18: by the saved video id, else the Page's videos (video.py)
            return self._find_existing_video(post)
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
                # issue 18: a video's text is its description (Graph API Video reference, "Updating")
                field = "description" if post.attachments.get("video") else "message"
                answer = self._call("POST", post_id, data={field: message}, creates=True)
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
            field = "description" if post is not None and post.attachments.get("video") else "message"  # issue 18
            answer = self._call("GET", post_id, params={"fields": f"id,{field}"}, need="pages_read_engagement")
        except Rejected as exc:
            if self._gone(exc):
                return PostState(exists=False, url=link)
            raise
        body = answer.body if isinstance(answer.body, dict) else {}
        matches = None if post is None else normalize_text(body.get(field)) == normalize_text(post.text)
        return PostState(exists=True, matches=matches, url=link)

