"""End to end on SQLite and the outbox: ticks, idempotence, crash reconciliation, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.load import load_campaign
from bot.pipeline import tick
from bot.store import Delivery, DeliveryState, open_store
from bot.store.sync import sync_campaign
from bot.worker import Worker


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


def outbox_files(ws: Path) -> list[Path]:
    return sorted((ws / "outbox").glob("*/*/*.json"))


def run(ws: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_tick_twice_at_same_moment_posts_nothing_the_second_time(mini: Path) -> None:
    run(mini, "tick", "--now", "2026-11-26T08:00")
    first = outbox_files(mini)
    assert len(first) == 6
    out = json.loads(run(mini, "tick", "--now", "2026-11-26T08:00", "--json"))
    assert out["deliveries_planned"] == 0 and out["outcomes"] == {}
    assert outbox_files(mini) == first


def test_outbox_record_is_exactly_the_post(mini: Path) -> None:
    run(mini, "tick", "--now", "2026-11-26T08:00")
    record = json.loads((mini / "outbox/huyen-b/zalo").glob("*.json").__next__().read_text())
    assert set(record) >= {"delivery_id", "content_id", "unit", "platform", "text", "hashtags", "link", "image"}
    assert record["unit"] == "huyen-b" and record["platform"] == "zalo" and record["content_id"] == "a"
    assert record["text"].endswith("#1TrieuSangKien")
    assert "Nội dung bài viết" in record["text"]


def test_status_json_matches_outbox(mini: Path) -> None:
    for moment in ("2026-11-26T08:00", "2026-11-27T08:00", "2026-11-28T08:00"):
        run(mini, "tick", "--now", moment)
    data = json.loads(run(mini, "status", "--json"))
    files = outbox_files(mini)
    per_channel: dict[str, int] = {}
    for f in files:
        rec = json.loads(f.read_text())
        key = f"{rec['unit']}/{rec['platform']}"
        per_channel[key] = per_channel.get(key, 0) + 1
    assert {cid: e["states"]["sent"] for cid, e in data["channels"].items() if e["states"]["sent"]} == per_channel
    assert data["totals"]["sent"] == len(files)


def test_quiet_hours_hold_posts_until_morning(mini: Path, tmp_path: Path) -> None:
    (mini / "schedules/lich.yaml").write_text(
        'schedules:\n  - {id: toi, cron: "0 22 * * *", kinds: [guide], units: [tinh]}\n'
        'settings: {quiet_hours: "21:30-06:30"}\n',
        encoding="utf-8",
    )
    c = load_campaign(mini)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    r = tick(c, store, {}, at("2026-11-26T22:00"))
    assert r.planned == 2 and r.worker.outcomes["sent"] == 0
    r = tick(c, store, {}, at("2026-11-27T06:00"))
    assert r.worker.outcomes["sent"] == 0
    r = tick(c, store, {}, at("2026-11-27T06:30"))
    assert r.worker.outcomes["sent"] == 2


def test_crash_mid_send_is_reconciled_not_resent(mini: Path, tmp_path: Path) -> None:
    """A delivery left in 'sending' (the process died) is checked before any resend."""
    c = load_campaign(mini)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    now = at("2026-11-26T08:00")
    tick(c, store, {}, now, publish=False)
    w = Worker(c, store, {}, owner="dead-worker")
    w.clock.set(now)
    with store.session() as s:
        d = s.exec(select(Delivery).where(Delivery.channel_id == "tinh/facebook")).one()
    # the dead worker claimed it and the post reached the outbox, but the process died before recording it
    assert w._claim(d)
    from bot.posts import build_post

    with store.session() as s:
        from bot.store import ContentItem

        content = s.get(ContentItem, d.content_id)
    w.channel(d.channel_id).publish(build_post(d, content, c, []))
    files_before = outbox_files(mini)
    # a second delivery was claimed but never reached the platform
    with store.session() as s:
        d2 = s.exec(select(Delivery).where(Delivery.channel_id == "huyen-a/facebook")).one()
    assert w._claim(d2)

    later = now + timedelta(minutes=10)  # leases (5 min) have expired
    report = tick(c, store, {}, later)
    assert report.worker.outcomes["reclaimed"] == 2
    assert report.worker.outcomes["reconciled"] == 1
    with store.session() as s:
        states = {x.channel_id: (x.state, x.extra.get("reconciled")) for x in s.exec(select(Delivery)).all()}
    assert states["tinh/facebook"] == (DeliveryState.SENT, True)
    assert states["huyen-a/facebook"][0] == DeliveryState.SENT
    files = outbox_files(mini)
    assert len([f for f in files if "/tinh/facebook/" in f.as_posix()]) == 1
    assert len(files) == len(files_before) + 5


def test_unapproving_a_planned_story_skips_it(mini: Path, tmp_path: Path) -> None:
    c = load_campaign(mini)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    tick(c, store, {}, at("2026-11-26T08:00"), publish=False)
    p = mini / "content/a.md"
    p.write_text(p.read_text().replace("approved: true", "approved: false"), encoding="utf-8")
    c = load_campaign(mini)
    sync_campaign(c, store)
    r = tick(c, store, {}, at("2026-11-26T08:05"))
    assert r.worker.outcomes["skipped"] == 6 and r.worker.outcomes["sent"] == 0


def test_an_outbox_folder_linked_outside_holds_the_channel_and_writes_nothing_there(mini: Path, tmp_path: Path) -> None:
    """A unit's outbox folder that is a symlink out of the workspace is never followed (issue 12).

    `check` refuses such a link; this is the link made after the folder was loaded."""
    c = load_campaign(mini)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("giữ nguyên", encoding="utf-8")
    (mini / "outbox/tinh").mkdir(parents=True)
    (mini / "outbox/tinh/facebook").symlink_to(elsewhere, target_is_directory=True)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    r = tick(c, store, {}, at("2026-11-26T08:00"))
    assert "tinh/facebook" in r.worker.held
    assert sorted(p.name for p in elsewhere.iterdir()) == ["notes.txt"]
    with store.session() as s:
        d = s.exec(select(Delivery).where(Delivery.channel_id == "tinh/facebook")).one()
    assert d.state == DeliveryState.PENDING  # waiting on the held channel, not lost
    assert r.worker.outcomes["sent"] >= 5  # every other channel posted
