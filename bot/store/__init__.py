"""The store: SQLModel tables over SQLite (default) or PostgreSQL, migrated by Alembic."""

from bot.store.db import Store, default_url, open_store
from bot.store.models import (
    AuditLog,
    Channel,
    ChannelState,
    ChannelToken,
    ContentItem,
    Delivery,
    DeliveryState,
    Engagement,
    Meta,
    MetricReading,
    MilestoneFiring,
    MilestoneRule,
    ScheduleSlot,
    Unit,
    utcnow,
)

__all__ = [
    "AuditLog",
    "Channel",
    "ChannelState",
    "ChannelToken",
    "ContentItem",
    "Delivery",
    "DeliveryState",
    "Engagement",
    "Meta",
    "MetricReading",
    "MilestoneFiring",
    "MilestoneRule",
    "ScheduleSlot",
    "Store",
    "Unit",
    "default_url",
    "open_store",
    "utcnow",
]
