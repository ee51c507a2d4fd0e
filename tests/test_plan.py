"""The planner's rules, by example and as properties (hypothesis)."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.load import load_campaign
from bot.plan import Tree, in_quiet_hours, plan, quiet_end
from bot.store import ContentItem, Delivery, ScheduleSlot, open_store
from bot.store.sync import sync_campaign
from tests.conftest import MINI_CAMPAIGN, MINI_UNITS, story, write


def at(text: str) -> datetime:
    """Local campaign time (UTC+7) to UTC."""
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


def setup(ws: Path, db: Path):
    c = load_campaign(ws)
    store = open_store(f"sqlite:///{db}")
    sync_campaign(c, store)
    return c, store


def deliveries(store) -> list[Delivery]:
    with store.session() as s:
        return list(s.exec(select(Delivery)).all())


def test_slot_fills_each_channel_with_next_story_by_priority(mini: Path, tmp_path: Path) -> None:
    c, store = setup(mini, tmp_path / "s.db")
    with store.session() as s:
        result = plan(s, c, at("2026-11-26T08:00"))
    ds = {d.channel_id: d.content_id for d in result.created}
    # 'a' has priority 1 and cascades from the province to every unit
    assert ds == {
        "tinh/facebook": "a",
        "tinh/zalo": "a",
        "huyen-a/facebook": "a",
        "huyen-b/facebook": "a",
        "huyen-b/zalo": "a",
        "cs-a1/facebook": "a",
    }
    with store.session() as s:
        nxt = plan(s, c, at("2026-11-27T08:00"))
    by = {d.channel_id: d.content_id for d in nxt.created}
    # next day: huyen-a's own good practice ('c', approved the same day, id 'b' < 'c') — ties by approved_at then id
    assert by["tinh/facebook"] == "b"
    assert by["huyen-a/facebook"] == "b"
    with store.session() as s:
        third = plan(s, c, at("2026-11-28T08:00"))
    by = {d.channel_id: d.content_id for d in third.created}
    assert by["huyen-a/facebook"] == "c"  # own story of huyen-a
    assert "tinh/facebook" not in by  # nothing approved left for the province in these kinds
    assert any(e.channel_id == "tinh/facebook" for e in third.empty)


def test_planning_same_moment_twice_creates_nothing(mini: Path, tmp_path: Path) -> None:
    c, store = setup(mini, tmp_path / "s.db")
    now = at("2026-11-26T08:30")
    with store.session() as s:
        first = plan(s, c, now)
    with store.session() as s:
        second = plan(s, c, now)
    assert len(first.created) == 6 and second.created == [] and second.slots_filled == []


def test_missed_slot_is_filled_within_grace_once_and_never_after(mini: Path, tmp_path: Path) -> None:
    c, store = setup(mini, tmp_path / "s.db")
    with store.session() as s:  # 08:00 slot, grace 2h: at 09:59 it is still filled
        assert len(plan(s, c, at("2026-11-26T09:59")).created) == 6
    with store.session() as s:
        assert plan(s, c, at("2026-11-26T10:30")).created == []
    with store.session() as s:  # the 27th's slot is only seen after 10:00 on the 27th: missed for good
        late = plan(s, c, at("2026-11-27T10:01"))
        assert late.created == [] and late.slots_filled == []
        slots = s.exec(select(ScheduleSlot.slot_at)).all()
    assert len(slots) == 1


def test_quiet_hours_delay_due_time(mini: Path, tmp_path: Path) -> None:
    write(mini, "schedules/lich.yaml", """
        schedules:
          - id: toi
            cron: "0 22 * * *"
            kinds: [guide]
            units: [tinh]
        settings:
          quiet_hours: "21:30-06:30"
        """)
    c, store = setup(mini, tmp_path / "s.db")
    with store.session() as s:
        result = plan(s, c, at("2026-11-26T22:00"))
    assert {d.due_at for d in result.created} == {at("2026-11-27T06:30")}
    assert in_quiet_hours(c, at("2026-11-26T23:59")) and in_quiet_hours(c, at("2026-11-27T06:29"))
    assert not in_quiet_hours(c, at("2026-11-27T06:30"))
    assert quiet_end(c, at("2026-11-27T12:00")) == at("2026-11-27T12:00")


def test_daily_cap_and_not_before_and_expires(mini: Path, tmp_path: Path) -> None:
    write(mini, "schedules/lich.yaml", """
        schedules:
          - {id: s1, cron: "0 8 * * *", kinds: [initiative_story], units: [tinh], platforms: [facebook]}
          - {id: s2, cron: "0 9 * * *", kinds: [initiative_story], units: [tinh], platforms: [facebook]}
        settings: {daily_cap: 1}
        """)
    write(mini, "content/a.md", story(priority="5", not_before="2026-11-27"))
    write(mini, "content/b.md", story(priority="3", expires="2026-11-25"))
    c, store = setup(mini, tmp_path / "s.db")
    with store.session() as s:
        r8 = plan(s, c, at("2026-11-26T08:00"))
        r9 = plan(s, c, at("2026-11-26T09:00"))
    # 'a' is not yet allowed (not_before 27th), 'b' expired, 'nhap' is a draft: nothing on the 26th
    assert r8.created == [] and r9.created == []
    assert any("không còn" in e.reason for e in r8.empty)
    with store.session() as s:
        r27 = plan(s, c, at("2026-11-27T08:00"))
        r27b = plan(s, c, at("2026-11-27T09:00"))
    assert [d.content_id for d in r27.created] == ["a"]
    assert r27b.created == [] and any("daily_cap" in e.reason for e in r27b.empty)


def test_slogan_schedule_rotates_slogans(mini: Path, tmp_path: Path) -> None:
    write(mini, "schedules/lich.yaml", """
        schedules:
          - {id: kh, cron: "0 19 * * sun", slogan: true, units: {level: province}}
        """)
    c, store = setup(mini, tmp_path / "s.db")
    titles = []
    for day in ("2026-11-29", "2026-12-06", "2026-12-13"):
        with store.session() as s:
            r = plan(s, c, at(f"{day}T19:00"))
            assert {d.channel_id for d in r.created} == {"tinh/facebook", "tinh/zalo"}
            titles.append(s.get(ContentItem, r.created[0].content_id).title)
    assert titles == [c.config.slogans[0], c.config.slogans[1], c.config.slogans[0]]


# --- properties ---------------------------------------------------------------------------------

UNITS = ["tinh", "huyen-a", "huyen-b", "cs-a1"]
KINDS = ["initiative_story", "good_practice", "guide"]

story_st = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(KINDS),
        "unit": st.sampled_from(UNITS),
        "audience": st.sampled_from(["own", "cascade", "all"]),
        "priority": st.integers(0, 3),
        "approved": st.booleans(),
        "day": st.integers(1, 20),
        "nb": st.one_of(st.none(), st.integers(0, 6)),
        "exp": st.one_of(st.none(), st.integers(0, 6)),
    }
)
schedule_st = st.fixed_dictionaries(
    {
        "hour": st.integers(0, 23),
        "minute": st.sampled_from([0, 30]),
        "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True),
        "units": st.sampled_from(["all", "[tinh]", "{level: district}", "[huyen-a, cs-a1]"]),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stories=st.lists(story_st, min_size=1, max_size=8),
    schedules=st.lists(schedule_st, min_size=1, max_size=3),
    cap=st.integers(1, 3),
    ticks=st.lists(st.integers(0, 7 * 24 * 2), min_size=1, max_size=12),
)
def test_planner_properties(stories, schedules, cap, ticks) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        ws = root / "ws"
        write(ws, "config/campaign.yaml", MINI_CAMPAIGN)
        write(ws, "config/units.yaml", MINI_UNITS)
        lines = ["schedules:"]
        for i, sc in enumerate(schedules):
            lines.append(f"  - {{id: s{i}, cron: \"{sc['minute']} {sc['hour']} * * *\", kinds: [{', '.join(sc['kinds'])}], "
                         f"units: {sc['units']}, grace: 3h}}")
        lines.append(f"settings: {{quiet_hours: \"21:30-06:30\", daily_cap: {cap}}}")
        write(ws, "schedules/lich.yaml", "\n".join(lines) + "\n")
        for i, sd in enumerate(stories):
            extra = {"priority": str(sd["priority"])}
            if sd["nb"] is not None:
                extra["not_before"] = f"2026-11-{26 + sd['nb']:02d}" if 26 + sd["nb"] <= 30 else f"2026-12-{sd['nb'] - 4:02d}"
            if sd["exp"] is not None:
                extra["expires"] = f"2026-11-{26 + sd['exp']:02d}" if 26 + sd["exp"] <= 30 else f"2026-12-{sd['exp'] - 4:02d}"
            text = story(sd["kind"], sd["unit"], sd["audience"], **extra).replace("2026-11-01", f"2026-11-{sd['day']:02d}")
            if not sd["approved"]:
                text = text.replace("approved: true", "approved: false")
            write(ws, f"content/s{i}.md", text)
        c = load_campaign(ws)
        store = open_store(f"sqlite:///{root / 's.db'}")
        sync_campaign(c, store)
        start = at("2026-11-26T00:00")
        moments = sorted({start + timedelta(minutes=30 * t) for t in ticks})
        for m in moments + moments:  # every moment twice: the second pass must add nothing
            with store.session() as s:
                plan(s, c, m)
        tree = Tree(c)
        with store.session() as s:
            ds = list(s.exec(select(Delivery)).all())
            content = {ci.id: ci for ci in s.exec(select(ContentItem)).all()}
        pairs = Counter((d.content_id, d.channel_id) for d in ds)
        assert all(n == 1 for n in pairs.values()), "a story planned twice on one channel"
        per_day = Counter((d.channel_id, d.day) for d in ds if d.schedule_id)
        assert all(n <= cap for n in per_day.values()), "daily cap exceeded"
        for d in ds:
            ci = content[d.content_id]
            assert ci.approved, "unapproved content planned"
            assert not in_quiet_hours(c, d.due_at), "due inside quiet hours"
            sched = next(sc for i, sc in enumerate(schedules) if f"s{i}" == d.schedule_id)
            assert ci.kind in sched["kinds"]
            assert tree.may_post(d.unit_id, ci.unit_id, ci.audience), "audience not respected"
            assert ci.not_before is None or ci.not_before <= d.slot_at
            assert ci.expires is None or ci.expires > d.slot_at
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
