"""Video endpoints of the fake Zalo OA API (issue 18), hooked into tests/fakes/zalo_server.py.

``POST /v2.0/article/upload_video/preparevideo`` (multipart ``file``; MP4 only, at most 50 MB) → ``token``;
``GET /v2.0/article/upload_video/verify?token=`` → ``status`` 3 (processing, ``convert_percent``) for the first
``processing_calls`` verifies, then 1 with ``video_id`` — or ``fail_status`` (2 locked, 4 failed); an unknown
token → -201. ``article/create`` with ``type: video`` needs a ready ``video_id`` of the same OA and an
``avatar`` image URL that answers. The fake keeps each upload's size and SHA-256, not its bytes.
Steering: :func:`configure`; inspection: :func:`uploads`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

MAX_VIDEO = 50 * 1024 * 1024


@dataclass
class ZaloVideo:
    token: str
    oa_id: str
    size: int
    sha256: str
    video_id: str
    verify_calls: int = 0


def _state(fake: Any) -> dict[str, Any]:
    with fake.lock:
        if not hasattr(fake, "_video_state"):
            fake._video_state = {"uploads": {}, "processing_calls": 1, "fail_status": None}
        return fake._video_state


def configure(fake: Any, *, processing_calls: int | None = None, fail_status: int | None = None) -> None:
    state = _state(fake)
    if processing_calls is not None:
        state["processing_calls"] = processing_calls
    state["fail_status"] = fail_status


def uploads(fake: Any, oa_id: str | None = None) -> list[ZaloVideo]:
    with fake.lock:
        return [v for v in _state(fake)["uploads"].values() if oa_id is None or v.oa_id == oa_id]


def routes(fake: Any) -> dict[tuple[str, str], Any]:
    return {("POST", "/v2.0/article/upload_video/preparevideo"): lambda *a: _prepare(fake, *a),
            ("GET", "/v2.0/article/upload_video/verify"): lambda *a: _verify(fake, *a)}


def _prepare(fake: Any, oa: Any, query: Any, headers: dict[str, str], body: bytes) -> Any:
    ctype = headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return fake._err(-201, "file is invalid!")
    msg = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True) or b""
            if len(data) > MAX_VIDEO:
                return fake._err(-210)
            if data[4:8] != b"ftyp":
                return fake._err(-201, "file is invalid!")
            video = ZaloVideo(fake._new_id("vtok_"), oa.oa_id, len(data), hashlib.sha256(data).hexdigest(),
                              fake._new_id("vid_"))
            with fake.lock:
                _state(fake)["uploads"][video.token] = video
            return fake._ok({"token": video.token})
    return fake._err(-201, "file is invalid!")


def _verify(fake: Any, oa: Any, query: dict[str, list[str]], headers: Any, body: bytes) -> Any:
    state = _state(fake)
    with fake.lock:
        video = state["uploads"].get((query.get("token") or [""])[0])
        if video is None or video.oa_id != oa.oa_id:
            return fake._err(-201, "token is invalid!")
        video.verify_calls += 1
        info = {"video_name": "video.mp4", "video_size": video.size}
        if state["fail_status"] is not None:
            return fake._ok({**info, "status": state["fail_status"], "status_message": "failed", "convert_percent": 0})
        if video.verify_calls <= state["processing_calls"]:
            return fake._ok({**info, "status": 3, "status_message": "processing", "convert_percent": 40})
        return fake._ok({**info, "status": 1, "status_message": "ok", "convert_percent": 100, "video_id": video.video_id})


def validate(fake: Any, d: dict[str, Any]) -> None:
    """A video article's ``video_id`` (ready, of a known upload) and ``avatar`` (an image that answers)."""
    state = _state(fake)
    with fake.lock:
        ready = {v.video_id for v in state["uploads"].values()
                 if v.verify_calls > state["processing_calls"] and state["fail_status"] is None}
    if d.get("video_id") not in ready:
        raise fake._err(-201, "video_id is invalid!")
    fake._fetch_image(d.get("avatar"), "avatar")
