"""A story's video: probed and checked at load with ffprobe, a thumbnail frame cut with ffmpeg.

Why: a video is published long after ``check`` said the folder was fine, and a platform that refuses
it (a QuickTime file renamed .mp4, HEVC from a phone, a 3-minute clip sent as a Reel) does so only
after minutes of upload and processing. So the file is probed when the folder loads and refused with
the file, the line and the fix. Nothing here decodes or re-encodes video by hand: ``ffprobe`` reads
the container and streams, ``ffmpeg`` cuts one frame for the thumbnail (both from the system's
``ffmpeg`` package, installed by ``.ci/run``). Every call is bounded in time and in output.

Facts relied on (checked with the docs/issues search, November 2026):

* Page video: ``POST graph-video.facebook.com/{version}/{page-id}/videos`` with the resumable protocol,
  ``upload_phase=start`` (``file_size``) → ``video_id``, ``upload_session_id``, ``start_offset``,
  ``end_offset``; ``upload_phase=transfer`` (``upload_session_id``, ``start_offset``,
  ``video_file_chunk``) → next ``start_offset``/``end_offset`` (equal when done); ``upload_phase=finish``
  (``upload_session_id``, ``description``, ``title``, ``thumb``) → ``{"success": true}``. Then
  ``GET /{video-id}?fields=status`` until ``status.video_status`` is ``ready`` (``processing`` meanwhile,
  ``error`` on failure). Sources: developers.facebook.com/docs/video-api/guides/publishing,
  /docs/graph-api/reference/video-status (fields ``video_status``, ``uploading_phase``,
  ``processing_phase``, ``publishing_phase``), graph-api.md D1 (uploads go to graph-video).
* Reels: ``POST /{page-id}/video_reels`` ``upload_phase=start`` → ``video_id``, ``upload_url``; the bytes
  to ``rupload.facebook.com/video-upload/{version}/{video_id}`` with headers ``Authorization: OAuth …``,
  ``offset`` and ``file_size`` (required even where the docs omit them: trypostit/trypost PR #32);
  ``upload_phase=finish`` with ``video_id``, ``video_state=PUBLISHED``, ``description``. A vertical video
  sent to ``/videos`` instead stays a draft ("Your reel is ready — share it"; gitroomhq/postiz-app PR
  #1740), so a Reel always goes through ``/video_reels``. Rules: .mp4, 9:16, at least 540×960
  (1080×1920 recommended), 24–60 fps, 3–90 s, H.264/H.265; 30 API-published Reels per Page per 24 h.
  Source: developers.facebook.com/docs/video-api/guides/reels-publishing (and brightbeanxyz/brightbean-studio
  PR #162, which keeps Reel and Page video apart).
* Page video limits: MP4 recommended, up to 10 GB and 240 minutes, 16:9 to 9:16 (ayrshare media
  guidelines for Facebook Pages, which restate Meta's). The thumbnail should share the video's aspect.
* Zalo: ``POST /v2.0/article/upload_video/preparevideo`` (multipart ``file``) → ``token``; ``GET
  /v2.0/article/upload_video/verify?token=…`` → ``status`` (1 ready, 3 processing, 2/4/5 locked, failed,
  deleted), ``convert_percent``, ``video_id``; then ``article/create`` with ``type: video``, ``video_id``,
  ``avatar`` (an image URL). Video up to 50 MB, MP4 or AVI. Sources: ../shared/api-notes/zalo-oa-api.md
  §2.4 (zaloplatform/zalo-java-sdk ``CreateVideoArticle.java``), @warriorteam/redai-zalo-sdk docs.

What the bot therefore accepts: an ``.mp4`` (ISO base media, not QuickTime) with H.264 video and AAC
audio (or no audio), 1–14.400 s, at most :data:`VIDEO_BYTES_MAX`, aspect between 9:16 and 16:9; with
``reel: true`` also the Reel rules above.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.files import StampMemo
from bot.vn import so

FFPROBE_TIMEOUT = 20.0  # seconds; a probe of a sane file takes well under one
FFMPEG_TIMEOUT = 60.0  # one frame for the thumbnail
PROBE_OUTPUT_MAX = 256_000  # bytes of ffprobe's JSON read at most (a file with thousands of streams)
VIDEO_BYTES_MAX = 2_000_000_000  # the Reels limit; Page videos allow 10 GB, a campaign clip needs far less
ZALO_VIDEO_BYTES_MAX = 50_000_000  # Zalo's article videos; a larger file goes as a link on the media store
DURATION_MIN = 1.0
DURATION_MAX = 240 * 60.0
REEL_DURATION = (3.0, 90.0)
REEL_MIN_SIZE = (540, 960)
REEL_FPS = (24.0, 60.0)
ASPECT_MIN, ASPECT_MAX = 9 / 16, 16 / 9
ASPECT_TOLERANCE = 0.02  # 1080×1920 and 1088×1920 are both 9:16 to a person
VIDEO_CODECS = {"h264"}
AUDIO_CODECS = {"aac"}
# ffprobe names ISO-BMFF and QuickTime alike ("mov,mp4,…"); the major brand tells them apart.
QUICKTIME_BRANDS = {"qt"}

_RECODE = ("xuất lại video dạng MP4 với hình H.264 và tiếng AAC (trong phần mềm dựng chọn “MP4 (H.264)”, "
           "hoặc: ffmpeg -i vao.mov -c:v libx264 -c:a aac -movflags +faststart ra.mp4)")


@dataclass(frozen=True)
class VideoProblem:
    message: str
    fix: str
    # The machine lacks ffprobe/ffmpeg: the file was not judged. At load this is a warning, not an error, so
    # the README's demo runs on a fresh machine with only Python; the platforms then judge the file.
    unchecked: bool = False


@dataclass(frozen=True)
class VideoInfo:
    size: int
    duration: float
    width: int  # as displayed (rotation applied)
    height: int
    video_codec: str
    audio_codec: str | None
    fps: float
    brand: str

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    @property
    def orientation(self) -> str:
        """Zalo's ``cover_view``: horizontal, vertical or square."""
        if abs(self.aspect - 1) < 0.05:
            return "square"
        return "horizontal" if self.aspect > 1 else "vertical"


# Not remembered: "ffmpeg is missing" (it may be installed while `run` goes on).
_CHECKED: StampMemo[VideoInfo | VideoProblem] = StampMemo(
    lambda exc: VideoProblem(f"không đọc được video ({exc.strerror or type(exc).__name__})", "kiểm tra tên và quyền đọc tệp"),
    keep=lambda found: not (isinstance(found, VideoProblem) and found.unchecked))


def tool(name: str) -> str | None:
    """The path of ``ffprobe``/``ffmpeg`` (``CAMPAIGN_FFMPEG_DIR`` overrides the search path)."""
    folder = os.environ.get("CAMPAIGN_FFMPEG_DIR")
    if folder:
        candidate = Path(folder) / name
        return str(candidate) if candidate.is_file() else None
    return shutil.which(name)


def _missing(name: str) -> VideoProblem:
    return VideoProblem(f"máy này chưa có {name} để đọc video",
                        "cài gói ffmpeg của hệ điều hành (Debian/Ubuntu: sudo apt-get install ffmpeg)", unchecked=True)


def _run_bounded(cmd: list[str], timeout: float, limit: int) -> tuple[int | None, bytes]:
    """Run ``cmd``; its stdout (at most ``limit`` bytes) and exit code, None when killed for time or size."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read(limit + 1)
        if len(out) > limit:
            proc.kill()
            proc.wait()
            return None, b""
        proc.stdout.close()
        code = proc.wait()
    finally:
        timer.cancel()
    return (None if code < 0 else code), out


def check_video(path: Path, *, reel: bool = False) -> VideoInfo | VideoProblem:
    """What the video is, or why it cannot be published (as a Reel when ``reel``). Remembered per
    (path, size, mtime), so ``run`` (which reloads the folder every minute) probes each file once."""
    return _CHECKED.get(path, lambda p, size: _judge(p, size, reel), reel)


def _judge(path: Path, size: int, reel: bool) -> VideoInfo | VideoProblem:
    known = probe(path, size)
    if isinstance(known, VideoInfo):
        known = video_problem(known) or (reel_problem(known) if reel else None) or known
    return known


def probe(path: Path, size: int | None = None) -> VideoInfo | VideoProblem:
    """Read the container and streams with ffprobe (no decoding beyond what probing needs)."""
    size = path.stat().st_size if size is None else size
    if size == 0:
        return VideoProblem("tệp video rỗng (0 byte)", "chép lại tệp video từ máy quay/điện thoại; tệp có thể chưa tải xong")
    if size > VIDEO_BYTES_MAX:
        return VideoProblem(f"video quá lớn: {so(size / 1e6)} MB (tối đa {so(VIDEO_BYTES_MAX // 1_000_000)} MB)",
                            "cắt ngắn video hoặc xuất lại ở độ phân giải 1080p")
    ffprobe = tool("ffprobe")
    if ffprobe is None:
        return _missing("ffprobe")
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", str(path)]
    try:
        code, out = _run_bounded(cmd, FFPROBE_TIMEOUT, PROBE_OUTPUT_MAX)
    except OSError as exc:
        return VideoProblem(f"không chạy được ffprobe ({exc.strerror or type(exc).__name__})", _missing("ffprobe").fix,
                            unchecked=True)
    not_video = VideoProblem("tệp không phải video đọc được (hỏng, hoặc không phải MP4)",
                             "mở thử tệp bằng trình xem video; " + _RECODE)
    if code != 0:
        return not_video
    try:
        data = json.loads(out.decode("utf-8", "replace"))
    except ValueError:
        return not_video
    fmt = data.get("format") if isinstance(data, dict) else None
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(fmt, dict) or not isinstance(streams, list):
        return not_video
    video = next((s for s in streams if isinstance(s, dict) and s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if video is None:
        return VideoProblem("tệp không có hình (chỉ có tiếng, hoặc không phải video)", "chọn đúng tệp video MP4")
    audio = next((s for s in streams if isinstance(s, dict) and s.get("codec_type") == "audio"), None)
    names = str(fmt.get("format_name") or "").split(",")
    brand = str((fmt.get("tags") or {}).get("major_brand") or "").strip().lower()
    if "mp4" not in names:
        return VideoProblem(f"video không phải MP4 (định dạng {fmt.get('format_long_name') or fmt.get('format_name')})", _RECODE)
    width, height = _int(video.get("width")), _int(video.get("height"))
    if _rotation(video) in (90, 270):
        width, height = height, width
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    return VideoInfo(
        size=size,
        duration=duration,
        width=width,
        height=height,
        video_codec=str(video.get("codec_name") or "?"),
        audio_codec=str(audio.get("codec_name") or "?") if audio else None,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
        brand=brand,
    )


def video_problem(info: VideoInfo) -> VideoProblem | None:
    """Why a probed video cannot be a Page video or a Zalo article video."""
    if info.brand in QUICKTIME_BRANDS:
        return VideoProblem("video là tệp QuickTime (.mov) đổi đuôi thành .mp4", _RECODE)
    if info.video_codec not in VIDEO_CODECS:
        return VideoProblem(f"hình được nén bằng {info.video_codec.upper()}, Facebook và Zalo cần H.264", _RECODE)
    if info.audio_codec is not None and info.audio_codec not in AUDIO_CODECS:
        return VideoProblem(f"tiếng được nén bằng {info.audio_codec.upper()}, cần AAC", _RECODE)
    if not info.width or not info.height:
        return VideoProblem("không đọc được kích thước hình của video", _RECODE)
    if info.duration < DURATION_MIN:
        return VideoProblem(f"video quá ngắn ({so(info.duration, 1)} giây)", "dùng video dài ít nhất 1 giây")
    if info.duration > DURATION_MAX:
        return VideoProblem(f"video dài {so(info.duration / 60)} phút, quá {so(DURATION_MAX / 60)} phút Facebook cho phép",
                            "cắt video thành các phần ngắn hơn")
    if not (ASPECT_MIN * (1 - ASPECT_TOLERANCE) <= info.aspect <= ASPECT_MAX * (1 + ASPECT_TOLERANCE)):
        return VideoProblem(f"khung hình {info.width}×{info.height} quá dẹt (Facebook nhận từ 9:16 đến 16:9)",
                            "xuất lại video ở khung 16:9 (ngang), 1:1 (vuông) hoặc 9:16 (dọc)")
    return None


def reel_problem(info: VideoInfo) -> VideoProblem | None:
    """Why the video cannot be a Facebook Reel (the story says ``reel: true``)."""
    lo, hi = REEL_DURATION
    if info.duration > hi:
        return VideoProblem(f"video dài {so(info.duration, 1)} giây, quá dài cho Reel (tối đa {so(hi)} giây)",
                            f"cắt video còn dưới {so(hi)} giây, hoặc bỏ dòng 'reel: true' để đăng thành video thường")
    if info.duration < lo:
        return VideoProblem(f"video dài {so(info.duration, 1)} giây, quá ngắn cho Reel (ít nhất {so(lo)} giây)",
                            "dùng video dài hơn, hoặc bỏ dòng 'reel: true'")
    if abs(info.aspect - 9 / 16) > 9 / 16 * ASPECT_TOLERANCE:
        return VideoProblem(f"Reel cần khung dọc 9:16, video này {info.width}×{info.height}",
                            "quay/xuất lại video dọc 1080×1920, hoặc bỏ dòng 'reel: true' để đăng thành video thường")
    if info.width < REEL_MIN_SIZE[0] or info.height < REEL_MIN_SIZE[1]:
        return VideoProblem(f"Reel cần ít nhất 540×960 điểm ảnh, video này {info.width}×{info.height}",
                            "xuất lại video ở 1080×1920, hoặc bỏ dòng 'reel: true'")
    if info.fps and not (REEL_FPS[0] - 0.5 <= info.fps <= REEL_FPS[1] + 0.5):
        return VideoProblem(f"Reel cần 24–60 hình/giây, video này {so(info.fps, 1)}",
                            "xuất lại video ở 30 hình/giây, hoặc bỏ dòng 'reel: true'")
    return None


def thumbnail(video: Path, cache_dir: Path, at: float | None = None, duration: float | None = None) -> Path:
    """One frame of the video as a JPEG (for the Page video's thumbnail and Zalo's cover), cut by ffmpeg
    and kept in ``cache_dir`` under a name derived from the file and the moment. Raises VideoError."""
    st = video.stat()
    if at is None:
        at = min(1.0, (duration or 2.0) / 2)
    key = hashlib.sha256(f"{video.resolve()}:{st.st_size}:{st.st_mtime_ns}:{at:.3f}".encode()).hexdigest()[:24]
    target = cache_dir / f"frame-{key}.jpg"
    if target.is_file() and target.stat().st_size > 0:
        return target
    ffmpeg = tool("ffmpeg")
    if ffmpeg is None:
        raise VideoError(_missing("ffmpeg"))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".tmp-{key}-{os.getpid()}-{threading.get_ident()}.jpg"
    cmd = [ffmpeg, "-v", "error", "-nostdin", "-ss", f"{max(at, 0.0):.3f}", "-i", str(video), "-frames:v", "1",
           "-vf", "scale='min(1280,iw)':-2", "-q:v", "3", "-y", str(tmp)]
    try:
        code, _ = _run_bounded(cmd, FFMPEG_TIMEOUT, 64_000)
        if code != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            raise VideoError(VideoProblem(f"không cắt được hình đại diện từ video {video.name} ở giây {so(at, 1)}",
                                          "chọn video_frame nhỏ hơn độ dài video, hoặc xuất lại video"))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class VideoError(BotError):
    def __init__(self, problem: VideoProblem) -> None:
        super().__init__(f"{problem.message} — cách sửa: {problem.fix}")
        self.problem = problem


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            return int(abs(_float(side.get("rotation")))) % 360
    return int(abs(_float((stream.get("tags") or {}).get("rotate")))) % 360


def _rate(value: Any) -> float:
    try:
        r = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(r) if r > 0 else 0.0


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0.0
    return f if f == f and f not in (float("inf"), float("-inf")) else 0.0


# --- a story's attachments at load (called by bot.load._load_story) ---------------------------------


def story_attachments(front: Any, path: Path, workspace: Path, content_dir: Path,
                      located: Any) -> tuple[dict[str, Any], list[Any], list[str], list[Path]]:
    """Check ``video:``/``reel:``/``video_frame:``, ``document:`` and ``link:``/``link_post:`` of one story.

    Returns the attachments as a JSON-able dict (kept with the item in the store, offered to banners),
    the problems (file:line and fix, as :class:`bot.yamlfile.Problem`), the attached files' stamps
    (path:size:mtime), so that a video or a PDF replaced under the same name is a new version, and every
    file named (for bot.reload, which parses the story again when one of them changes)."""
    from bot.documents import DocumentInfo, banner_data, check_document
    from bot.links import link_problem

    out: dict[str, Any] = {}
    problems: list[Any] = []
    stamps: list[str] = []
    deps: list[Path] = []

    def target_of(key: str, value: str, suffix: str, what: str) -> Path | None:
        target = (path.parent / value).resolve()
        deps.append(target)
        if not target.is_relative_to(content_dir.resolve()):
            problems.append(located.problem((key,), f"{what} '{value}' nằm ngoài thư mục content/",
                                            f"đặt {what} trong content/ và ghi đường dẫn tương đối tới bài"))
        elif not target.is_file():
            problems.append(located.problem((key,), f"không tìm thấy {what} '{value}'",
                                            "kiểm tra tên tệp (phân biệt chữ hoa/thường) và đường dẫn tương đối tới bài"))
        elif target.suffix.lower() != suffix:
            problems.append(located.problem((key,), f"'{value}' không phải tệp {suffix}",
                                            f"dùng tệp {suffix}" + (" (" + _RECODE + ")" if suffix == ".mp4" else "")))
        else:
            st = target.stat()
            rel = target.relative_to(workspace.resolve()).as_posix()
            stamps.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
            return target
        return None

    video = getattr(front, "video", None)
    reel = bool(getattr(front, "reel", False))
    frame = getattr(front, "video_frame", None)
    if video:
        target = target_of("video", video, ".mp4", "video")
        if target is not None:
            got = check_video(target, reel=reel)
            if isinstance(got, VideoProblem) and got.unchecked:
                # Accepted unchecked: bot.load makes ``_video_unchecked`` a warning of `check` (keys starting
                # with "_" stay out of the store, so installing ffmpeg later changes no post).
                out.update(video=target.relative_to(workspace.resolve()).as_posix(), reel=reel, video_frame=frame,
                           video_bytes=target.stat().st_size,
                           _video_unchecked=[f"video '{video}' chưa được kiểm tra: {got.message}", got.fix])
            elif isinstance(got, VideoProblem):
                problems.append(located.problem(("reel",) if reel and _reel_only(target, got) else ("video",),
                                                f"video '{video}': {got.message}", got.fix))
            else:
                if frame is not None and frame >= got.duration:
                    problems.append(located.problem(("video_frame",), f"video_frame {so(frame, 1)} giây vượt quá độ dài video "
                                                    f"({so(got.duration, 1)} giây)", "ghi một thời điểm trong video, ví dụ 1.5"))
                # What the probe found (duration, orientation) is read again when posting (bot.posts, cached):
                # kept out of the store, it cannot make a story look changed.
                out.update(video=target.relative_to(workspace.resolve()).as_posix(), reel=reel,
                           video_frame=frame, video_bytes=got.size)
    elif reel:
        problems.append(located.problem(("reel",), "reel: true nhưng bài không có video", "thêm 'video: ten-tep.mp4' hoặc bỏ dòng reel"))
    elif frame is not None:
        problems.append(located.problem(("video_frame",), "video_frame nhưng bài không có video", "thêm 'video: ten-tep.mp4' hoặc bỏ dòng video_frame"))

    document = getattr(front, "document", None)
    if document:
        if video:
            problems.append(located.problem(("document",), "một bài chỉ đính kèm được video hoặc tài liệu, không cả hai",
                                            "tách thành hai bài: một bài video, một bài tài liệu"))
        target = target_of("document", document, ".pdf", "tài liệu")
        if target is not None:
            info = check_document(target)
            if isinstance(info, DocumentInfo):
                out.update(document=target.relative_to(workspace.resolve()).as_posix(), document_sha256=info.sha256,
                           document_bytes=info.size, **banner_data(info, front.title))
            else:
                problems.append(located.problem(("document",), f"tài liệu '{document}': {info.message}", info.fix))

    link = getattr(front, "link", None)
    if link:
        bad = link_problem(link)
        if bad is not None:
            problems.append(located.problem(("link",), f"link '{link[:80]}': {bad[0]}", bad[1]))
    if getattr(front, "link_post", False):
        if not link:
            problems.append(located.problem(("link_post",), "link_post: true nhưng bài không có link",
                                            "thêm 'link: https://…' hoặc bỏ dòng link_post"))
        elif video or document:
            problems.append(located.problem(("link_post",), "bài có video hoặc tài liệu không đăng thành bài liên kết được",
                                            "bỏ dòng link_post (đường dẫn vẫn được ghi trong bài)"))
        else:
            out["link_post"] = True
    return out, problems, stamps, deps


def _reel_only(target: Path, problem: VideoProblem) -> bool:
    """Whether the video is refused only because of the Reel rules (the error then points at ``reel:``)."""
    plain = check_video(target, reel=False)
    return isinstance(plain, VideoInfo)
