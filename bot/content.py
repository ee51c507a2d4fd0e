"""Stories: the ``content/**/*.md`` files, their YAML front matter and their photos.

Split out of bot.load (issue 14). :func:`load_story` reads one story file and returns the story or
the problems of that file alone (file, line, fix); the checks that need other files (does the unit
exist, the banner template) stay in bot.load. Parsing here never imports Pillow: whether a photo
opens is asked of the ``image_problem`` function the loader passes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field

from bot import bounds as B
from bot.config import KINDS, Platforms, Strict, all_platforms
from bot.vn import nfc
from bot.yamlfile import Located, Problem, model_fields_vocabulary, parse_yaml, validate

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
# An image the loader cannot use: (message, fix), or None when it is fine (see bot.images.check_image).
ImageCheck = Callable[[Path], "tuple[str, str | None] | None"]


class StoryFront(Strict):
    title: B.Title
    kind: Literal[KINDS]  # type: ignore[valid-type]
    unit: B.Id
    audience: Literal["own", "cascade", "all"] | list[str] = "own"
    platforms: Platforms = Field(default_factory=all_platforms)
    approved: bool = False
    approved_by: B.OptShortText = None
    approved_at: B.Moment = None
    not_before: B.Moment = None
    expires: B.Moment = None
    priority: B.Priority = 0
    image: B.OptRelPath = None
    images: Annotated[list[str], *B.short_list(10, B.PATH_MAX, "danh sách ảnh")] = Field(default_factory=list)
    banner: B.OptId = None
    link: Annotated[str, Field(pattern=r"^https?://\S+$"), B.max_len(B.URL_MAX, "địa chỉ")] | None = None
    tags: Annotated[list[str], *B.short_list(B.LIST_MAX, B.TAG_MAX, "thẻ")] = Field(default_factory=list)
    summary: B.Summary = None
    withdrawn: B.OptShortText = None  # issue 16: the reason; the item is removed everywhere and never planned again
    # issue 18: a video (a Reel when reel: true; video_frame: the thumbnail's second), a guide's PDF, a link post
    video: B.OptRelPath = None
    reel: bool = False
    video_frame: Annotated[float, Field(ge=0, le=14_400)] | None = None
    document: B.OptRelPath = None
    link_post: bool = False


@dataclass
class Story:
    id: str
    front: StoryFront
    body: str
    source: str  # relative path of the .md file
    images: list[str]  # workspace-relative paths of photos
    content_hash: str
    located: Located
    attachments: dict[str, Any] = field(default_factory=dict)  # issue 18: video, document, link post (bot.video)


STORY_VOCAB = model_fields_vocabulary(StoryFront)


def _split_front_matter(text: str, rel: str) -> tuple[str, str, list[Problem]]:
    if not text.startswith("---"):
        return "", text, [
            Problem(rel, 1, None, "thiếu phần khai báo đầu bài (front matter)",
                    "bắt đầu tệp bằng dòng '---', các khóa title/kind/unit…, rồi một dòng '---'")
        ]
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]).strip() + "\n", []
    return "", "", [Problem(rel, 1, None, "phần khai báo đầu bài không có dòng '---' đóng", "thêm một dòng '---' sau các khóa")]


# (folder, the suffix that is read, the suffixes that belong there without being read)
READ_SUFFIXES = (("content", ".md", IMAGE_SUFFIXES | {".mp4", ".pdf"}), ("schedules", ".yaml", set()), ("banners", ".yaml", set()))


def skipped_files(workspace: Path, scan: Any = None) -> list[Problem]:
    """Files that look like campaign files but are not read (a story saved as ``.MD`` or ``.txt``, a
    schedule as ``.yml``): a warning each, so nothing is ignored without a word. ``scan``: the folder's
    listing already taken (a :class:`bot.reload.Scan`), instead of listing it again."""
    if scan is None:
        from bot.reload import Scan

        scan = Scan.take(workspace)
    warnings: list[Problem] = []
    for folder, suffix, also in READ_SUFFIXES:
        for rel in scan.names(folder, recursive=folder == "content"):
            if rel.endswith(suffix) or rel.lower().endswith(tuple(also)):
                continue  # (a quick look first: most files are stories and photos)
            path = PurePosixPath(rel)
            if path.suffix == suffix or path.suffix.lower() in also:
                continue
            fix = f"đổi tên tệp thành {path.stem}{suffix}" if path.suffix.lower() in {".md", ".markdown", ".txt", ".yml", ".yaml"} \
                else f"tệp này không được đọc; bài viết phải là tệp {suffix}"
            if folder == "content" and path.suffix.lower() == ".txt":
                fix += " và thêm phần khai báo đầu bài (xem `campaign-bot new story`)"
            warnings.append(Problem(rel, None, None, f"tệp bị bỏ qua: đuôi '{path.suffix or '(không có)'}' không phải '{suffix}'", fix))
    return warnings


def read_text(raw: bytes) -> str:
    """A story's bytes as the loader reads them: UTF-8, NFC, no BOM (Notepad's "UTF-8 with BOM" would
    hide the opening '---'), newlines as ``\\n`` (what ``Path.read_text`` makes of ``\\r\\n`` and ``\\r``)."""
    return nfc(raw.decode("utf-8")).removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def load_story(path: Path, workspace: Path, content_dir: Path, image_problem: ImageCheck,
               raw: bytes | None = None) -> tuple[Story | None, list[Problem], list[Path]]:
    """One story file: the story (and its own problems), or None and the problems.

    Also returns the photos it names (resolved paths), whether they exist or not: the result holds as
    long as the file and these photos are unchanged (bot.reload keeps it that long). ``raw``: the file's
    bytes when the caller already read them."""
    rel = path.relative_to(workspace).as_posix()
    if not path.resolve().is_relative_to(workspace.resolve()):
        return None, [Problem(rel, None, None, "tệp bài là liên kết (symlink) tới một tệp ngoài thư mục chiến dịch",
                              "chép nội dung bài vào content/ thay cho liên kết")], []
    if (len(raw) if raw is not None else path.stat().st_size) > B.STORY_FILE_BYTES_MAX:
        return None, [Problem(rel, None, None, f"tệp bài quá lớn (tối đa {B.STORY_FILE_BYTES_MAX // 1_000_000} MB)",
                              "rút gọn bài; ảnh đặt thành tệp riêng")], []
    raw = path.read_bytes() if raw is None else raw
    try:
        text = read_text(raw)
    except UnicodeDecodeError as exc:
        from bot.messages import utf8_problem

        return None, [Problem(rel, *utf8_problem(raw, exc))], []
    front_text, body, problems = _split_front_matter(text, rel)
    if problems:
        return None, problems, []
    located, problems = parse_yaml(front_text, rel, line_offset=1)
    if located is None or problems:
        return None, problems, []
    if not isinstance(located.data, dict):
        return None, [Problem(rel, 2, None, "phần khai báo đầu bài phải là các cặp 'khóa: giá trị'", "xem ví dụ trong content/")], []
    front, problems = validate(StoryFront, located.data, located, vocabulary=STORY_VOCAB)
    if front is None:
        return None, problems, []
    located.data = None  # the lines are kept (for the checks across files); the values live in ``front``
    if not body.strip():
        problems.append(located.problem((), "bài viết không có nội dung", "viết nội dung bài sau dòng '---' thứ hai"))
    elif (too_long := B.body_problem(body)) is not None:
        problems.append(located.problem((), *too_long))
    images, deps = _photos(front, path, workspace, content_dir, located, problems, image_problem)
    from bot.video import story_attachments  # issue 18: video, document, link

    attachments, more, stamps, more_deps = story_attachments(front, path, workspace, content_dir, located)
    problems += more
    deps += more_deps
    story_id = path.relative_to(content_dir).with_suffix("").as_posix()
    # The photos' size and time too (issue 16): a photo replaced under the same name is a new version of the
    # story (bot.corrections compares the bytes themselves, only for stories whose hash changed).
    for rel_image in images:
        st = (workspace / rel_image).stat()
        stamps.append(f"{rel_image}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha256((text + "\n".join(stamps)).encode()).hexdigest()
    return Story(story_id, front, body, rel, images, digest, located, attachments), problems, deps


def _photos(front: StoryFront, path: Path, workspace: Path, content_dir: Path, located: Located,
            problems: list[Problem], image_problem: ImageCheck) -> tuple[list[str], list[Path]]:
    """The story's usable photos (workspace-relative), and every photo path it names (for bot.reload)."""
    images: list[str] = []
    deps: list[Path] = []
    for key, value in [("image", front.image)] + [(("images", i), v) for i, v in enumerate(front.images)]:
        if not value:
            continue
        target = (path.parent / value).resolve()
        deps.append(target)
        fpath = key if isinstance(key, tuple) else (key,)
        if not target.is_relative_to(content_dir.resolve()):
            problems.append(located.problem(fpath, f"ảnh '{value}' nằm ngoài thư mục content/",
                                            "đặt ảnh trong content/ (ví dụ content/anh/) và ghi đường dẫn tương đối tới bài"))
        elif not target.is_file():
            problems.append(located.problem(fpath, f"không tìm thấy ảnh '{value}'",
                                            "kiểm tra tên tệp ảnh (phân biệt chữ hoa/thường) và đường dẫn tương đối tới bài"))
        elif target.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(located.problem(fpath, f"'{value}' không phải ảnh JPG/PNG/WebP", "dùng tệp .jpg, .png hoặc .webp"))
        elif (bad := image_problem(target)) is not None:
            problems.append(located.problem(fpath, f"ảnh '{value}': {bad[0]}", bad[1]))
        else:
            images.append(target.relative_to(workspace.resolve()).as_posix())
    return images, deps
