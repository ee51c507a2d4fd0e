"""What a delivery looks like when posted: the text, the hashtags, the link and the images.

The same composition feeds the outbox, Facebook, Zalo and the preview, so what the staff see
in the outbox or the preview is exactly what a platform receives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.channels import Post
from bot.load import KIND_LABELS, Campaign
from bot.store.models import ContentItem, Delivery
from bot.vn import nfc, ngay


def plain_text(markdown: str) -> str:
    """Markdown as plain text for platforms that show text as is (Facebook, Zalo)."""
    text = markdown.replace("\r\n", "\n")
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.M)  # headings
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # inline images
    text = re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"\1 (\2)", text)  # links
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", text)
    text = re.sub(r"^\s*[-*+]\s+", "• ", text, flags=re.M)
    text = re.sub(r"^\s*>\s?", "", text, flags=re.M)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return nfc(text.strip())


def hashtags(campaign: Campaign) -> list[str]:
    return list(campaign.config.hashtags)


def compose_text(content: ContentItem, campaign: Campaign) -> str:
    """Title, body, link and hashtags, in that order, separated by blank lines."""
    parts = []
    body = plain_text(content.body)
    if content.kind in ("slogan", "milestone"):
        parts.append(body or content.title)
    else:
        parts.append(content.title.upper() if len(content.title) <= 90 else content.title)
        if body:
            parts.append(body)
    if content.link:
        parts.append(f"🔗 {content.link}")
    if (doc := attachments_for(content, campaign).get("document")) is not None:  # issue 18
        parts.append(f"📄 {doc['title']} ({doc['pages_text']}): {doc['url']}")
    tags = hashtags(campaign)
    if tags:
        parts.append(" ".join(tags))
    return nfc("\n\n".join(parts))


@dataclass
class UnitInfo:
    id: str
    name: str
    short_name: str | None
    target: int | None
    level: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "short_name": self.short_name or self.name,
            "target": self.target,
            "level": self.level,
        }


def unit_info(campaign: Campaign, uid: str) -> UnitInfo:
    u = campaign.unit_by_id.get(uid)
    if u is None:
        return UnitInfo(uid, uid, None, None, "")
    return UnitInfo(u.id, u.name, u.short_name, u.target, u.level)


def banner_context(
    content: ContentItem, campaign: Campaign, metrics: dict[str, dict[str, float]] | None = None
) -> dict[str, Any]:
    """What a banner template may use: campaign, title, unit, metric, kind_label, slogan, value, …"""
    author = unit_info(campaign, content.unit_id)
    unit_metrics = {name: values.get(content.unit_id, 0.0) for name, values in (metrics or {}).items()}
    when = content.approved_at
    ctx: dict[str, Any] = {
        "campaign": {
            "id": campaign.config.id,
            "name": campaign.config.name,
            "slogans": campaign.config.slogans,
            "hashtags": campaign.config.hashtags,
        },
        "title": content.title,
        "kind": content.kind,
        "kind_label": KIND_LABELS.get(content.kind, ""),
        "unit": author.as_dict(),
        "metric": unit_metrics,
        "slogan": campaign.config.slogans[0] if campaign.config.slogans else "",
        "date": ngay(when.astimezone(campaign.tz)) if when else "",
        "value": unit_metrics.get("initiatives"),
        "max": author.target,
        # The story's first photo (absolute path), for the templates that lay the title over it.
        "photo": str(campaign.workspace / content.image) if content.image else "",
        # Names a banner line should not break inside (bot.banners.keep_phrases).
        "names": sorted({n for u in campaign.units for n in (u.name, u.short_name) if n}),
    }
    ctx.update(content.banner_data or {})
    return ctx


def banner_id(content: ContentItem, campaign: Campaign) -> str | None:
    """The story's template (``banner:``), else the first template (by id) whose ``kinds:`` lists the story's kind,
    else the one named after its kind, else ``story``."""
    if content.banner and content.banner in campaign.banners:
        return content.banner
    for tid in sorted(campaign.banners):
        if content.kind in getattr(campaign.banners[tid], "kinds", ()):
            return tid
    for candidate in (content.kind, "story"):
        if candidate and candidate in campaign.banners:
            return candidate
    return None


def wants_banner(content: ContentItem, campaign: Campaign) -> bool:
    """A banner is drawn for a story without photos, for one that names a template, and for one whose template
    lays the title over its photo (otherwise the photos are posted as they are)."""
    if not (content.images or content.image) or content.banner:
        return True
    tid = banner_id(content, campaign)
    if tid is None:
        return False
    from bot.banners.schema import uses_photo

    return uses_photo(campaign.banners[tid])


def render_banner_for(
    content: ContentItem, campaign: Campaign, metrics: dict[str, dict[str, float]] | None = None
) -> Path | None:
    tid = banner_id(content, campaign)
    if tid is None:
        return None
    from bot.banners.render import render_banner

    return render_banner(
        campaign.banners[tid],
        banner_context(content, campaign, metrics),
        campaign.workspace / "banners",
        campaign.workspace / ".campaign" / "banners",
    )


def images_for(content: ContentItem, campaign: Campaign, metrics: dict[str, dict[str, float]] | None = None) -> list[Path]:
    """Photos of the story; a banner first when the story has no photo or names a template.

    Issue 18: a guide's document brings its cover (page 1) after the banner it names, instead of a drawn
    banner; a video's chosen frame (``video_frame:``) is its thumbnail; a link post goes without images."""
    photos = [campaign.workspace / p for p in (content.images or ([content.image] if content.image else []))]
    images: list[Path] = []
    extra = media_images(content, campaign, metrics)
    if extra is not None:
        return extra
    if wants_banner(content, campaign):
        banner = render_banner_for(content, campaign, metrics)
        if banner is not None:
            images.append(banner)
    return images + photos


def build_post(
    delivery: Delivery,
    content: ContentItem,
    campaign: Campaign,
    images: list[Path],
) -> Post:
    unit = unit_info(campaign, delivery.unit_id)
    return Post(
        delivery_id=delivery.id or 0,
        content_id=content.id,
        channel_id=delivery.channel_id,
        unit_id=delivery.unit_id,
        unit_name=unit.name,
        platform=delivery.platform,
        title=content.title,
        text=compose_text(content, campaign),
        body=plain_text(content.body),
        hashtags=hashtags(campaign),
        link=content.link,
        images=images,
        kind=content.kind,
        created_at=delivery.created_at,
        first_attempt_at=delivery.first_sent_attempt_at,
        progress=dict(delivery.extra.get("progress", {})) if delivery.extra else {},
        attachments=attachments_for(content, campaign),
    )


def attachments_for(content: ContentItem, campaign: Campaign) -> dict[str, Any]:
    """The story's video, document and link post (issue 18), paths made absolute, the document's URL on
    the media store computed from its content (the same name :mod:`bot.media` publishes it under)."""
    data = content.banner_data or {}
    out: dict[str, Any] = {}
    if data.get("video"):
        from bot.video import VideoInfo, check_video

        path = campaign.workspace / data["video"]
        info = check_video(path, reel=bool(data.get("reel")))  # remembered per file: one probe per version
        out["video"] = {
            "path": path,
            "reel": bool(data.get("reel")),
            "frame": data.get("video_frame"),
            "bytes": data.get("video_bytes"),
            "duration": round(info.duration, 3) if isinstance(info, VideoInfo) else None,
            "orientation": info.orientation if isinstance(info, VideoInfo) else "horizontal",
        }
    if data.get("document"):
        from bot.media import file_url

        out["document"] = {
            "path": campaign.workspace / data["document"],
            "url": file_url(campaign.media, data.get("document_sha256") or "", ".pdf"),
            "title": data.get("document_title") or content.title,
            "pages": data.get("document_pages"),
            "pages_text": data.get("document_pages_text") or "",
        }
    if data.get("link_post"):
        out["link_post"] = True
    return out


def media_images(content: ContentItem, campaign: Campaign, metrics: dict[str, dict[str, float]] | None = None) -> list[Path] | None:
    """The images of a story with a document, a video or a link post; None for the others.

    A video's first image is its thumbnail: the chosen frame (``video_frame:``), else the banner, else its
    first photo, else a frame cut at one second."""
    att = attachments_for(content, campaign)
    cache = campaign.workspace / ".campaign" / "media-cache"
    if att.get("link_post"):
        return []
    if (doc := att.get("document")) is not None:
        from bot.documents import render_cover

        named = [render_banner_for(content, campaign, metrics)] if content.banner else []
        photos = [campaign.workspace / p for p in (content.images or [])]
        return [p for p in named if p is not None] + [render_cover(doc["path"], cache)] + photos
    if (video := att.get("video")) is not None:
        from bot.video import VideoError, thumbnail, tool

        if video["frame"] is not None and tool("ffmpeg") is not None:  # without ffmpeg: the banner instead
            try:
                return [thumbnail(video["path"], cache, at=float(video["frame"]), duration=video["duration"])]
            except VideoError:
                pass
        if wants_banner(content, campaign) and (banner := render_banner_for(content, campaign, metrics)) is not None:
            return [banner]
        photos = [campaign.workspace / p for p in (content.images or ([content.image] if content.image else []))]
        return photos[:1] or [thumbnail(video["path"], cache, duration=video["duration"])]
    return None


def media_note(content: ContentItem, campaign: Campaign, platform: str) -> list[str]:
    """What the preview says of a story's video, document or link post (issue 18), in Vietnamese."""
    from bot.video import ZALO_VIDEO_BYTES_MAX
    from bot.vn import so

    att = attachments_for(content, campaign)
    notes = []
    if (video := att.get("video")) is not None:
        seconds = f"{so(float(video['duration']), 1)} giây " if video.get("duration") else ""
        if platform == "facebook":
            notes.append(f"Video {seconds}({video['path'].name}), đăng thành "
                         + ("Reel." if video["reel"] else "video của Trang; ảnh đại diện là ảnh bên cạnh."))
        elif int(video.get("bytes") or 0) <= ZALO_VIDEO_BYTES_MAX:
            notes.append(f"Video {seconds}({video['path'].name}), đăng thành bài video Zalo.")
        else:
            notes.append(f"Video {video['path'].name} lớn hơn 50 MB: bài Zalo kèm đường dẫn tới video trên nơi đăng tệp.")
    if (doc := att.get("document")) is not None:
        notes.append(f"Tài liệu PDF “{doc['title']}” ({doc['pages_text']}): ảnh trang đầu và đường dẫn {doc['url']}.")
    if att.get("link_post"):
        notes.append("Bài liên kết: Facebook hiện khung xem trước của trang web, không kèm banner.")
    return notes
