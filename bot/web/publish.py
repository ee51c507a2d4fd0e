"""Approving a submission: the story file a staff member would write, validated before it exists.

Why this path: the campaign folder is the one source of truth, so an approved submission becomes an
ordinary ``content/tu-co-so/<slug>-<ref>.md`` with the same front matter staff write (``approved:
true``, ``approved_by``, ``approved_at``), its photos beside it in ``anh/``. The file and photos are
first written into a hidden staging folder inside ``content/`` (the loader skips dot-folders) and
read back by the loader itself (:func:`bot.content.load_story`, plus the unit, audience and banner
checks :func:`bot.load.load_campaign` makes across files); only a file that passes is moved into
place (``os.replace``: atomic). The author's contact never goes into the file. When the campaign
folder is a git repository the new files are committed with the reviewer as author.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.content import load_story
from bot.errors import BotError
from bot.files import atomic_copy, atomic_write_text
from bot.images import ImageProblem, check_image
from bot.load import Campaign, LoadError, load_campaign
from bot.vn import nfc, slug

FOLDER = "tu-co-so"  # content/tu-co-so/: stories that came from the grassroots
GIT_TIMEOUT = 30


class PublishError(BotError):
    """The story cannot be written; the message is Vietnamese and names the field and the fix."""


@dataclass
class Written:
    content_id: str
    story_path: str  # workspace-relative
    files: list[str] = field(default_factory=list)
    committed: bool = False
    note: str | None = None


def front_matter(*, title: str, kind: str, unit: str, audience: Any, platforms: list[str], approved_by: str,
                 approved_at: datetime, images: list[str], banner: str | None, ref: str) -> dict[str, Any]:
    front: dict[str, Any] = {
        "title": nfc(title),
        "kind": kind,
        "unit": unit,
        "audience": audience,
        "platforms": platforms,
        "approved": True,
        "approved_by": nfc(approved_by),
        "approved_at": approved_at.replace(microsecond=0),
    }
    if images:
        front["images"] = images
    if banner:
        front["banner"] = banner
    front["tags"] = ["tu-co-so", slug(ref, 40)]
    return front


def story_text(front: dict[str, Any], body: str) -> str:
    head = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, default_flow_style=None, width=1000)
    return f"---\n{head}---\n{nfc(body).strip()}\n"


def write_story(campaign: Campaign, *, ref: str, title: str, body: str, kind: str, unit: str, audience: Any,
                platforms: list[str], banner: str | None, approved_by: str, approved_at: datetime,
                photos: list[Path], git_author: tuple[str, str] | None = None) -> Written:
    """Write the story and its photos, or raise :class:`PublishError` having written nothing."""
    workspace = campaign.workspace.resolve()
    content = workspace / "content"
    name = f"{slug(title, 50)}-{slug(ref, 20)}"
    rel_md = Path(FOLDER) / f"{name}.md"
    image_rels = [f"anh/{name}-{i + 1}.jpg" for i in range(len(photos))]
    if (content / rel_md).exists():
        raise PublishError(f"tệp content/{rel_md.as_posix()} đã có; bài này có lẽ đã được duyệt")
    text = story_text(front_matter(title=title, kind=kind, unit=unit, audience=audience, platforms=platforms,
                                   approved_by=approved_by, approved_at=approved_at, images=image_rels,
                                   banner=banner, ref=ref), body)
    import secrets

    staging = content / f".tmp-duyet-{secrets.token_hex(6)}"
    try:
        staged_md = staging / rel_md
        for src, rel in zip(photos, image_rels, strict=True):
            atomic_copy(src, staged_md.parent / rel, root=content)
        atomic_write_text(staged_md, text, root=content)
        story, problems, _photos = load_story(staged_md, workspace, content, _image_problem)
        if story is not None:
            problems += _cross_problems(campaign, story.front)
        if story is None or problems:
            shown = "; ".join(_label(p.field) + p.message + (f" (cách sửa: {p.fix})" if p.fix else "") for p in problems[:5])
            raise PublishError(f"bài chưa hợp lệ nên chưa ghi gì vào content/: {shown}")
        final_md = content / rel_md
        written: list[Path] = []
        try:
            for rel in image_rels:
                target = final_md.parent / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged_md.parent / rel, target)
                written.append(target)
            final_md.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged_md, final_md)
            written.append(final_md)
        except OSError as exc:
            for p in written:
                p.unlink(missing_ok=True)
            raise PublishError(f"không ghi được vào content/ ({exc.strerror or exc}): kiểm tra quyền ghi thư mục") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rels = [p.relative_to(workspace).as_posix() for p in written]
    out = Written(content_id=rel_md.with_suffix("").as_posix(), story_path=f"content/{rel_md.as_posix()}", files=rels)
    # the whole folder once more, as `check` reads it: a folder that loaded before must still load
    try:
        load_campaign(workspace)
    except LoadError as exc:
        ours = [p for p in exc.problems if p.file in rels]
        if ours:
            for p in written:
                p.unlink(missing_ok=True)
            raise PublishError(f"bài chưa hợp lệ nên đã gỡ lại: {ours[0].message}") from None
        out.note = "thư mục chiến dịch đang có lỗi khác (chạy `campaign-bot check`); bài đã được ghi"
    if git_author is not None:
        out.committed, problem = git_commit(workspace, rels, git_author, f"Duyệt bài từ cơ sở {ref}: {nfc(title)[:80]}")
        if problem:
            out.note = problem
    return out


FIELD_LABELS = {"title": "tiêu đề", "kind": "loại bài", "unit": "đơn vị", "audience": "phạm vi đăng",
                "platforms": "nền tảng", "banner": "mẫu banner", "images": "ảnh", "approved_by": "người duyệt"}


def _label(field: str | None) -> str:
    """The Vietnamese name of a front-matter key a problem is about ("loại bài: …"), or nothing."""
    if not field:
        return ""
    key = str(field).split(".")[0].split("[")[0]
    return f"{FIELD_LABELS.get(key, key)}: "


def _image_problem(path: Path) -> tuple[str, str | None] | None:
    """The loader's photo check (bot.images): (message, fix) or None."""
    bad = check_image(path)
    return (bad.message, bad.fix) if isinstance(bad, ImageProblem) else None


def _cross_problems(campaign: Campaign, front: Any) -> list[Any]:
    from bot.yamlfile import Problem

    units = set(campaign.unit_by_id)
    out = []
    if front.unit not in units:
        out.append(Problem("", None, "unit", f"không có đơn vị '{front.unit}'", "chọn một đơn vị trong danh sách"))
    if isinstance(front.audience, list):
        for uid in front.audience:
            if uid not in units:
                out.append(Problem("", None, "audience", f"không có đơn vị '{uid}'", "chọn đơn vị trong danh sách"))
    if front.banner and front.banner not in campaign.banners:
        out.append(Problem("", None, "banner", f"không có mẫu banner '{front.banner}'", "chọn một mẫu trong danh sách"))
    return out


def is_git_repo(workspace: Path) -> bool:
    try:
        r = subprocess.run(["git", "-C", str(workspace), "rev-parse", "--show-toplevel"], capture_output=True,
                           text=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and bool(r.stdout.strip())


def git_commit(workspace: Path, rels: list[str], author: tuple[str, str], message: str) -> tuple[bool, str | None]:
    """Commit exactly ``rels`` with ``author`` (name, e-mail); the committer is the bot. (committed, problem)."""
    if not is_git_repo(workspace):
        return False, None
    env = dict(os.environ, GIT_COMMITTER_NAME="campaign-bot serve", GIT_COMMITTER_EMAIL="campaign-bot@localhost",
               GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1])
    try:
        subprocess.run(["git", "-C", str(workspace), "add", "--", *rels], check=True, capture_output=True,
                       timeout=GIT_TIMEOUT, env=env)
        subprocess.run(["git", "-C", str(workspace), "commit", "--no-verify", "-q", "-m", message, "--", *rels],
                       check=True, capture_output=True, timeout=GIT_TIMEOUT, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bài đã ghi vào content/ nhưng chưa commit được vào git ({type(exc).__name__}): hãy commit bằng tay"
    return True, None
