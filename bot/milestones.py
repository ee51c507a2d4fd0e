"""Milestone announcements (being written: issue 5)."""

from __future__ import annotations

from datetime import datetime

from bot.load import Campaign
from bot.store.db import Store


def check(campaign: Campaign, store: Store, env: dict[str, str], now: datetime) -> list[str]:
    return []
