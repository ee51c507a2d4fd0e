"""Last known good: a broken campaign folder never stops the campaign (issue 11).

Ticks go on from the version kept in the store, nothing of the broken version is used, every
read command still works and says at the top what is wrong, and a fixed folder is loaded next.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.lastgood import KEEP_VERSIONS, latest_version, load_running
from bot.pipeline import run_pass
from bot.store import CampaignVersion, ContentItem, Delivery, open_store
from tests.conftest import story, write

T0 = datetime.fromisoformat("2026-12-01T08:00+07:00").astimezone(UTC)
BROKEN_UNITS_LINE = "    level: district\n    parent: tinh\n    target: 300"


def deliveries(store, since: datetime | None = None) -> list[Delivery]:
    with store.session() as s:
        rows = s.exec(select(Delivery)).all()
    return [d for d in rows if since is None or (d.slot_at and d.slot_at >= since)]


def break_units(ws: Path) -> None:
    """A typo staff make: 'levle' for 'level' on huyen-a (line 11 of config/units.yaml)."""
    path = ws / "config/units.yaml"
    text = path.read_text(encoding="utf-8")
    assert BROKEN_UNITS_LINE in text
    path.write_text(text.replace(BROKEN_UNITS_LINE, BROKEN_UNITS_LINE.replace("level:", "levle:"), 1),
                    encoding="utf-8")


def test_broken_folder_runs_on_the_last_good_version_then_the_fix_is_loaded(mini: Path, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        first = run_pass(mini, store, {}, T0, force_outbox=True)
        assert first.folder.ok and first.planned == 6
        # A broken units.yaml and, in the same change, a valid new story with top priority.
        break_units(mini)
        write(mini, "content/moi.md", story(priority="9").replace("title: Bài", "title: Bài mới"))
        r = run_pass(mini, store, {}, T0 + timedelta(hours=1), force_outbox=True)
        assert not r.folder.ok
        assert any(p["file"] == "config/units.yaml" and p["line"] == 11 and "levle" in (p["field"] or "")
                   for p in r.folder.problems)
        # The next slot goes out on every channel, from the last good version.
        nxt = run_pass(mini, store, {}, T0 + timedelta(days=1), force_outbox=True)
        assert not nxt.folder.ok and nxt.folder.version_loaded_at == T0
        day2 = deliveries(store, T0 + timedelta(days=1))
        assert len(day2) == 6 and {d.state for d in day2} == {"sent"}
        # Nothing of the broken version is used, not even its valid new story.
        with store.session() as s:
            assert s.get(ContentItem, "moi") is None
        assert all(d.content_id != "moi" for d in deliveries(store))
        # Fixed: the next tick loads it, and the new story is planned first.
        text = (mini / "config/units.yaml").read_text(encoding="utf-8").replace("levle:", "level:")
        (mini / "config/units.yaml").write_text(text, encoding="utf-8")
        fixed = run_pass(mini, store, {}, T0 + timedelta(days=1, hours=3), force_outbox=True)
        assert fixed.folder.ok
        with store.session() as s:
            assert s.get(ContentItem, "moi") is not None
        run_pass(mini, store, {}, T0 + timedelta(days=2), force_outbox=True)
        day3 = deliveries(store, T0 + timedelta(days=2))
        assert {d.content_id for d in day3 if d.unit_id == "tinh"} == {"moi"}
    finally:
        store.close()


def test_snapshot_is_rebuilt_from_stored_texts_not_from_the_folder(sample: Path, tmp_path: Path) -> None:
    """The sample campaign (photos, banner assets): a broken folder rebuilds the exact stored version,
    with images still referenced in the real folder."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        good = load_running(sample, store, T0)
        assert good.folder.ok and good.new_version
        version = latest_version(store)
        assert version is not None and "config/units.yaml" in version.files and version.assets
        # Break a story file and delete another one: the rebuild must not notice either.
        stories = sorted((sample / "content").rglob("*.md"))
        stories = [p for p in stories if p.name.lower() != "readme.md"]
        stories[0].write_text("---\ntitle: [không đóng\n---\nx\n", encoding="utf-8")
        stories[1].unlink()
        broken = load_running(sample, store, T0 + timedelta(hours=1))
        assert not broken.folder.ok and broken.campaign is not None
        c = broken.campaign
        assert c.workspace == sample.resolve()
        assert c.config_hash == good.campaign.config_hash
        assert [s.id for s in c.stories] == [s.id for s in good.campaign.stories]
        with_images = [s for s in c.stories if s.images]
        assert with_images and all((sample / s.images[0]).is_file() for s in with_images)
        assert set(c.banners) == set(good.campaign.banners)
    finally:
        store.close()


def test_only_a_few_versions_are_kept(mini: Path, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        for i in range(KEEP_VERSIONS + 3):
            write(mini, "content/a.md", story().replace("Nội dung", f"Nội dung {i}"))
            assert load_running(mini, store, T0 + timedelta(minutes=i)).new_version
        assert not load_running(mini, store, T0 + timedelta(hours=1)).new_version  # unchanged: no new row
        with store.session() as s:
            assert len(s.exec(select(CampaignVersion)).all()) == KEEP_VERSIONS
    finally:
        store.close()


def test_every_read_command_works_on_a_broken_folder_and_says_so_at_the_top(mini: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(mini)]
    assert runner.invoke(cli, [*ws, "tick", "--now", "2026-12-01T08:00", "--outbox"]).exit_code == 0
    break_units(mini)
    check = runner.invoke(cli, [*ws, "check"])
    assert check.exit_code == 1 and "config/units.yaml:11" in check.output
    tick = runner.invoke(cli, [*ws, "tick", "--now", "2026-12-01T09:00", "--outbox"])
    assert tick.exit_code == 0, tick.output
    assert "config/units.yaml:11" in tick.output and "08:00 01/12/2026" in tick.output
    tick_json = runner.invoke(cli, [*ws, "tick", "--now", "2026-12-01T09:30", "--outbox", "--json"])
    assert tick_json.exit_code == 0
    summary = json.loads(tick_json.stdout)
    assert summary["folder"]["ok"] is False and summary["folder"]["problems"][0]["file"] == "config/units.yaml"

    for args in (["status"], ["channels", "--offline"], ["milestones"], ["alerts"]):
        result = runner.invoke(cli, [*ws, *args])
        assert result.exit_code == 0, (args, result.output)
        first = result.output.splitlines()[0]
        assert first.startswith("⚠ Thư mục chiến dịch có lỗi từ 09:00 01/12/2026"), (args, first)
        assert "config/units.yaml:11" in result.output
        assert "phiên bản hợp lệ nạp lúc 08:00 01/12/2026" in result.output
    status = runner.invoke(cli, [*ws, "status", "--json"])
    data = json.loads(status.stdout)
    assert data["folder"]["ok"] is False and 11 in [p["line"] for p in data["folder"]["problems"]]
    assert data["totals"]["sent"] == 6

    for cmd in ("preview", "report"):
        out = tmp_path / cmd
        result = runner.invoke(cli, [*ws, cmd, "--out", str(out)])
        assert result.exit_code == 0, (cmd, result.output)
        html = (out / "index.html").read_text(encoding="utf-8")
        assert "Thư mục chiến dịch có lỗi" in html and "config/units.yaml:11" in html, cmd


def test_a_folder_that_was_never_valid_still_stops_with_its_errors(mini: Path) -> None:
    break_units(mini)
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "tick", "--outbox"])
    assert result.exit_code == 1 and "config/units.yaml:11" in result.output


def test_several_processes_open_one_incident_on_both_stores(mini: Path, any_store) -> None:  # noqa: ANN001
    """Planners on several machines see the same broken folder at once: one folder.invalid event,
    then one folder.valid event."""
    import threading

    from bot.store import AlertEvent

    load_running(mini, any_store, T0)
    break_units(mini)
    stores = [open_store(any_store.url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def one(store, at: datetime) -> None:  # noqa: ANN001
        barrier.wait()
        try:
            load_running(mini, store, at)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        for phase, at in (("broken", T0 + timedelta(hours=1)), ("fixed", T0 + timedelta(hours=2))):
            if phase == "fixed":
                text = (mini / "config/units.yaml").read_text(encoding="utf-8").replace("levle:", "level:")
                (mini / "config/units.yaml").write_text(text, encoding="utf-8")
            threads = [threading.Thread(target=one, args=(st, at)) for st in stores]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        for st in stores:
            st.close()
    assert errors == []
    with any_store.session() as s:
        events = sorted(e.key for e in s.exec(select(AlertEvent)).all())
    assert events == ["folder.invalid:1", "folder.valid:1"]


def test_a_tick_with_nothing_changed_reads_no_file(mini: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Issue 15: the folder is listed, no campaign file is read or parsed; the running version is kept."""
    import os
    import time

    import bot.lastgood as lastgood
    from bot.reload import forget, reloader

    forget(mini.resolve())
    past = time.time() - 3600
    for path in mini.rglob("*"):
        os.utime(path, (past, past))
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        first = load_running(mini, store, T0)
        assert first.new_version and first.folder.version_id is not None

        def no_read(*args: object, **kwargs: object) -> None:
            raise AssertionError("a campaign file was read although nothing changed")

        monkeypatch.setattr(lastgood, "read_texts", no_read)
        monkeypatch.setattr(Path, "read_bytes", no_read)
        monkeypatch.setattr(Path, "read_text", no_read)
        again = load_running(mini, store, T0 + timedelta(minutes=1))
        assert again.campaign is first.campaign and not again.new_version
        assert again.folder.version_id == first.folder.version_id and reloader(mini.resolve()).parsed == 0
    finally:
        store.close()


def test_a_file_edited_while_loading_is_not_kept_as_the_good_version(mini: Path, tmp_path: Path) -> None:
    """The snapshot is the bytes the load parsed, or nothing: an edit between the load and the snapshot
    leaves the version unsaved (the next tick saves the edited one)."""
    from bot.lastgood import texts_as_loaded
    from bot.load import load_campaign

    load_campaign(mini, reuse=True)
    assert texts_as_loaded(mini.resolve()) is not None
    write(mini, "content/b.md", story().replace("Nội dung", "Sửa giữa chừng"))
    assert texts_as_loaded(mini.resolve()) is None
    write(mini, "content/moi.md", story())  # a new file the load did not read
    load_campaign(mini, reuse=True)
    assert texts_as_loaded(mini.resolve()) is not None
    (mini / "content/moi.md").unlink()
    assert texts_as_loaded(mini.resolve()) is None
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        running = load_running(mini, store, T0)
        assert running.new_version
        assert "content/b.md" in latest_version(store).files
        assert "Sửa giữa chừng" in latest_version(store).files["content/b.md"]
    finally:
        store.close()
