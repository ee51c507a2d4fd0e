"""The staff dashboard's figures, for a reviewer's own branch only (the unit and the units below it).

Why its own small query and not `status`'s printer: a page must never show another branch's channels
or submissions, so every figure here is filtered by the reviewer's subtree before it is counted.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select

from bot.load import Campaign
from bot.store import ChannelState, Delivery, DeliveryState, Store, utcnow
from bot.store.intake import Submission, SubmissionState
from bot.store.models import open_state

DELIVERY_LABELS = {
    DeliveryState.SENT: "đã đăng",
    DeliveryState.PENDING: "đang chờ giờ đăng",
    DeliveryState.RETRY: "đang thử lại",
    DeliveryState.FAILED: "lỗi hẳn",
}
INTAKE_LABELS = {
    SubmissionState.NEW: "chờ duyệt",
    SubmissionState.APPROVED: "đã duyệt",
    SubmissionState.REJECTED: "không đăng",
}


def figures(store: Store, campaign: Campaign, scope: set[str]) -> dict[str, Any]:
    ids = sorted(scope)
    with store.session() as s:
        intake = dict(s.exec(select(Submission.state, func.count()).where(Submission.unit_id.in_(ids))
                             .group_by(Submission.state)).all())
        deliveries = dict(s.exec(select(Delivery.state, func.count()).where(Delivery.unit_id.in_(ids))
                                 .group_by(Delivery.state)).all())
        upcoming = list(s.exec(select(Delivery).where(Delivery.unit_id.in_(ids), open_state(Delivery.__table__),  # type: ignore[attr-defined]
                                                      Delivery.due_at >= utcnow())
                               .order_by(Delivery.due_at).limit(30)).all())
        per_unit_rows = s.exec(select(Delivery.unit_id, Delivery.state, func.count()).where(Delivery.unit_id.in_(ids))
                               .group_by(Delivery.unit_id, Delivery.state)).all()
        held = [h for h in s.exec(select(ChannelState).where(ChannelState.status == "held")).all()
                if h.channel_id.split("/", 1)[0] in scope]
    per_unit: dict[str, dict[str, int]] = {}
    for unit_id, state, n in per_unit_rows:
        per_unit.setdefault(unit_id, {})[state] = n
    units = [(u.id, u.short_name or u.name, per_unit.get(u.id, {})) for u in campaign.units if u.id in scope]
    return {
        "units": units[:500],
        "intake": [(label, intake.get(state, 0)) for state, label in INTAKE_LABELS.items()],
        "deliveries": [(label, deliveries.get(state, 0)) for state, label in DELIVERY_LABELS.items()],
        "upcoming": upcoming,
        "held": held,
    }
