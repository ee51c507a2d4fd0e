"""Alerts: the people who run the campaign hear about what needs them, once.

Events (``AlertEvent``, unique ``key``) come from three places:

- the load (bot.lastgood): the folder became invalid, or valid again;
- the audit log the worker already writes (``channel.held`` with the fix, ``channel.released``,
  ``delivery.failed`` with the platform's words) and the milestone firings — read through cursors
  kept in ``meta`` (with an overlap, since PostgreSQL may commit ids out of order; the unique keys
  absorb the re-reads), so the worker itself knows nothing about alerts;
- the pipeline's metric fetches: the metric source unreadable for a day.

Each alerts pass (:func:`run_pass`, at the end of every tick) then:

1. **routes** new events to recipients: ``alerts.to`` plus the kind's own list in
   config/campaign.yaml, plus the unit's ``alerts.to`` in config/units.yaml for its channels'
   problems, as e-mail when ``CAMPAIGN_SMTP_URL`` is set; every URL of ``CAMPAIGN_NOTIFY_URLS``
   (Apprise) hears everything. One ``AlertItem`` per (event, recipient), unique.
2. **composes** one message per recipient and event type from the items no message carries yet —
   so 40 channels held at once are one message — unless that recipient got a message of that type
   within the last hour (the storm cap): then the items wait and the next message summarises them.
   The message (subject, plain text, HTML, a fresh Message-ID) is written to the store and the
   items are tied to it in the same transaction, with a conditional update so that two processes
   never put one item into two messages.
3. **sends** what is due: each message is claimed with a conditional update (state ``sending``,
   owner, lease) so one process at a time has it; it becomes ``sent`` after the server accepted
   it. A server that is down makes the messages ``retry`` with a growing delay; the pass never
   raises and gives up on a transport after its first connection failure, so a tick is never held
   up for long. Only a crash between the server's acceptance and the row's update can send a
   message twice, and then with the same Message-ID (mail clients show it once).
"""


from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from bot.alerts.events import collect, insert_ignore, note_metric_source, record_event
from bot.alerts.kinds import LEASE, MAX_PER_PASS, STATE_LABELS, TYPE_LABELS
from bot.alerts.messages import compose
from bot.alerts.recipients import check_notice, notify_urls, route, smtp_configured
from bot.alerts.transports import AppriseSender, SendError, SmtpSender, email_message
from bot.clock import Clock
from bot.store.db import Store
from bot.store.models import AlertEvent, AlertItem, AlertMessage

# Names the rest of the bot uses from here; the package's parts are the modules beside this one.
__all__ = [
    "LEASE", "STATE_LABELS", "TYPE_LABELS", "AlertsReport", "alerts_data", "check_notice", "default_owner",
    "email_message", "insert_ignore", "note_metric_source", "record_event", "run_pass", "send_due",
    "smtp_configured",
]

log = logging.getLogger(__name__)
# Apprise's debug lines may show a chat URL, which holds its token: never below warnings, even with -vv.
logging.getLogger("apprise").setLevel(logging.WARNING)

# --- the pass -------------------------------------------------------------------------------


@dataclass
class AlertsReport:
    events: int = 0
    composed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "composed": self.composed, "sent": self.sent, "retry": self.retry,
                "failed": self.failed, "errors": self.errors}


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


def _due(now: datetime) -> Any:
    """A message to send now: waiting and due, or claimed by a process whose lease ran out."""
    return or_(
        and_(col(AlertMessage.state).in_(("pending", "retry")),
             or_(col(AlertMessage.next_attempt_at).is_(None), col(AlertMessage.next_attempt_at) <= now)),
        and_(AlertMessage.state == "sending", col(AlertMessage.lease_until) < now),
    )


def _claim(store: Store, msg_id: int, owner: str, now: datetime) -> AlertMessage | None:
    with store.session() as s:
        got = s.execute(update(AlertMessage).where(AlertMessage.id == msg_id, _due(now)).values(
            state="sending", lease_owner=owner, lease_until=now + LEASE, attempts=AlertMessage.attempts + 1,
        )).rowcount
        if got != 1:
            return None
    with store.session() as s:
        return s.get(AlertMessage, msg_id)


def _finish(store: Store, msg: AlertMessage, owner: str, **values: Any) -> None:
    with store.session() as s:
        s.execute(update(AlertMessage).where(AlertMessage.id == msg.id, AlertMessage.state == "sending",
                                             AlertMessage.lease_owner == owner)
                  .values(lease_owner=None, lease_until=None, **values))


def send_due(store: Store, env: dict[str, str], now: datetime, owner: str, report: AlertsReport) -> None:
    """Send what is due, each message claimed by this process alone.

    ``now`` is when the pass starts (simulated in the demo); a clock runs on from it, and each claim's
    lease, retry time and ``sent_at`` read it when they are decided, never a time from before a send."""
    clock = Clock(now)
    with store.session() as s:
        ids = s.exec(select(AlertMessage.id).where(_due(now)).order_by(col(AlertMessage.id)).limit(MAX_PER_PASS)).all()
    if not ids:
        return
    smtp: SmtpSender | None = None
    smtp_problem: str | None = None
    if env.get("CAMPAIGN_SMTP_URL"):
        sender = env.get("CAMPAIGN_MAIL_FROM") or f"campaign-bot@{socket.getfqdn()}"
        try:
            smtp = SmtpSender(env["CAMPAIGN_SMTP_URL"], sender)
        except ValueError as exc:
            smtp_problem = str(exc)
    else:
        smtp_problem = "chưa đặt CAMPAIGN_SMTP_URL"
    chat = AppriseSender(notify_urls(env))
    down: set[str] = set()  # transports that failed to connect in this pass: try them next pass
    try:
        for msg_id in ids:
            transport = "apprise" if msg_id is not None and _is_chat(store, msg_id) else "smtp"
            if transport in down:
                continue
            if transport == "smtp" and smtp is None:
                report.errors.append(f"thư cảnh báo chưa gửi: {smtp_problem}")
                down.add("smtp")
                continue
            msg = _claim(store, msg_id, owner, clock.now())
            if msg is None:
                continue  # another process has it
            try:
                (chat if transport == "apprise" else smtp).send(msg)  # type: ignore[union-attr]
            except SendError as exc:
                if exc.permanent:
                    _finish(store, msg, owner, state="failed", error=str(exc))
                    report.failed += 1
                else:
                    _finish(store, msg, owner, state="retry", error=str(exc),
                            next_attempt_at=clock.now() + backoff(msg.attempts))
                    report.retry += 1
                    down.add(transport)
                report.errors.append(f"{msg.recipient}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a transport bug must not stop the tick
                _finish(store, msg, owner, state="retry", error=type(exc).__name__,
                        next_attempt_at=clock.now() + backoff(msg.attempts))
                report.retry += 1
                log.exception("gửi cảnh báo lỗi")
                continue
            _finish(store, msg, owner, state="sent", sent_at=clock.now(), error=None)
            report.sent += 1
    finally:
        if smtp is not None:
            smtp.close()


def _is_chat(store: Store, msg_id: int) -> bool:
    with store.session() as s:
        msg = s.get(AlertMessage, msg_id)
        return bool(msg and msg.recipient.startswith("apprise:"))


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_pass(store: Store, campaign: Any, env: dict[str, str], now: datetime, *, owner: str | None = None,
             send: bool = True) -> AlertsReport:
    """Collect, route, compose and send. Never raises: alerts must not break a tick."""
    report = AlertsReport()
    owner = owner or default_owner()
    try:
        report.events = collect(store)
        if campaign is not None:
            route(store, campaign, env)
            report.composed = compose(store, campaign, now)
        if send:
            send_due(store, env, now, owner, report)
    except Exception as exc:  # noqa: BLE001 - e.g. the store briefly unreachable: try again next tick
        log.exception("lượt cảnh báo lỗi; sẽ thử lại ở lượt sau")
        report.errors.append(f"lượt cảnh báo lỗi: {type(exc).__name__}")
    return report


# --- listing --------------------------------------------------------------------------------


def alerts_data(store: Store, limit: int = 200) -> dict[str, Any]:
    """Messages (newest first) and events no message carries yet, for `campaign-bot alerts` and the report."""
    with store.session() as s:
        msgs = s.exec(select(AlertMessage).order_by(col(AlertMessage.id).desc()).limit(limit)).all()
        waiting_items = s.exec(select(AlertItem).where(col(AlertItem.message).is_(None))).all()
        unrouted = s.exec(select(AlertEvent).order_by(col(AlertEvent.id).desc()).limit(limit)).all()
        carried = set(s.exec(select(AlertItem.event_id).where(
            col(AlertItem.event_id).in_([e.id for e in unrouted]))).all())
    waiting: dict[str, list[str]] = defaultdict(list)
    for i in waiting_items:
        waiting[i.type].append(i.recipient)
    return {
        "messages": [{
            "id": m.id, "to": m.recipient, "type": m.type, "subject": m.subject, "state": m.state,
            "events": m.events, "message_id": m.message_id, "created_at": m.created_at, "sent_at": m.sent_at,
            "attempts": m.attempts, "next_attempt_at": m.next_attempt_at if m.state == "retry" else None,
            "error": m.error,
        } for m in msgs],
        "waiting": {t: {"items": len(r), "recipients": sorted(set(r))} for t, r in waiting.items()},
        "events": [{
            "id": e.id, "type": e.type, "subject": e.subject, "at": e.at,
            "recipients": e.id in carried,
        } for e in unrouted],
    }
