"""Video endpoints of the fake Graph API (issue 18), hooked into tests/fakes/graph_server.py.

What a video-publishing client meets (facts and sources at the top of bot/video.py):

* ``POST /{page}/videos`` ``upload_phase=start`` (``file_size``) → ``video_id``, ``upload_session_id``,
  ``start_offset``, ``end_offset``; ``transfer`` (``upload_session_id``, ``start_offset``, multipart
  ``video_file_chunk``) → the next offsets, equal when all bytes arrived; a ``start_offset`` other than
  what the session holds is refused; ``finish`` (``description``, ``title``, ``thumb``) → ``success``;
* ``POST /{page}/video_reels`` ``upload_phase=start`` → ``video_id``, ``upload_url``; the bytes to
  ``POST /video-upload/{version}/{video_id}`` with ``Authorization: OAuth``, ``offset`` and ``file_size``
  headers; ``finish`` with ``video_state=PUBLISHED`` and ``description``;
* ``POST /{video-id}`` (``description``) updates the text, ``DELETE /{video-id}`` removes it (then #100/33);
* ``GET /{video-id}?fields=status`` → ``video_status`` (``uploading``, ``processing``, ``ready``, ``error``),
  ``uploading_phase.bytes_transferred``; ``GET /{page}/videos`` and ``/{page}/video_reels`` list the
  finished ones (``id``, ``description``, ``created_time``, ``status``).

A finished video is also a post of the Page (kind ``video``/``reel``, its description as the message), so
the counts of :meth:`GraphFake.posts_for` include it. The fake keeps each upload's size and SHA-256, never
its bytes, so a 200 MB upload costs it no memory. Steering (per fake): :func:`configure` (chunk size,
processing delay, processing failure); inspection: :func:`videos`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.graph_server import GraphError, Upload


def _err(*args: Any, **kwargs: Any) -> GraphError:
    """graph_server imports this module: its classes are taken when first needed."""
    from tests.fakes.graph_server import GraphError

    return GraphError(*args, **kwargs)

VIDEO_ENDPOINTS = {"videos", "video_reels", "rupload", "page_videos", "page_reels", "video_object"}
MP4_HEAD = b"ftyp"


@dataclass
class VideoRecord:
    id: str
    page_id: str
    kind: str  # video | reel
    size: int
    session: str
    received: int = 0
    sha: Any = field(default_factory=hashlib.sha256)
    head: bytes = b""
    phase: str = "uploading"  # uploading | processing | ready | error | deleted
    description: str = ""
    title: str = ""
    thumb: bytes | None = None
    created_time: float = field(default_factory=time.time)
    ready_at: float = 0.0
    chunks: int = 0

    @property
    def digest(self) -> str:
        return self.sha.hexdigest()


@dataclass
class Settings:
    chunk: int = 4 * 1024 * 1024
    processing: float = 0.2  # seconds from finish to ready
    fail_processing: bool = False


def _state(graph: Any) -> tuple[dict[str, VideoRecord], Settings]:
    with graph._lock:
        if not hasattr(graph, "_videos"):
            graph._videos = {}
            graph._video_settings = Settings()
        return graph._videos, graph._video_settings


def configure(graph: Any, **settings: Any) -> None:
    """``chunk`` (bytes per transfer), ``processing`` (seconds until ready), ``fail_processing``."""
    _, current = _state(graph)
    for key, value in settings.items():
        setattr(current, key, value)


def videos(graph: Any, page_id: str | None = None) -> list[VideoRecord]:
    records, _ = _state(graph)
    with graph._lock:
        return [v for v in records.values() if page_id is None or v.page_id == page_id]


def route(method: str, seg: list[str]) -> tuple[str, str | None] | None:
    """The video endpoint of a path, or None (the caller's other routes apply)."""
    if len(seg) == 2 and seg[1] in ("videos", "video_reels"):
        if method == "POST":
            return seg[1], seg[0]
        if method == "GET":
            return ("page_videos" if seg[1] == "videos" else "page_reels"), seg[0]
    if len(seg) == 3 and seg[0] == "video-upload" and method == "POST":
        return "rupload", None
    return None


def is_video(graph: Any, object_id: str) -> bool:
    records, _ = _state(graph)
    with graph._lock:
        return object_id in records


def raw_body(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A rupload request: its headers as fields, its body as the one file."""
    from tests.fakes.graph_server import Upload

    form = {"offset": headers.get("offset", ""), "file_size": headers.get("file_size", "")}
    return form, {"__raw__": Upload(None, headers.get("content-type"), body)}


def execute(graph: Any, method: str, endpoint: str, seg: list[str], info: Any, form: dict[str, str],
            files: dict[str, Upload], query: dict[str, str]) -> Any:
    records, settings = _state(graph)
    if endpoint == "object":
        record = records[seg[0]]
        if record.phase == "deleted":
            raise _err(100, f"Unsupported {method.lower()} request. Object with ID '{record.id}' does not exist",
                       subcode=33, type_="GraphMethodException")
        graph._need_page(info, record.page_id, "pages_read_engagement" if method == "GET" else "pages_manage_posts")
        if method == "POST":  # update: a video's text is its description
            if "description" not in form:
                raise _err(100, "(#100) fake Graph: a video is updated through 'description'")
            with graph._lock:
                record.description = form["description"]
                post = graph._posts_by_id.get(record.id)
                if post is not None:
                    post.messages = post.messages or [post.message]
                    post.message = form["description"]
                    post.messages.append(post.message)
                graph.edits.append((record.id, form["description"]))
            return {"success": True}
        if method == "DELETE":
            with graph._lock:
                record.phase = "deleted"
                post = graph._posts_by_id.pop(record.id, None)
                if post is not None:
                    graph._posts.remove(post)
                    graph.deleted.append(post)
            return {"success": True}
        return _status(graph, record, query, method)
    if endpoint in ("page_videos", "page_reels"):
        graph._need_page(info, seg[0], "pages_read_engagement")
        kind = "video" if endpoint == "page_videos" else "reel"
        with graph._lock:
            found = sorted((v for v in records.values() if v.page_id == seg[0] and v.kind == kind
                            and v.phase not in ("uploading", "deleted")),
                           key=lambda v: v.created_time, reverse=True)
        limit = max(1, min(100, int(query.get("limit") or 25)))
        return {"data": [{"id": v.id, "description": v.description, "created_time": _graph_time(v.created_time),
                          "status": _status_node(v)} for v in found[:limit]]}
    if endpoint == "rupload":
        return _rupload(graph, seg[2], info, form, files)
    page_id = seg[0]
    graph._need_page(info, page_id, "pages_manage_posts")
    phase = form.get("upload_phase", "")
    if endpoint == "videos":
        if phase == "start":
            size = int(form.get("file_size") or 0)
            if size <= 0:
                raise _err(100, "(#100) file_size must be a positive integer")
            record = VideoRecord(graph._new_id(), page_id, "video", size, graph._new_id())
            with graph._lock:
                records[record.id] = record
            return {"video_id": record.id, "upload_session_id": record.session, "start_offset": "0",
                    "end_offset": str(min(settings.chunk, size))}
        record = _by_session(graph, form.get("upload_session_id", ""), page_id)
        if phase == "transfer":
            chunk = files.get("video_file_chunk")
            if chunk is None:
                raise _err(100, "(#100) video_file_chunk is required")
            if int(form.get("start_offset") or -1) != record.received:
                raise _err(100, f"(#100) start_offset must be {record.received}", subcode=1363037)
            _take(record, chunk.data)
            return {"start_offset": str(record.received), "end_offset": str(min(record.received + settings.chunk, record.size))}
        if phase == "finish":
            thumb = files.get("thumb")
            return _finish(graph, record, form.get("description", ""), form.get("title", ""),
                           thumb.data if thumb else None)
        raise _err(100, "(#100) upload_phase must be start, transfer or finish")
    if phase == "start":
        record = VideoRecord(graph._new_id(), page_id, "reel", 0, "")
        with graph._lock:
            records[record.id] = record
        return {"video_id": record.id, "upload_url": f"{graph.base_url}/video-upload/v24.0/{record.id}"}
    if phase == "finish":
        record = records.get(form.get("video_id", ""))
        if record is None or record.page_id != page_id or record.kind != "reel":
            raise _err(100, "(#100) Invalid video_id")
        if form.get("video_state") != "PUBLISHED":
            raise _err(100, "(#100) fake Graph: only video_state=PUBLISHED is simulated (a draft is not a post)")
        return _finish(graph, record, form.get("description", ""), "", None)
    raise _err(100, "(#100) upload_phase must be start or finish")


def _by_session(graph: Any, session: str, page_id: str) -> VideoRecord:
    records, _ = _state(graph)
    with graph._lock:
        for record in records.values():
            if record.session == session and record.page_id == page_id:
                if record.phase != "uploading":
                    raise _err(100, "(#100) This upload session is already finished")
                return record
    raise _err(100, "(#100) Invalid upload_session_id", subcode=1363019)


def _take(record: VideoRecord, data: bytes) -> None:
    if record.received + len(data) > record.size:
        raise _err(100, "(#100) More bytes than file_size")
    if not record.head:
        record.head = data[:16]
    record.sha.update(data)
    record.received += len(data)
    record.chunks += 1


def _rupload(graph: Any, video_id: str, info: Any, form: dict[str, str], files: dict[str, Upload]) -> Any:
    records, _ = _state(graph)
    record = records.get(video_id)
    if record is None or record.kind != "reel":
        raise _err(100, "(#100) Invalid video id")
    graph._need_page(info, record.page_id, "pages_manage_posts")
    try:
        offset, size = int(form["offset"]), int(form["file_size"])
    except (KeyError, ValueError):
        raise _err(100, "HeaderValuePredicate: Header Offset not convertable to unsigned long") from None
    if offset != record.received:
        raise _err(100, f"(#100) offset must be {record.received}")
    record.size = size
    _take(record, files["__raw__"].data)
    return {"success": True}


def _finish(graph: Any, record: VideoRecord, description: str, title: str, thumb: bytes | None) -> Any:
    _, settings = _state(graph)
    if record.received != record.size or record.size == 0:
        raise _err(100, f"(#100) The video upload is incomplete ({record.received}/{record.size} bytes)")
    if MP4_HEAD not in record.head:
        raise _err(352, "(#352) Sorry, the video file you selected is in a format that we don't support.")
    from tests.fakes.graph_server import PostRecord

    now = time.time()
    with graph._lock:
        record.phase = "error" if settings.fail_processing else "processing"
        record.description, record.title, record.thumb = description, title, thumb
        record.created_time, record.ready_at = now, now + settings.processing
        post = PostRecord(record.id, record.page_id, record.kind, description, now)
        graph._posts.append(post)
        graph._posts_by_id[record.id] = post
    return {"success": True}


def _status_node(record: VideoRecord) -> dict[str, Any]:
    if record.phase == "processing" and time.time() >= record.ready_at:
        record.phase = "ready"
    node: dict[str, Any] = {
        "video_status": record.phase,
        "uploading_phase": {"status": "complete" if record.phase != "uploading" else "in_progress",
                            "bytes_transferred": record.received},
        "processing_phase": {"status": {"ready": "complete", "error": "error"}.get(record.phase, "not_started")},
        "publishing_phase": {"status": "complete" if record.phase == "ready" else "not_started"},
    }
    if record.phase == "error":
        node["processing_phase"]["error"] = {"message": "The video could not be processed (fake)"}
    return node


def _status(graph: Any, record: VideoRecord, query: dict[str, str], method: str) -> Any:
    if method != "GET":
        raise _err(100, "(#100) fake Graph: only reading a video is simulated")
    node: dict[str, Any] = {"id": record.id, "status": _status_node(record)}
    if record.description:
        node["description"] = record.description
    wanted = {f.strip() for f in (query.get("fields") or "id").split(",")} | {"id"}
    return {k: v for k, v in node.items() if k in wanted}


def _graph_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))
