"""What the staff should hear before posting: texts that had to be cut, shrunk or dropped (``check``, ``preview``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.banners.layout import keep_phrases
from bot.banners.schema import BannerTemplate
from bot.vn import nfc


def fit_warnings(template: BannerTemplate, context: Mapping[str, Any]) -> list[str]:
    """Vietnamese warnings for every element of this banner that does not show as written (each element type says
    what that means for it: a text cut with "…", a word broken between letters, shrunk below ``min_size``, or
    dropped), so that a long title is shortened by a person before the banner goes out rather than posted as
    "…sản…". Each message ends with " | fix: …". Empty when everything fits."""
    keep = keep_phrases(context)
    return [message for element in template.elements for message in element.fit_warnings(template.id, context, keep)]


def campaign_fit_warnings(campaign: Any) -> list[str]:
    """:func:`fit_warnings` for the banner of every story of a loaded campaign (drafts too: better to hear it before
    approval), each prefixed with the story's file. Stories that get no banner (a photo and no banner template that
    uses it) are skipped. Pure: reads the campaign, draws nothing, writes nothing."""
    from bot.posts import banner_context, banner_id, wants_banner
    from bot.store.models import ContentItem

    out: list[str] = []
    for story in campaign.stories:
        front = story.front
        item = ContentItem(
            id=story.id,
            title=nfc(front.title),
            kind=front.kind,
            unit_id=front.unit,
            banner=front.banner,
            image=story.images[0] if story.images else None,
            images=list(story.images),
            banner_data={"summary": front.summary} if front.summary else {},
            approved_at=campaign.local_datetime(front.approved_at) if front.approved_at else None,
        )
        if not wants_banner(item, campaign):
            continue
        tid = banner_id(item, campaign)
        if tid is None:
            continue
        for message in fit_warnings(campaign.banners[tid], banner_context(item, campaign)):
            out.append(f"{story.source}: {message}")
    return out
