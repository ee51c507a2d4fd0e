"""Facebook Page videos and Reels (issue 18): resumable upload, planned waits while Facebook processes.

The API facts, with their sources, are at the top of :mod:`bot.video`. In short:

* a Page video goes through ``/{page-id}/videos`` on graph-video in three phases (start, transfer in the
  chunks Facebook asks for, finish with the description and the thumbnail); a Reel through
  ``/{page-id}/video_reels`` (start, the bytes to rupload with ``offset``/``file_size`` headers, finish with
  ``video_state=PUBLISHED``) — never a vertical video through ``/videos``, which stays a draft;
* processing is asynchronous: ``GET /{video-id}?fields=status`` until ``video_status`` is ``ready``.

Never a second video on the Page: the upload session (video id, session id, next offset) travels in
``ChannelError.progress`` under ``fb_video``, so a retry resumes the same session (or starts a new
one when Facebook refuses it); a video exists on the Page only after ``finish``, which carries the post
text as its description, so after a crash :func:`find_existing_video` asks for the saved video id, else
searches the Page's videos (or Reels) for that description. "Still processing" is a planned wait
(``RetryLater(wait=True)``), never a failed attempt, up to :data:`PROCESSING_LIMIT`.

Memory: the file is never read whole. A transfer chunk is the size Facebook asks for (a few MB); a Reel's
bytes are streamed from the open file by requests.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError

from bot.channels import ChannelError, Post, Published, Rejected, RetryLater
from bot.channels.facebook.http import DEFAULT_BASE, _mime, normalize_text

log = logging.getLogger("bot.channels.facebook")

VIDEO_BASE = "https://graph-video.facebook.com"
RUPLOAD_BASE = "https://rupload.facebook.com"
POLL_INTERVAL = 2.0  # seconds between status reads inside one attempt
POLL_IN_ATTEMPT = 20.0  # how long one attempt waits for processing before handing back a planned wait
PROCESSING_WAIT = 120.0  # the planned wait between attempts while Facebook processes
PROCESSING_LIMIT = 6 * 3600.0  # after this, a video still not ready is reported as failed
SESSION_MAX_AGE = 6 * 3600.0  # an older upload session is not resumed: a new one is started
CHUNK_MAX = 64 * 1024 * 1024  # a transfer chunk larger than this is refused (a bounded read)
FIND_LIMIT = 50  # videos read back when searching the Page after a crash


def _moment(ch: Any) -> float:
    """Now on the worker's clock (``tick --now`` and the demo move it), as a timestamp: upload-session
    ages and processing limits follow the same clock as every other decision about time."""
    ctx = getattr(ch, "ctx", None)
    return ctx.now().timestamp() if ctx is not None else time.time()


def _bases(ch: Any) -> tuple[str, str]:
    """graph-video and rupload hosts; a test or proxy base (GRAPH_API_BASE) serves all three."""
    if ch.base != DEFAULT_BASE:
        return ch.base, ch.base
    return VIDEO_BASE, RUPLOAD_BASE


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def publish_video(ch: Any, post: Post, message: str) -> Published:
    """Publish the story's video on the Page (a Reel when the story says so); see the module doc."""
    video = post.attachments["video"]
    path = Path(video["path"])
    if not path.is_file():
        raise RetryLater(f"Không tìm thấy video {path.name} để đăng.", code="no-video")
    state: dict[str, Any] = dict((post.progress or {}).get("fb_video") or {})
    stamp = _stamp(path)
    if state and (state.get("file") != stamp or state.get("kind") != ("reel" if video["reel"] else "video")):
        state = {}  # the file (or reel:) changed since: the old session is not this post's
    try:
        if state.get("phase") != "finished":
            if video["reel"]:
                _upload_reel(ch, post, path, message, state, stamp)
            else:
                _upload_page_video(ch, post, path, message, state, stamp)
        return _await_ready(ch, state)
    except ChannelError as exc:
        exc.progress = {**exc.progress, "fb_video": dict(state)}
        raise


def _upload_page_video(ch: Any, post: Post, path: Path, message: str, state: dict[str, Any], stamp: str) -> None:
    video_base, _ = _bases(ch)
    url = f"{video_base}/{ch.version}/{ch.page_id}/videos"
    size = path.stat().st_size
    fresh = not (state.get("phase") == "uploading" and _moment(ch) - float(state.get("started_at") or 0) < SESSION_MAX_AGE)
    if not fresh:
        log.info("%s: tiếp tục tải video %s từ byte %s", ch, state.get("video_id"), state.get("start"))
    for _ in range(2):
        if fresh:
            body = _body(ch._call("POST", url=url, data={"upload_phase": "start", "file_size": str(size)}))
            state.clear()
            state.update(kind="video", file=stamp, phase="uploading", started_at=_moment(ch),
                         video_id=str(body.get("video_id") or ""), session=str(body.get("upload_session_id") or ""),
                         start=_offset(body.get("start_offset")), end=_offset(body.get("end_offset")))
            if not state["video_id"] or not state["session"]:
                raise RetryLater("Facebook không trả mã phiên tải video.", code="no-id")
        try:
            _transfer(ch, url, path, state)
            break
        except Rejected as exc:
            if fresh:
                raise
            log.info("%s: phiên tải cũ không dùng lại được (%s), tải lại từ đầu", ch, exc.code)
            fresh = True
    data = {"upload_phase": "finish", "upload_session_id": state["session"], "description": message,
            "title": post.title[:250], "published": "true"}
    thumb = Path(post.images[0]) if post.images else None
    if thumb is not None and thumb.is_file():
        with thumb.open("rb") as fh:
            answer = ch._call("POST", url=url, data=data, files={"thumb": (thumb.name, fh, _mime(thumb))}, creates=True)
    else:
        answer = ch._call("POST", url=url, data=data, creates=True)
    if not _body(answer).get("success", True):
        raise RetryLater("Facebook chưa nhận lệnh hoàn tất video.", maybe_sent=True, code="video-finish")
    state.update(phase="finished", finished_at=_moment(ch))


def _transfer(ch: Any, url: str, path: Path, state: dict[str, Any]) -> None:
    """Send the chunks Facebook asks for (``start_offset``..``end_offset``) until both are equal."""
    with path.open("rb") as fh:
        while state["start"] < state["end"]:
            length = state["end"] - state["start"]
            if length > CHUNK_MAX:
                length = CHUNK_MAX
            fh.seek(state["start"])
            chunk = fh.read(length)
            body = _body(ch._call("POST", url=url, data={"upload_phase": "transfer", "upload_session_id": state["session"],
                                                         "start_offset": str(state["start"])},
                                  files={"video_file_chunk": ("chunk", chunk, "application/octet-stream")}))
            del chunk
            start, end = _offset(body.get("start_offset")), _offset(body.get("end_offset"))
            if start <= state["start"] and start != end:
                raise RetryLater("Facebook không nhận thêm phần video nào.", code="video-stall")
            state["start"], state["end"] = start, end


def _upload_reel(ch: Any, post: Post, path: Path, message: str, state: dict[str, Any], stamp: str) -> None:
    url = ch._url(f"{ch.page_id}/video_reels")
    size = path.stat().st_size
    if not (state.get("phase") == "uploading" and _moment(ch) - float(state.get("started_at") or 0) < SESSION_MAX_AGE):
        body = _body(ch._call("POST", url=url, data={"upload_phase": "start"}))
        state.clear()
        state.update(kind="reel", file=stamp, phase="uploading", started_at=_moment(ch),
                     video_id=str(body.get("video_id") or ""), offset=0)
        if not state["video_id"]:
            raise RetryLater("Facebook không trả mã Reel.", code="no-id")
    else:
        state["offset"] = _reel_offset(ch, state["video_id"])  # what reached Facebook before the break
    if state["offset"] < size:
        _rupload(ch, path, state, size)
    answer = ch._call("POST", url=url, data={"upload_phase": "finish", "video_id": state["video_id"],
                                             "video_state": "PUBLISHED", "description": message}, creates=True)
    if not _body(answer).get("success", True):
        raise RetryLater("Facebook chưa nhận lệnh đăng Reel.", maybe_sent=True, code="video-finish")
    state.update(phase="finished", finished_at=_moment(ch))


def _rupload(ch: Any, path: Path, state: dict[str, Any], size: int) -> None:
    """The Reel's bytes from ``state['offset']``, streamed from the file (never read whole)."""
    _, rupload_base = _bases(ch)
    url = f"{rupload_base}/video-upload/{ch.version}/{state['video_id']}"
    token = ch._require_token()
    headers = {"Authorization": f"OAuth {token}", "offset": str(state["offset"]), "file_size": str(size),
               "Content-Type": "application/octet-stream", "Content-Length": str(size - state["offset"])}
    with path.open("rb") as fh:
        fh.seek(state["offset"])
        try:  # urllib3 sends a file body in blocks as it reads it
            resp = ch.pool.request("POST", url, body=fh, headers=headers, retries=False, redirect=False, chunked=False,
                                   timeout=urllib3.Timeout(connect=ch.timeout[0], read=max(ch.timeout[1], 120.0)))
        except (HTTPError, OSError) as exc:
            raise RetryLater(f"Mất kết nối khi tải Reel lên Facebook ({type(exc).__name__}).", code="rupload") from None
    try:
        body = json.loads(resp.data) if resp.data else None
    except ValueError:
        body = None
    if resp.status != 200 or (isinstance(body, dict) and "error" in body):
        raise ch._classify(resp.status, body, resp.headers, creates=False, need="pages_manage_posts")
    state["offset"] = size


def _reel_offset(ch: Any, video_id: str) -> int:
    status = _status(ch, video_id) or {}
    uploading = status.get("uploading_phase") if isinstance(status.get("uploading_phase"), dict) else {}
    return _offset(uploading.get("bytes_transferred"))


def _status(ch: Any, video_id: str) -> dict[str, Any] | None:
    """The video's ``status`` node; None when Facebook says the video does not exist."""
    try:
        body = _body(ch._call("GET", url=ch._url(video_id), params={"fields": "status,description"},
                              need="pages_read_engagement"))
    except Rejected as exc:
        if ch._gone(exc):  # #100/33 "does not exist"; any other refusal is not taken for a missing video
            return None
        raise
    status = body.get("status")
    return status if isinstance(status, dict) else {}


def _await_ready(ch: Any, state: dict[str, Any]) -> Published:
    """Poll the status a little; a video still processing is a planned wait, not a failure."""
    deadline = time.monotonic() + POLL_IN_ATTEMPT
    while True:
        status = _status(ch, state["video_id"])
        if status is None:
            state.clear()  # gone (deleted on the Page, or expired): the next attempt uploads again
            raise RetryLater("Video vừa tải lên không còn trên Facebook; sẽ tải lại.", code="video-gone")
        video_status = str(status.get("video_status") or "")
        if video_status == "ready":
            return _published(ch, state)
        if video_status == "error":
            phase = status.get("processing_phase") if isinstance(status.get("processing_phase"), dict) else {}
            err = phase.get("error") if isinstance(phase.get("error"), dict) else {}
            raise Rejected(f"Facebook không xử lý được video: {err.get('message') or 'lỗi xử lý'}. "
                           "Xuất lại video (MP4 H.264/AAC) rồi đăng lại.", code="video-error")
        if _moment(ch) - float(state.get("finished_at") or _moment(ch)) > PROCESSING_LIMIT:
            raise Rejected(f"Facebook xử lý video quá {PROCESSING_LIMIT / 3600:g} giờ chưa xong.", code="video-timeout")
        if time.monotonic() >= deadline:
            raise RetryLater("Facebook đang xử lý video; sẽ kiểm tra lại.", wait=True, retry_after=PROCESSING_WAIT,
                             code="video-processing", progress={"fb_video": dict(state)})
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))


def _published(ch: Any, state: dict[str, Any]) -> Published:
    vid = state["video_id"]
    url = f"https://www.facebook.com/reel/{vid}" if state.get("kind") == "reel" else \
        f"https://www.facebook.com/{ch.page_id}/videos/{vid}"
    return Published(post_id=vid, url=url, extra={"fb_video_id": vid, "fb_video_kind": state.get("kind")})


def find_existing_video(ch: Any, post: Post) -> Published | None:
    """After a crash or an unclear answer: the video of this post if it is on the Page.

    By the saved video id first; else (killed before anything was saved) among the Page's recent videos
    or Reels, by the post text as description. A video found still processing is a planned wait."""
    state: dict[str, Any] = dict((post.progress or {}).get("fb_video") or {})
    if state.get("video_id"):
        status = _status(ch, state["video_id"])
        if status is None or str(status.get("video_status") or "") not in ("ready", "processing", "error"):
            return None  # not published (upload unfinished): publish() resumes or restarts the session
        if state.get("phase") != "finished":
            state.update(phase="finished", finished_at=_moment(ch))
        return _await_ready(ch, state)
    reel = bool(post.attachments["video"]["reel"])
    wanted = normalize_text(post.text)
    body = _body(ch._call("GET", url=ch._url(f"{ch.page_id}/{'video_reels' if reel else 'videos'}"),
                          params={"fields": "id,description,created_time,status", "limit": FIND_LIMIT},
                          need="pages_read_engagement"))
    for item in body.get("data") or []:
        if isinstance(item, dict) and item.get("id") and normalize_text(item.get("description")) == wanted:
            found = {"kind": "reel" if reel else "video", "video_id": str(item["id"]), "phase": "finished",
                     "finished_at": _moment(ch), "file": _stamp(Path(post.attachments["video"]["path"]))}
            log.info("%s: video của lần gửi %s đã có trên Trang: %s", ch, post.delivery_id, found["video_id"])
            return _await_ready(ch, found)
    return None


def _body(answer: Any) -> dict[str, Any]:
    return answer.body if isinstance(answer.body, dict) else {}


def _offset(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


class GraphVideo:
    """The video half of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def _publish_video(self, post: Post, message: str) -> Published:
        return publish_video(self, post, message)

    def _find_existing_video(self, post: Post) -> Published | None:
        return find_existing_video(self, post)
