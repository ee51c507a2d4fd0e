"""Held and bad readings: what `campaign-bot metrics confirm/drop` change."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from bot.metrics.values import _utc
from bot.store.models import MetricReading

# --- review: held and bad readings -------------------------------------------------------------


def find_readings(
    s: Session, unit: str, metric: str, at: datetime | None, statuses: tuple[str, ...]
) -> list[MetricReading]:
    query = select(MetricReading).where(
        MetricReading.unit_id == unit, MetricReading.metric == metric, col(MetricReading.status).in_(statuses)
    )
    rows = list(s.exec(query.order_by(col(MetricReading.at))).all())
    if at is not None:
        rows = [r for r in rows if _utc(r.at) == at]
    return rows


def review(s: Session, reading: MetricReading, status: str, by: str, note: str | None = None) -> None:
    """Confirm (``ok``) or drop a reading; the caller's transaction."""
    reading.status = status
    reading.reviewed_by = by
    reading.reviewed_at = datetime.now(UTC)
    if note is not None:
        reading.note = note
    s.add(reading)
