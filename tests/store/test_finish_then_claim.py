"""A delivery's finish and the claim of its channel's next one, in one statement (issue 15), on SQLite
and PostgreSQL: the finish is fenced, its audit row written, and the next delivery claimed only when
the finish went through and the channel may post now — else the channel's lease is given back, unless
an edit or removal is due on it or the lease is not this worker's; a worker's drain counts a refused
finish as ``lease-lost`` and claims nothing after it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select

from bot.store import AuditLog, ChannelState, Delivery, DeliveryState, Store, utcnow
from bot.store import deliveries as queue
from bot.store.models import PostAction
from bot.worker import Worker
from tests.worker_fleet import make_workspace, page_ids, seed


@pytest.fixture()
def fleet(any_store: Store, tmp_path: Path):
    """2 Pages × 3 stories, due now, posted to the outbox."""
    pages = page_ids(2)
    seeded = seed(any_store, make_workspace(tmp_path, pages), pages, 3)
    return any_store, seeded


def _worker(seeded, store: Store, owner: str = "w") -> Worker:
    return Worker(seeded.campaign, store, {}, owner=owner, force_outbox=True, heartbeat=False)


def _finish_then_claim(store: Store, w: Worker, d):
    now = utcnow()
    return queue.finish_then_claim(store, w.owner, d, now, now + timedelta(minutes=5), now, app=queue.NO_APP,
                                   state=DeliveryState.SENT, platform_post_id=f"post_{d.id}", sent_at=now,
                                   extra_update={"url": "https://example.org/p"})


def _lease(store: Store, channel_id: str) -> str | None:
    with store.session() as s:
        st = s.get(ChannelState, channel_id)
        assert st is not None
        return st.lease_owner


def _row(store: Store, delivery_id: int) -> Delivery:
    with store.session() as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        s.expunge(row)
        return row


def test_the_finish_is_recorded_with_its_audit_row_and_the_next_delivery_claimed_with_its_story(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    (d,) = w.claim_batch(1)
    ok, nxt, released = _finish_then_claim(store, w, d)
    assert ok and not released
    assert _lease(store, d.channel_id) == w.owner
    done = _row(store, d.id)
    assert done.state == DeliveryState.SENT and done.platform_post_id == f"post_{d.id}"
    assert done.lease_owner is None and done.extra["url"] == "https://example.org/p"
    assert nxt is not None and nxt.id != d.id and nxt.channel_id == d.channel_id
    assert nxt.state == DeliveryState.SENDING and nxt.lease_owner == w.owner and nxt.attempts == 1
    assert nxt.content is not None and nxt.content.id == nxt.content_id and nxt.content.body
    assert _row(store, nxt.id).state == DeliveryState.SENDING
    with store.session() as s:
        audit = s.exec(select(AuditLog).where(AuditLog.subject == str(d.id))).all()
    assert [(a.action, a.detail["post"]) for a in audit] == [("delivery.sent", f"post_{d.id}")]


def test_a_refused_fence_records_nothing_and_claims_nothing(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    (d,) = w.claim_batch(1)
    with store.session() as s:  # the lease ran out and another worker holds the row now
        s.execute(update(Delivery).where(Delivery.id == d.id).values(lease_owner="other#1"))
    assert _finish_then_claim(store, w, d) == (False, None, False)
    assert _lease(store, d.channel_id) == w.owner  # the drain gives it back itself
    assert _row(store, d.id).state == DeliveryState.SENDING
    with store.session() as s:
        sending = s.exec(select(Delivery.id).where(Delivery.state == DeliveryState.SENDING)).all()
        audit = s.exec(select(AuditLog).where(AuditLog.subject == str(d.id))).all()
    assert sending == [d.id] and audit == []


@pytest.mark.parametrize("why", ["paused", "another in sending", "lease gone", "queue empty"])
def test_the_finish_goes_through_but_nothing_is_claimed_when_the_channel_may_not_post(fleet, why: str) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    (d,) = w.claim_batch(1)
    with store.session() as s:
        if why == "paused":
            s.execute(update(ChannelState).where(ChannelState.channel_id == d.channel_id)
                      .values(paused_until=utcnow() + timedelta(minutes=5)))
        elif why == "another in sending":  # e.g. one settling after an unclear answer
            other = s.exec(select(Delivery.id).where(Delivery.channel_id == d.channel_id, Delivery.id != d.id)).first()
            s.execute(update(Delivery).where(Delivery.id == other).values(
                state=DeliveryState.SENDING, lease_owner="w#settle", lease_until=utcnow() + timedelta(minutes=1)))
        elif why == "lease gone":
            s.execute(update(ChannelState).where(ChannelState.channel_id == d.channel_id).values(lease_owner="x#1"))
        else:
            s.execute(update(Delivery).where(Delivery.channel_id == d.channel_id, Delivery.id != d.id)
                      .values(state=DeliveryState.SENT))
    ok, nxt, released = _finish_then_claim(store, w, d)
    assert ok and nxt is None
    assert _row(store, d.id).state == DeliveryState.SENT
    # the drain is over: the lease goes back with the finish, unless it is not this worker's
    assert released == (why != "lease gone")
    assert _lease(store, d.channel_id) == ("x#1" if why == "lease gone" else None)
    with store.session() as s:
        mine = s.exec(select(Delivery.id).where(Delivery.lease_owner == w.owner)).all()
    assert mine == []


def test_a_due_edit_keeps_the_channel_for_the_drain_to_claim(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    (d,) = w.claim_batch(1)
    with store.session() as s:  # an edit of a post of this channel became due meanwhile
        s.add(PostAction(delivery_id=d.id, content_id=d.content_id, channel_id=d.channel_id, unit_id=d.unit_id,
                         platform=d.platform, action="edit", version=2, due_at=utcnow() - timedelta(seconds=1),
                         target_post_id="1_2"))
    ok, nxt, released = _finish_then_claim(store, w, d)
    assert ok and not released
    assert nxt is None or queue.is_action(nxt)  # PostgreSQL leaves the edit to claim_next; SQLite claims it
    assert _lease(store, d.channel_id) == w.owner
    nxt = nxt or w.claim_next(d.channel_id)
    assert nxt is not None and queue.is_action(nxt) and nxt.action == "edit"


def test_a_drain_posts_every_delivery_once_with_one_audit_row_each(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    report = w.run_once()
    w.close()
    assert report.outcomes == Counter({"sent": len(seeded.ids)})
    with store.session() as s:
        states = Counter(s.exec(select(Delivery.state)).all())
        audit = Counter(s.exec(select(AuditLog.subject).where(AuditLog.action == "delivery.sent")).all())
        leased = s.exec(select(ChannelState).where(ChannelState.lease_owner.is_not(None))).all()
    assert states == {DeliveryState.SENT: len(seeded.ids)}
    assert sorted(int(k) for k in audit) == seeded.ids and set(audit.values()) == {1}
    assert leased == []


def test_a_drain_whose_finish_is_refused_counts_it_lease_lost_and_stops_the_channel(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    stolen: list[int] = []
    deliver = w.deliver

    def deliver_then_lose_the_lease(d):
        outcome = deliver(d)
        if not stolen:  # the lease runs out and another worker takes the row before the finish is written
            stolen.append(d.id)
            with store.session() as s:
                s.execute(update(Delivery).where(Delivery.id == d.id).values(lease_owner="other#1"))
        return outcome

    w.deliver = deliver_then_lose_the_lease  # type: ignore[method-assign]
    report = w.run_once()
    w.close()
    (lost,) = stolen
    lost_row = _row(store, lost)
    assert report.outcomes["lease-lost"] == 1
    assert lost_row.state == DeliveryState.SENDING and lost_row.lease_owner == "other#1"  # not overwritten
    with store.session() as s:
        by_channel = Counter((r.channel_id, r.state) for r in s.exec(select(Delivery)).all())
    # that channel stopped for this pass; the other was drained
    assert by_channel[(lost_row.channel_id, DeliveryState.SENT)] == 0
    assert report.outcomes["sent"] == 3


def test_a_store_error_while_recording_is_one_error_and_the_pass_goes_on(fleet, monkeypatch) -> None:
    """The kept-back finish fails to reach the store: that delivery stays in ``sending`` (it is reclaimed and
    checked on the platform), the channel is released, and the other channel is still served."""
    store, seeded = fleet
    w = _worker(seeded, store)
    real, failed = queue.finish_then_claim, []

    def once_broken(*args, **kwargs):
        if not failed:
            failed.append(args[2].id)
            raise OSError("mất kết nối tới cơ sở dữ liệu")
        return real(*args, **kwargs)

    monkeypatch.setattr(queue, "finish_then_claim", once_broken)
    report = w.run_once()
    w.close()
    (broken,) = failed
    row = _row(store, broken)
    assert report.outcomes["error"] == 1 and report.outcomes["sent"] == 3
    assert row.state == DeliveryState.SENDING and row.lease_owner == w.owner  # reclaimed once its lease ends
    assert _lease(store, row.channel_id) is None


def test_the_chained_statement_of_a_sent_post_stays_within_psycopgs_cache_of_parsed_queries() -> None:
    """psycopg keeps the parsed form of a query of at most 4 KiB and 50 parameters; a longer one is
    converted again at every call (0.15 ms of client CPU per delivery, issue 15). The longest finish
    on the hot path is a sent post whose platform gave a link (its ``extra`` is written too)."""
    from psycopg import _queries
    from sqlalchemy.dialects import postgresql

    from bot.store.queue_sql import finish_then_claim_stmt

    values = dict(state=1, needs_check=0, platform_post_id=1, reason=1, sent_at=1, next_attempt_at=1,
                  post_version=1, extra=1)
    compiled = finish_then_claim_stmt(tuple(sorted(queue._finish_values(values, utcnow())))).compile(
        dialect=postgresql.psycopg.dialect())
    assert len(str(compiled).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(compiled.params) <= _queries.MAX_CACHED_STATEMENT_PARAMS


def test_a_batch_lease_claims_each_channels_first_due_delivery_with_its_story(fleet) -> None:
    """The lease of a batch of channels comes with each one's next delivery in ``sending`` (on PostgreSQL
    in the same statement): the highest priority first, then the earliest due — never one that is not due."""
    store, seeded = fleet
    now = utcnow()
    with store.session() as s:
        rows = s.exec(select(Delivery).order_by(Delivery.channel_id, Delivery.id)).all()
        by_channel: dict[str, list[Delivery]] = {}
        for r in rows:
            by_channel.setdefault(r.channel_id, []).append(r)
        (a1, a2, a3), (b1, b2, b3) = by_channel.values()
        s.execute(update(Delivery).where(Delivery.id == a3.id).values(priority=5))  # a milestone: first
        s.execute(update(Delivery).where(Delivery.id == b1.id).values(due_at=now + timedelta(hours=1)))  # not due yet
        s.execute(update(Delivery).where(Delivery.id == b2.id).values(due_at=now - timedelta(hours=2)))
    w = _worker(seeded, store)
    claimed = {d.channel_id: d for d in w.claim_batch(8)}
    assert {c: d.id for c, d in claimed.items()} == {a3.channel_id: a3.id, b2.channel_id: b2.id}
    for d in claimed.values():
        assert d.state == DeliveryState.SENDING and d.lease_owner == w.owner and d.attempts == 1
        assert d.content is not None and d.content.id == d.content_id and d.content.body
        assert _row(store, d.id).state == DeliveryState.SENDING
        assert _lease(store, d.channel_id) == w.owner
    with store.session() as s:
        sending = s.exec(select(Delivery.id).where(Delivery.state == DeliveryState.SENDING)).all()
    assert sorted(sending) == sorted([a3.id, b2.id])
    assert w._sending == {a3.id, b2.id}  # renewed by the heartbeat from now on
    assert _worker(seeded, store, owner="other").claim_batch(8) == []  # both channels busy


def test_a_batch_lease_gives_a_channel_its_due_edit_before_its_next_delivery(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    report = w.run_once()  # every post goes out
    assert report.outcomes["sent"] == 6
    with store.session() as s:
        sent = s.exec(select(Delivery).order_by(Delivery.channel_id, Delivery.id)).all()
        edited, waiting, elsewhere = sent[0], sent[1], sent[-1]
        assert waiting.channel_id == edited.channel_id != elsewhere.channel_id
        s.add(PostAction(delivery_id=edited.id, content_id=edited.content_id, channel_id=edited.channel_id,
                         unit_id=edited.unit_id, platform=edited.platform, action="edit", version=2,
                         due_at=utcnow() - timedelta(seconds=1), target_post_id=edited.platform_post_id))
        # a post is due again on the same channel, and one on the other channel
        s.execute(update(Delivery).where(Delivery.id.in_([waiting.id, elsewhere.id])).values(  # type: ignore[union-attr]
            state=DeliveryState.PENDING, sent_at=None, platform_post_id=None, attempts=0))
    claimed = {item.channel_id: item for item in _worker(seeded, store, owner="w2").claim_batch(8)}
    assert set(claimed) == {edited.channel_id, elsewhere.channel_id}
    first = claimed[edited.channel_id]
    assert queue.is_action(first) and first.action == "edit" and first.state == DeliveryState.SENDING
    assert _row(store, waiting.id).state == DeliveryState.PENDING  # waits for the edit
    other = claimed[elsewhere.channel_id]
    assert not queue.is_action(other) and other.id == elsewhere.id


def test_quiet_hours_lease_claims_no_delivery_with_the_channel(fleet) -> None:
    store, seeded = fleet
    w = _worker(seeded, store)
    w._actions_only = True  # what run_once sets in quiet hours
    assert w.claim_batch(8) == []
    with store.session() as s:
        assert s.exec(select(Delivery.id).where(Delivery.state == DeliveryState.SENDING)).all() == []
        assert s.exec(select(ChannelState.channel_id).where(ChannelState.lease_owner.is_not(None))).all() == []  # type: ignore[union-attr]
