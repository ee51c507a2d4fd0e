"""What `serve` forgets on its own, so the intake's tables and photo folder stay bounded.

Why: a verified webhook call only matters while a replay of it could still pass the signature's time
check (5 minutes), login attempts only for the lock-out windows, and a sender's photos in the private
intake folder only until the story is decided — an approved story's photos live on in content/, a
rejected one's are kept 30 days for questions, an abandoned Zalo draft 7 days. Run by `serve`'s own
periodic task beside the notices.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import select

from bot.store import utcnow
from bot.store.intake import LoginAttempt, Submission, SubmissionPhoto, SubmissionState, WebhookEvent

EVENTS_KEPT = timedelta(days=1)
ATTEMPTS_KEPT = timedelta(days=30)
PHOTOS_AFTER_APPROVAL = timedelta(days=1)
PHOTOS_AFTER_REJECTION = timedelta(days=30)
DRAFTS_KEPT = timedelta(days=7)


def prune(store: Any, intake_dir: Path, now: datetime | None = None) -> dict[str, int]:
    """Delete what is no longer needed; the counts, for tests and logs."""
    now = now or utcnow()
    out = {"events": 0, "attempts": 0, "photos": 0, "drafts": 0}
    with store.session() as s:
        out["events"] = s.execute(delete(WebhookEvent).where(WebhookEvent.received_at < now - EVENTS_KEPT)).rowcount or 0
        out["attempts"] = s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPTS_KEPT)).rowcount or 0
        done = s.exec(select(Submission.id, Submission.state).where(
            ((Submission.state == SubmissionState.APPROVED) & (Submission.updated_at < now - PHOTOS_AFTER_APPROVAL))
            | ((Submission.state == SubmissionState.REJECTED) & (Submission.updated_at < now - PHOTOS_AFTER_REJECTION))
            | ((Submission.state == SubmissionState.DRAFT) & (Submission.updated_at < now - DRAFTS_KEPT))).limit(1000)).all()
        ids = [i for i, _ in done]
        photos = s.exec(select(SubmissionPhoto).where(SubmissionPhoto.submission_id.in_(ids))).all() if ids else []
        for p in photos:
            (intake_dir / p.stored_name).unlink(missing_ok=True)
            s.delete(p)
        out["photos"] = len(photos)
        drafts = [i for i, state in done if state == SubmissionState.DRAFT]
        if drafts:
            out["drafts"] = s.execute(delete(Submission).where(Submission.id.in_(drafts))).rowcount or 0
    return out
