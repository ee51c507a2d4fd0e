"""The planner's memory of what each channel received (bot.store.planning), on SQLite and PostgreSQL:
it never makes the planner choose differently from a planner that reads everything afresh."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert, select, text
from sqlmodel import Session

from bot.load import load_campaign
from bot.plan import plan
from bot.store import Delivery, Store, open_store
from bot.store.sync import sync_campaign


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


def chosen(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {d.channel_id: d.content_id for d in result.created}


def fresh_choice(store: Store, campaign, moment: datetime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What a planner with no memory (a new engine) would choose now, rolled back."""
    other = open_store(store.url)
    try:
        with Session(other.engine) as s:
            try:
                return chosen(plan(s, campaign, moment))
            finally:
                s.rollback()
    finally:
        other.close()


def _row(did: int, content: str, channel: str) -> dict[str, object]:
    when = at("2026-11-20T08:00")
    return {"id": did, "content_id": content, "channel_id": channel, "unit_id": channel.split("/")[0],
            "platform": channel.split("/")[1], "day": "2026-11-20", "due_at": when, "priority": 0, "state": "sent",
            "attempts": 1, "needs_check": False, "extra": {}, "created_at": when, "updated_at": when}


def test_a_rolled_back_plan_leaves_no_memory(mini: Path, any_store: Store) -> None:
    c = load_campaign(mini)
    sync_campaign(c, any_store)
    with any_store.session() as s:
        plan(s, c, at("2026-11-26T08:00"))
    with Session(any_store.engine) as s:  # what `preview` does: plan several days, then roll back
        try:
            plan(s, c, at("2026-11-27T08:00"))
            plan(s, c, at("2026-11-28T08:00"))
        finally:
            s.rollback()
    expected = fresh_choice(any_store, c, at("2026-11-27T08:00"))
    with any_store.session() as s:
        got = chosen(plan(s, c, at("2026-11-27T08:00")))
    assert got == expected and got  # the rolled-back choices did not count as posted


def test_deleted_deliveries_are_forgotten(mini: Path, any_store: Store) -> None:
    c = load_campaign(mini)
    sync_campaign(c, any_store)
    with any_store.session() as s:
        first = chosen(plan(s, c, at("2026-11-26T08:00")))
    with any_store.session() as s:  # the demo's reset forgets what it played
        s.execute(delete(Delivery))
    with any_store.session() as s:
        again = chosen(plan(s, c, at("2026-11-27T08:00")))
    assert again == first  # the same stories again: the memory of them was dropped


def test_a_pair_the_memory_missed_is_skipped_and_chosen_again(mini: Path, any_store: Store) -> None:
    """On PostgreSQL a row can commit below the last id the planner saw: the unique constraint catches it."""
    c = load_campaign(mini)
    sync_campaign(c, any_store)
    with any_store.session() as s:  # ids from 101 on, so that a row can hide below them
        if any_store.dialect == "postgresql":
            s.execute(text("SELECT setval('delivery_id_seq', 100)"))
        else:
            s.execute(insert(Delivery).values(_row(100, "khong-co", "khong-co/facebook")))
    with any_store.session() as s:
        plan(s, c, at("2026-11-26T08:00"))  # the planner now remembers up to the last id
    expected = fresh_choice(any_store, c, at("2026-11-27T08:00"))
    victim = "huyen-a/facebook"  # had 'a'; would get 'b' next, and may post its own 'c' too
    content = expected[victim]
    with any_store.session() as s:
        # a row the memory will never read (its id is below the last one seen), for the story it would choose
        s.execute(insert(Delivery).values(_row(50, content, victim)))
    with any_store.session() as s:
        got = chosen(plan(s, c, at("2026-11-27T08:00")))
    assert got.get(victim) not in (None, content)  # chosen again, not dropped, not duplicated
    assert got[victim] == "c" and {k: v for k, v in got.items() if k != victim} == {
        k: v for k, v in expected.items() if k != victim}
    with any_store.session() as s:
        pairs = s.execute(select(Delivery.content_id, Delivery.channel_id)).all()
    assert len(pairs) == len(set(pairs))
