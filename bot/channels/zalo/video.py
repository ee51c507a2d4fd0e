"""Zalo OA video articles (issue 18), and the link article when a video cannot be one.

Facts (sources at the top of :mod:`bot.video`): ``POST /v2.0/article/upload_video/preparevideo`` takes the
file (multipart ``file``, MP4/AVI, at most 50 MB) and answers a ``token``; ``GET
/v2.0/article/upload_video/verify?token=…`` answers ``status`` (1 ready, 3 processing; 2 locked, 4 failed,
5 deleted), ``convert_percent`` and, once ready, ``video_id``; ``article/create`` with ``type: video``,
``video_id`` and ``avatar`` (an image URL) makes the article, verified like a normal one.

A video over 50 MB, or one Zalo fails to convert, goes as a normal article instead: the cover is the
video's thumbnail (the post's first image) and the text links to the video on the media store. Both
choices are recorded in the delivery's progress (``zalo_video_token``, ``zalo_video_id``,
``zalo_video_link``), so a retry after a crash neither uploads twice nor changes its mind. "Still
processing" is a planned wait (``RetryLater(wait=True)``), never a failed attempt, for up to
:data:`PROCESSING_LIMIT`; after that the article links the video on the media store.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

import requests

from bot.channels import HoldChannel, Post, Rejected, RetryLater
from bot.channels.zalo.errors import ZaloApiError
from bot.video import ZALO_VIDEO_BYTES_MAX
from bot.vn import nfc

log = logging.getLogger(__name__)

PREPARE = "/v2.0/article/upload_video/preparevideo"
VERIFY = "/v2.0/article/upload_video/verify"
READY, PROCESSING = 1, 3
VERIFY_DELAYS = (1.0, 2.0, 4.0)  # polls inside one attempt before handing back a planned wait
PROCESSING_WAIT = 60.0
PROCESSING_LIMIT = 6 * 3600.0  # still converting after this: the article links the video instead


def _moment(ch: Any) -> float:
    """Now on the worker's clock (``tick --now`` and the demo move it), as a timestamp: upload-session
    ages and processing limits follow the same clock as every other decision about time."""
    ctx = getattr(ch, "ctx", None)
    return ctx.now().timestamp() if ctx is not None else time.time()


def is_video_article(post: Post) -> bool:
    """Whether this post is (or will be) a Zalo video article rather than a normal one."""
    video = post.attachments.get("video")
    if not video:
        return False
    progress = post.progress or {}
    if progress.get("zalo_video_link"):
        return False
    return int(video.get("bytes") or 0) <= ZALO_VIDEO_BYTES_MAX


def article_payload(ch: Any, post: Post, progress: dict[str, Any]) -> dict[str, Any]:
    """The article/create body of a video story: a video article, or a normal one linking to the video."""
    video = post.attachments["video"]
    path = Path(video["path"])
    if not path.is_file():
        raise RetryLater(f"{ch.label}: không tìm thấy video {path.name} để đăng", code="no-video")
    image_urls = ch._publish_images(post)
    if not image_urls:
        raise Rejected(f"{ch.label}: bài video cần một ảnh đại diện", code="no-image")
    if not progress.get("zalo_video_link") and path.stat().st_size <= ZALO_VIDEO_BYTES_MAX:
        video_id = progress.get("zalo_video_id") or _upload_and_verify(ch, path, progress)
        if video_id:
            return video_payload(ch, post, video_id, image_urls[0])
    if not progress.get("zalo_video_link"):
        progress["zalo_video_link"] = _publish_on_media_store(ch, path)
    payload = ch.article_payload(post, image_urls)
    link = html.escape(progress["zalo_video_link"], quote=True)
    payload["body"].insert(1, {"type": "text", "content": f'<p>▶ Xem video: <a href="{link}">{link}</a></p>'})
    return payload


def document_block(post: Post) -> str | None:
    """The link line of a guide's PDF in an article's last paragraph."""
    doc = post.attachments.get("document")
    if not doc:
        return None
    url = html.escape(doc["url"], quote=True)
    label = html.escape(f"📄 {doc['title']} ({doc['pages_text']})", quote=False)
    return f'{label}: <a href="{url}">{url}</a>'


def _upload_and_verify(ch: Any, path: Path, progress: dict[str, Any]) -> str | None:
    """The video id once Zalo has converted the file; None when Zalo refuses it (then: the link article)."""
    token = progress.get("zalo_video_token")
    if not token:
        data = _upload(ch, path, progress)
        token = str(data.get("token") or "")
        if not token:
            raise RetryLater(f"{ch.label}: Zalo không trả mã tải video", retry_after=60, code="no-token")
        progress["zalo_video_token"] = token
        progress["zalo_video_since"] = _moment(ch)
    delays = list(VERIFY_DELAYS)
    while True:
        try:
            data = ch._call("GET", VERIFY, params={"token": token}, progress=progress)
        except ZaloApiError as err:
            if err.code == -201:  # the token aged out: upload again
                progress.pop("zalo_video_token", None)
                raise RetryLater(f"{ch.label}: mã tải video hết hạn; sẽ tải lại", retry_after=5, code="video-token") from None
            raise ch._classified(err, progress) from None
        status = int(data.get("status") or 0)
        if status == READY and data.get("video_id"):
            progress["zalo_video_id"] = str(data["video_id"])
            progress.pop("zalo_video_token", None)
            return progress["zalo_video_id"]
        if status in (2, 4, 5):
            log.warning("%s: Zalo không xử lý được video (trạng thái %s: %s); đăng bài kèm đường dẫn video",
                        ch.label, status, data.get("status_message"))
            progress.pop("zalo_video_token", None)
            return None
        if _moment(ch) - float(progress.get("zalo_video_since") or _moment(ch)) > PROCESSING_LIMIT:
            log.warning("%s: Zalo xử lý video quá %g giờ; đăng bài kèm đường dẫn video", ch.label, PROCESSING_LIMIT / 3600)
            progress.pop("zalo_video_token", None)
            return None
        if not delays:
            raise RetryLater(f"{ch.label}: Zalo đang xử lý video ({int(data.get('convert_percent') or 0)}%); sẽ kiểm tra lại",
                             retry_after=PROCESSING_WAIT, wait=True, code="video-processing", progress=dict(progress))
        time.sleep(delays.pop(0))


def _upload(ch: Any, path: Path, progress: dict[str, Any]) -> dict[str, Any]:
    """The multipart upload (at most 50 MB, so requests' in-memory encoding stays bounded)."""
    token, _ = ch.tokens.access_token()
    try:
        with path.open("rb") as fh:
            resp = ch.session.post(ch.openapi_base + PREPARE, files={"file": (path.name, fh, "video/mp4")},
                                   headers={"access_token": token}, timeout=(ch.timeout[0], max(ch.timeout[1], 120.0)))
    except requests.RequestException as exc:
        # An upload is not a post: nothing visible exists until article/create.
        raise RetryLater(f"{ch.label}: lỗi mạng khi tải video ({type(exc).__name__})", retry_after=60, code="network",
                         progress=dict(progress)) from None
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise RetryLater(f"{ch.label}: tải video: HTTP {resp.status_code}", retry_after=120, code=str(resp.status_code))
    code = int(payload.get("error") or 0)
    if code != 0:
        raise ch._classified(ZaloApiError(code, str(payload.get("message") or ""), PREPARE), progress)
    data = payload.get("data")
    return data if isinstance(data, dict) else {}


def _publish_on_media_store(ch: Any, path: Path) -> str:
    from bot.media import MediaConfigError, MediaError, publish_file

    store = ch._media()
    try:
        return publish_file(store, path)
    except MediaConfigError as exc:
        raise HoldChannel(f"{ch.label}: {exc.message}", fix=exc.fix or "kiểm tra khối media:", code="media") from None
    except MediaError as exc:
        raise RetryLater(f"{ch.label}: {exc.message}", retry_after=300, code="media") from None


# -- corrections (issue 16 × 18): a video article is updated as a video article, on the video it already has


def video_payload(ch: Any, post: Post, video_id: str, avatar: str) -> dict[str, Any]:
    title = ch._title(post)
    paragraphs = [p.strip() for p in nfc(post.body or "").split("\n\n") if p.strip()]
    return {"type": "video", "title": title, "description": (paragraphs[0] if paragraphs else title)[:300],
            "video_id": video_id, "avatar": avatar, "status": "show", "comment": "show"}


def edit_payload(ch: Any, post_id: str, post: Post) -> dict[str, Any] | None:
    """The article/update body for a video article (its title, description and cover change; the video
    stays), or None when the article is a normal one (then the channel's own payload applies)."""
    try:
        data = ch._call("GET", "/v2.0/article/getdetail", params={"id": post_id})
    except ZaloApiError:
        return None  # the update itself reports a missing article
    if data.get("type") != "video" or not data.get("video_id"):
        return None
    image_urls = ch._publish_images(post)
    avatar = image_urls[0] if image_urls else str(data.get("avatar") or "")
    return {**video_payload(ch, post, str(data["video_id"]), avatar), "id": post_id}


def shows(ch: Any, data: dict[str, Any], post: Post) -> bool | None:
    """Whether a video article (getdetail's answer) already shows the post; None for a normal article."""
    if data.get("type") != "video":
        return None
    wanted = video_payload(ch, post, "", "")
    return (nfc(str(data.get("title") or "")).strip() == wanted["title"]
            and nfc(str(data.get("description") or "")).strip() == wanted["description"].strip())
