"""Zalo: the article itself — images on the media store, the article body, search and verify."""

from __future__ import annotations

import html
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.channels import HoldChannel, Post, Rejected, RetryLater
from bot.channels.zalo.errors import AUTHOR_MAX, DESCRIPTION_MAX, TITLE_MAX, VN, ZaloApiError, _aware, _cut, _int
from bot.channels.zalo.video import is_video_article  # issue 18
from bot.vn import nfc


class ZaloArticle:
    """The article half of :class:`~bot.channels.zalo.ZaloChannel` (a mixin: it uses the channel's fields)."""

    def _media(self) -> Any:
        if self._media_store is None:
            from bot.media import MediaError, open_media_store

            campaign = self.ctx.campaign
            settings = campaign.get("media") if isinstance(campaign, dict) else getattr(campaign, "media", None)
            try:
                self._media_store = open_media_store(settings, self.ctx.workspace, env=self.env)
            except MediaError as exc:
                raise HoldChannel(
                    f"{self.label}: {exc.message}", fix=exc.fix or "sửa khối media: trong config/campaign.yaml"
                ) from None
        return self._media_store

    def _publish_images(self, post: Post) -> list[str]:
        from bot.media import BadImage, MediaConfigError, MediaError

        store = self._media()
        urls: list[str] = []
        for image in post.images:
            path = Path(image)
            if not path.is_absolute():
                path = self.ctx.workspace / path
            try:
                urls.append(store.publish(path))
            except BadImage as exc:
                raise Rejected(f"{self.label}: ảnh {path.name}: {exc.message}", code="bad-image") from None
            except MediaConfigError as exc:
                raise HoldChannel(
                    f"{self.label}: {exc.message}", fix=exc.fix or "kiểm tra khối media:", code="media"
                ) from None
            except MediaError as exc:
                raise RetryLater(f"{self.label}: {exc.message}", retry_after=300, code="media") from None
        return urls

    # -- the article

    def _title(self, post: Post) -> str:
        return _cut(nfc(post.title).strip(), TITLE_MAX)

    def article_payload(self, post: Post, image_urls: list[str]) -> dict[str, Any]:
        """The body of article/create for a post (NFC, within the platform's limits)."""
        if not image_urls:
            raise Rejected(
                f"{self.label}: bài Zalo cần ít nhất một ảnh (ảnh bìa), bài này không có ảnh", code="no-image"
            )
        title = self._title(post)
        body_text = nfc(post.body or "").strip()
        paragraphs = [p.strip() for p in body_text.split("\n\n") if p.strip()]
        description = _cut(paragraphs[0] if paragraphs else title, DESCRIPTION_MAX)
        blocks: list[dict[str, Any]] = [{"type": "image", "url": image_urls[0], "caption": ""}]
        for para in paragraphs:
            lines = [html.escape(" ".join(line.split()), quote=False) for line in para.splitlines() if line.strip()]
            blocks.append({"type": "text", "content": "<p>" + "<br>".join(lines) + "</p>"})
        blocks += [{"type": "image", "url": url, "caption": ""} for url in image_urls[1:]]
        tail = []
        if post.hashtags:
            tail.append(html.escape(" ".join(nfc(h) for h in post.hashtags), quote=False))
        if post.link:
            link = html.escape(post.link, quote=True)
            tail.append(f'<a href="{link}">{link}</a>')
        from bot.channels.zalo.video import document_block

        if (doc := document_block(post)) is not None:  # issue 18: a guide's PDF
            tail.append(doc)
        if tail:
            blocks.append({"type": "text", "content": "<p>" + "<br>".join(tail) + "</p>"})
        return {
            "type": "normal",
            "title": title,
            "author": _cut(nfc(post.unit_name).strip(), AUTHOR_MAX),
            "cover": {"cover_type": "photo", "photo_url": image_urls[0], "status": "show"},
            "description": description,
            "body": blocks,
            "related_medias": [],
            "status": "show",  # the API hides articles by default
            "comment": "show",
        }

    def _window_start(self, post: Post) -> datetime | None:
        start = _aware(post.first_attempt_at) or _aware(post.created_at)
        return start - timedelta(minutes=10) if start else None

    def _search(self, post: Post, *, article_id: str | None = None) -> dict[str, Any] | None:
        """The OA's recent article that is this post: by id, or by title created inside the delivery's window."""
        start = self._window_start(post)
        if article_id is None and start is None:
            return None
        title = self._title(post)
        offset = 0
        for _page in range(self.search_pages):
            try:
                data = self._call(
                    "GET", "/v2.0/article/getslice",
                    params={"offset": offset, "limit": 10, "type": "video" if is_video_article(post) else "normal"}
                )
            except ZaloApiError as err:
                raise self._classified(err) from None
            medias = data.get("medias") or []
            for m in medias:
                if article_id is not None:
                    if str(m.get("id")) == article_id:
                        return m
                    continue
                created = _parse_create_date(m.get("create_date"))
                if nfc(str(m.get("title") or "")).strip() == title and _not_before(created, start):
                    return m
            if article_id is None and medias:
                oldest = _parse_create_date(medias[-1].get("create_date"))
                if start is not None and isinstance(oldest, datetime) and oldest < start:
                    break
            offset += len(medias)
            if not medias or offset >= (_int(data.get("total"), 0) or 0):
                break
        return None

    def _verify(self, token: str, progress: dict[str, Any], post: Post | None = None) -> str:
        """The article id for a create/update token; polls with back-off while Zalo is still processing."""
        delays = list(self.verify_delays)
        while True:
            try:
                data = self._call("POST", "/v2.0/article/verify", body={"token": token}, progress=progress)
            except ZaloApiError as err:
                if err.code == -214:
                    if delays:
                        time.sleep(delays.pop(0))
                        continue
                    raise RetryLater(
                        f"{self.label}: Zalo vẫn đang xử lý bài; kiểm tra lại sau",
                        retry_after=60,
                        code="-214",
                        progress=progress,
                    ) from None
                if err.code == -201:
                    found = self._search(post) if post is not None else None
                    if found is not None:  # the token aged out, but the article is there
                        return str(found["id"])
                    raise Rejected(
                        f"{self.label}: Zalo không xử lý được bài ({err.code} {err.message})",
                        code=str(err.code),
                        progress=progress,
                    ) from None
                raise self._classified(err, progress) from None
            article_id = str(data.get("id") or "")
            if article_id:
                return article_id
            raise RetryLater(f"{self.label}: verify không trả về mã bài", retry_after=60, progress=progress)

    # -- broadcast bookkeeping (the audit log is the record: "sending" before the call, then the outcome)

def _parse_create_date(value: Any) -> datetime | date | None:
    """Zalo's create_date: epoch milliseconds or seconds (number or string), ISO, or dd/mm/yyyy."""
    if value is None or value == "":
        return None
    number = _int(value)
    if number is not None:
        seconds = number / 1000 if number > 10**11 else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.date() if fmt == "%d/%m/%Y" else parsed.replace(tzinfo=VN)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN)


def _not_before(created: datetime | date | None, start: datetime | None) -> bool:
    """Whether an article created at ``created`` may be this delivery's (not older than its window)."""
    if start is None or created is None:
        return start is None or created is None
    if isinstance(created, datetime):
        return created >= start
    return created >= start.astimezone(VN).date()
