"""The local outbox: a folder that shows exactly what would be posted.

Limits: none. Secret fields: none. It is the channel of every configured channel whose
token variable is unset, so a new user sees the whole campaign without any account.

Layout: ``outbox/<unit id>/<platform>/<delivery id>-<slug>.json`` with the image(s) beside it.
Each file is written to a temporary name and renamed, so a crash never leaves half a post.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from bot.channels.base import (
    ChannelCheck,
    ChannelContext,
    EngagementReading,
    HoldChannel,
    Post,
    PostState,
    Published,
    Rejected,
)
from bot.files import UnsafePath, atomic_copy, atomic_write, ensure_inside
from bot.store import Channel as ChannelRow
from bot.vn import slug


def _slug(text: str) -> str:
    """File names transliterated from Vietnamese (đ → d, tones dropped), as everywhere (bot.vn.slug)."""
    return slug(text, default="post")


class OutboxChannel:
    platform: ClassVar[str] = "outbox"

    def __init__(self, row: ChannelRow, ctx: ChannelContext) -> None:
        self.row = row
        self.root = ctx.workspace / "outbox"
        # Every write stays inside the workspace: an outbox/ (or a unit's folder in it) that is a symlink
        # to somewhere else is refused, never followed (issue 12).
        self.workspace = ctx.workspace
        self.folder = self.root / row.unit_id / row.platform
        self.campaign_root = getattr(ctx.campaign, "workspace", None) or ctx.workspace  # issue 18: attached files

    def __str__(self) -> str:
        return f"outbox://{self.row.unit_id}/{self.row.platform}"

    def _path(self, post: Post) -> Path:
        return self.folder / f"{post.delivery_id:06d}-{_slug(post.content_id)}.json"

    def publish(self, post: Post) -> Published:
        try:
            return self._publish(post)
        except UnsafePath as exc:
            # A person must remove the link: nothing is written outside, the post waits on the held channel.
            raise HoldChannel(str(exc), fix=f"xóa liên kết (symlink) trong {self.root} rồi chạy lại",
                              code="unsafe-path") from None

    def _publish(self, post: Post) -> Published:
        target = self._path(post)
        images = []
        for i, src in enumerate(post.images):
            name = f"{target.stem}-{i + 1}{src.suffix}" if len(post.images) > 1 else f"{target.stem}{src.suffix}"
            dest = self.folder / name
            if not dest.exists():
                atomic_copy(src, dest, root=self.workspace)
            images.append(name)
        record = {
            "delivery_id": post.delivery_id,
            "content_id": post.content_id,
            "unit": post.unit_id,
            "unit_name": post.unit_name,
            "platform": post.platform,
            "title": post.title,
            "text": post.text,
            "hashtags": post.hashtags,
            "link": post.link,
            "image": images[0] if images else None,
            "images": images,
        }
        record.update(_attachments(post, self.campaign_root))  # issue 18: video, document, link post
        atomic_write(target, json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"), root=self.workspace)
        return Published(post_id=f"outbox:{target.relative_to(self.root)}")

    def find_existing(self, post: Post) -> Published | None:
        target = self._path(post)
        if target.exists():
            return Published(post_id=f"outbox:{target.relative_to(self.root)}")
        return None

    # -- corrections (issue 16): the file shows what the post shows now; a removed post's file is renamed

    def _file(self, post_id: str) -> Path:
        path = self.root / post_id.removeprefix("outbox:")
        ensure_inside(path.parent, self.workspace)
        return path

    def edit(self, post_id: str, post: Post) -> Published:
        target = self._file(post_id)
        if not target.exists():
            raise Rejected(f"không còn tệp {target.name} trong outbox", code="gone")
        record = json.loads(target.read_text(encoding="utf-8"))
        record.update(title=post.title, text=post.text, hashtags=post.hashtags, link=post.link)
        atomic_write(target, json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"), root=self.workspace)
        return Published(post_id=post_id)

    def remove(self, post_id: str) -> bool:
        target = self._file(post_id)
        if not target.exists():
            return False
        target.replace(target.with_name(target.stem + ".da-go.json"))
        return True

    def current(self, post_id: str, post: Post | None = None) -> PostState:
        target = self._file(post_id)
        if not target.exists():
            return PostState(exists=False)
        if post is None:
            return PostState(exists=True)
        record = json.loads(target.read_text(encoding="utf-8"))
        return PostState(exists=True, matches=record.get("text") == post.text)

    def check(self) -> ChannelCheck:
        env = self.row.token_env
        return ChannelCheck(
            channel_id=self.row.id,
            platform=self.row.platform,
            ok=True,
            account_name=None,
            details={"outbox": str(self.folder)},
            problem=f"chưa có token ({env} chưa đặt): bài được ghi vào outbox, không đăng thật" if env else None,
            fix=f"đặt {env} trong tệp .env để đăng thật" if env else None,
        )

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        return {}

    def close(self) -> None:
        pass


def _attachments(post: Post, workspace: Path) -> dict[str, Any]:
    """What a video, document or link post adds to the outbox record (paths relative to the workspace)."""
    att = post.attachments or {}
    out: dict[str, Any] = {}
    if video := att.get("video"):
        out["video"] = {"file": _rel(video["path"], workspace), "reel": video["reel"], "seconds": video.get("duration")}
    if doc := att.get("document"):
        out["document"] = {"file": _rel(doc["path"], workspace), "url": doc["url"], "title": doc["title"], "pages": doc["pages"]}
    if att.get("link_post"):
        out["link_post"] = True
    return out


def _rel(path: Path, workspace: Path) -> str:
    try:
        return Path(path).resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return Path(path).name
