"""Recording events: from the load, the audit log, milestone firings and metric fetches (unique keys)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.alerts.kinds import (
    ACTION_LABELS,
    AUDIT_ACTIONS,
    CURSOR_OVERLAP,
    KIND_OF,
    META_AUDIT,
    META_FIRING,
    META_METRICS,
    METRICS_GRACE,
)
from bot.store.db import Store
from bot.store.models import (
    AlertEvent,
    AuditLog,
    ContentItem,
    Meta,
    MilestoneFiring,
    PostAction,
    utcnow,
)

log = logging.getLogger(__name__)

# --- recording events -----------------------------------------------------------------------


def insert_ignore(s: Session, model: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True if the row is new. Safe beside other processes."""
    dialect = s.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(model).values(**values)
    # RETURNING, not rowcount: through the ORM session PostgreSQL's rowcount is not 1 for a new row
    # (issue 17 found it: a digest was stored but reported as not new, so its units were never recorded).
    keys = list(model.__table__.primary_key.columns)
    return s.execute(stmt.on_conflict_do_nothing().returning(*keys)).first() is not None


def record_event(
    s: Session,
    key: str,
    type_: str,
    *,
    subject: str | None = None,
    unit_id: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Record an event once, whatever the number of processes that notice it."""
    return insert_ignore(s, AlertEvent, {
        "key": key, "kind": KIND_OF[type_], "type": type_, "subject": subject, "unit_id": unit_id,
        "detail": detail or {}, "at": at or utcnow(), "routed": False,
    })


def _cursor(s: Session, key: str) -> int:
    row = s.get(Meta, key)
    try:
        return int(row.value) if row else 0
    except ValueError:
        return 0


def _set_cursor(s: Session, key: str, value: int) -> None:
    row = s.get(Meta, key) or Meta(key=key, value="0")
    if value > _cursor(s, key):
        row.value = str(value)
        s.add(row)


def collect(store: Store) -> int:
    """New events from the worker's audit log and the milestone firings; returns how many."""
    n = 0
    with store.session() as s:
        start = max(0, _cursor(s, META_AUDIT) - CURSOR_OVERLAP)
        rows = s.exec(
            select(AuditLog).where(col(AuditLog.id) > start, col(AuditLog.action).in_(AUDIT_ACTIONS))
            .order_by(col(AuditLog.id)).limit(5000)
        ).all()
        top = s.exec(select(AuditLog.id).order_by(col(AuditLog.id).desc()).limit(1)).first() or 0
        for row in rows:
            n += _event_from_audit(s, row)
        _set_cursor(s, META_AUDIT, max((r.id or 0) for r in rows) if len(rows) == 5000 else top)

        start = max(0, _cursor(s, META_FIRING) - CURSOR_OVERLAP)
        firings = s.exec(
            select(MilestoneFiring).where(col(MilestoneFiring.id) > start).order_by(col(MilestoneFiring.id))
        ).all()
        for f in firings:
            if not f.announced:
                continue
            title = None
            if f.content_id:
                item = s.get(ContentItem, f.content_id)
                title = item.title if item else None
            n += record_event(
                s, f"milestone:{f.id}", "milestone.announced", subject=f.rule_id, unit_id=f.unit_id, at=f.fired_at,
                detail={"rule": f.rule_id, "unit": f.unit_id, "threshold": f.threshold, "value": f.value,
                        "percent": f.percent, "title": title},
            )
        if firings:
            _set_cursor(s, META_FIRING, max(f.id or 0 for f in firings))
    return n


def _event_from_audit(s: Session, row: AuditLog) -> int:
    detail = row.detail or {}
    if row.action in ("channel.held", "channel.released"):
        channel_id = row.subject or ""
        unit_id = channel_id.split("/", 1)[0] or None
        return record_event(s, f"audit:{row.id}", row.action, subject=channel_id, unit_id=unit_id, at=row.at,
                            detail={"reason": detail.get("reason"), "fix": detail.get("fix"), "why": detail.get("why")})
    if row.action in ("delivery.failed", "action.failed"):
        channel_id = detail.get("channel") or ""
        content_id = detail.get("content")
        item = s.get(ContentItem, content_id) if content_id else None
        title = item.title if item else None
        if row.action == "action.failed":
            act = s.get(PostAction, int(row.subject)) if (row.subject or "").isdigit() else None
            label = ACTION_LABELS.get(act.action if act else "", "sửa/gỡ bài đã đăng")
            title = f"{label[:1].upper()}{label[1:]}: {title or content_id or '?'}"
        return record_event(
            s, f"audit:{row.id}", "delivery.failed", subject=channel_id, unit_id=channel_id.split("/", 1)[0] or None,
            at=row.at, detail={"delivery": row.subject, "content": content_id, "title": title,
                               "reason": detail.get("reason")},
        )
    return 0


def note_metric_source(store: Store, now: datetime, *, failed: bool, label: str | None = None,
                       error: str | None = None) -> bool:
    """Track the metric URL's failures; a failing streak of a day records one event. True if recorded."""
    with store.session() as s:
        row = s.get(Meta, META_METRICS)
        if not failed:
            if row is not None:
                s.delete(row)
            return False
        state = json.loads(row.value) if row is not None else {}
        if not state:
            state = {"since": now.isoformat(), "label": label}
        state["error"], state["last"] = error, now.isoformat()
        row = row or Meta(key=META_METRICS, value="{}")
        row.value = json.dumps(state, ensure_ascii=False)
        s.add(row)
        since = datetime.fromisoformat(state["since"])
        if now - since < METRICS_GRACE:
            return False
        return record_event(s, f"metrics.unreadable:{state['since']}", "metrics.unreadable", subject=label, at=now,
                            detail={"since": state["since"], "error": error, "source": label})


