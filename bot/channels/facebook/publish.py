"""Facebook: publishing a post (text, one photo, or an album of unpublished photos), and duplicates."""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from pathlib import Path
from typing import Any

from bot.channels import ChannelError, Post, Published, Rejected, RetryLater
from bot.channels.facebook.http import MEDIA_REUSE_SECONDS, Usage, _mime, page_lock
from bot.channels.facebook.spec import DUPLICATE_KEYS

log = logging.getLogger("bot.channels.facebook")


class GraphPublish:
    """The publishing half of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def publish(self, post: Post) -> Published:
        message = unicodedata.normalize("NFC", post.text)
        if len(message) > self.body_maxlen:
            raise Rejected(f"Bài dài {len(message)} ký tự, quá giới hạn {self.body_maxlen} của Facebook.", code="too-long")
        images = [Path(p) for p in post.images]
        for image in images:
            if not image.is_file():
                # A local problem (banner not rendered yet, file moved): retried within the budget.
                raise RetryLater(f"Không tìm thấy ảnh {image.name} để đăng.", code="no-image")
        self._require_token()
        if post.attachments.get("document"):  # issue 18: the PDF must be online before the post links to it
            from bot.media import ensure_document

            ensure_document(self.ctx, post)
        with page_lock(self.page_id):
            try:
                if post.attachments.get("video"):  # issue 18: a Page video or a Reel (video.py)
                    published = self._publish_video(post, message)
                elif post.attachments.get("link_post"):  # issue 18: the link's preview card, no banner
                    published = self._publish_feed(message, post.link)
                elif len(images) == 1:
                    published = self._publish_photo(message, images[0])
                elif images:
                    published = self._publish_album(post, message, images)
                else:
                    published = self._publish_feed(message, post.link)
            except Rejected as exc:
                if exc.code not in DUPLICATE_KEYS:  # 506, and 368 "You've already posted this"
                    raise
                return self._resolve_duplicate(post, exc)
        log.info("%s: đã đăng %s (delivery %s)", self, published.post_id, post.delivery_id)
        return published

    def _published(self, post_id: str, usage: Usage, **extra: Any) -> Published:
        page, _, rest = post_id.partition("_")
        url = f"https://www.facebook.com/{page}/posts/{rest}" if rest else f"https://www.facebook.com/{post_id}"
        return Published(post_id=post_id, url=url, extra={**extra, **usage.advice()})

    def _publish_photo(self, message: str, image: Path) -> Published:
        with image.open("rb") as fh:
            answer = self._call(
                "POST",
                f"{self.page_id}/photos",
                data={"caption": message},  # `message` is deprecated on /photos (module header)
                files={"source": (image.name, fh, _mime(image))},
                creates=True,
            )
        body = answer.body if isinstance(answer.body, dict) else {}
        post_id = str(body.get("post_id") or body.get("id") or "")
        if not post_id:
            raise RetryLater("Facebook nhận ảnh nhưng không trả mã bài.", maybe_sent=True, code="no-id")
        return self._published(post_id, answer.usage, fb_photo_id=str(body.get("id") or ""))

    def _publish_feed(self, message: str, link: str | None, media: list[str] | None = None) -> Published:
        data: dict[str, Any] = {"message": message}
        if link and not media:
            data["link"] = link
        for i, media_id in enumerate(media or []):
            data[f"attached_media[{i}]"] = json.dumps({"media_fbid": media_id})
        answer = self._call("POST", f"{self.page_id}/feed", data=data, creates=True)
        body = answer.body if isinstance(answer.body, dict) else {}
        post_id = str(body.get("id") or "")
        if not post_id:
            raise RetryLater("Facebook nhận bài nhưng không trả mã bài.", maybe_sent=True, code="no-id")
        extra: dict[str, Any] = {"fb_media_ids": list(media)} if media else {}
        return self._published(post_id, answer.usage, **extra)

    def _publish_album(self, post: Post, message: str, images: list[Path]) -> Published:
        files = [str(p) for p in images]
        progress = post.progress or {}
        media: list[str] = []
        reused = False
        if (
            progress.get("fb_media_files") == files
            and len(progress.get("fb_media_ids") or []) <= len(files)
            and time.time() - float(progress.get("fb_media_uploaded_at") or 0) < MEDIA_REUSE_SECONDS
        ):
            media = [str(m) for m in progress.get("fb_media_ids") or []]
            reused = bool(media)
        uploaded_at = float(progress.get("fb_media_uploaded_at") or 0) if reused else time.time()

        def saved() -> dict[str, Any]:
            return {"fb_media_ids": list(media), "fb_media_files": files, "fb_media_uploaded_at": uploaded_at}

        try:
            for image in images[len(media):]:
                media.append(self._upload_unpublished(image))
            try:
                return self._publish_feed(message, None, media)
            except Rejected as exc:
                if not (reused and exc.code == "100"):
                    raise
                # Reused photo ids were refused (expired or already used): upload again, once.
                log.info("%s: ảnh tải lên trước không dùng lại được, tải lại", self)
                media, uploaded_at = [], time.time()
                for image in images:
                    media.append(self._upload_unpublished(image))
                return self._publish_feed(message, None, media)
        except ChannelError as exc:
            exc.progress = {**exc.progress, **saved()}
            raise

    def _upload_unpublished(self, image: Path) -> str:
        # An unpublished photo is not a post: a lost answer here cannot make a visible duplicate.
        with image.open("rb") as fh:
            answer = self._call(
                "POST",
                f"{self.page_id}/photos",
                data={"published": "false"},
                files={"source": (image.name, fh, _mime(image))},
                creates=False,
            )
        body = answer.body if isinstance(answer.body, dict) else {}
        if not body.get("id"):
            raise RetryLater("Facebook nhận ảnh nhưng không trả mã ảnh.", code="no-id")
        return str(body["id"])

    def _resolve_duplicate(self, post: Post, exc: Rejected) -> Published:
        try:
            found = self.find_existing(post)
        except ChannelError:
            raise RetryLater(
                f"{exc.message} Chưa kiểm tra được Trang; sẽ kiểm tra lại trước khi gửi.",
                maybe_sent=True, code=exc.code, progress=exc.progress,
            ) from None
        if found is None:
            raise Rejected(
                f"{exc.message} Trên Trang không có bài nào của lần gửi này: nội dung trùng với một bài đăng trước đó "
                "(có thể do người khác đăng). Sửa nội dung nếu vẫn muốn đăng.",
                code=exc.code,
            )
        log.info("%s: Facebook báo trùng, bài đã có trên Trang: %s", self, found.post_id)
        return Published(post_id=found.post_id, url=found.url, extra={**found.extra, "duplicate_resolved": True})

