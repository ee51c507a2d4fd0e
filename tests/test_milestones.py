"""Milestone announcements: thresholds crossed by imported readings are announced once, ever."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlmodel import select

from bot import milestones
from bot.cli import cli
from bot.load import Campaign, load_campaign
from bot.plan import MILESTONE_PRIORITY
from bot.posts import banner_context, compose_text, render_banner_for
from bot.store import ContentItem, Delivery, Meta, MilestoneFiring, Store, open_store
from bot.store.sync import sync_campaign
from tests.conftest import REPO, write
from tests.fakes.metric_server import metric_server

PROVINCE_RULE = """
  - id: moc-tinh
    metric: initiatives
    unit: tinh
    thresholds: [500, 1000]
    announce_to: cascade
    banner: null
    message: "Toàn tỉnh đã có {{ value | so }} sáng kiến, đạt {{ percent }}% chỉ tiêu ({{ phase }}). {{ slogan }}"
"""
DISTRICT_RULE = """
  - id: chi-tieu-huyen
    metric: initiatives
    units: {level: district}
    thresholds: ["100%", "120%"]
    announce_to: own
    banner: null
    message: "{{ unit.name }} đã hoàn thành {{ percent }}% chỉ tiêu với {{ value | so }} sáng kiến (mốc {{ threshold }})!"
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


NOW = at("2026-11-26T10:00")


def set_rules(ws: Path, *rules: str, source: str = "metric_source:\n  csv: data/\n") -> None:
    write(ws, "config/milestones.yaml", source + "milestones:\n" + "".join(r.strip("\n") + "\n" for r in rules))


def put_csv(ws: Path, name: str, *rows: str) -> Path:
    return write(ws, f"data/{name}", "\n".join(["unit,metric,value,at", *rows]) + "\n")


class Bot:
    """A campaign folder and its store, reopened at will (a restart)."""

    def __init__(self, ws: Path, url: str) -> None:
        self.ws, self.url = ws, url
        self.campaign: Campaign = load_campaign(ws)
        self.store: Store = open_store(url)
        sync_campaign(self.campaign, self.store)

    def restart(self) -> None:
        self.store.close()
        self.campaign = load_campaign(self.ws)
        self.store = open_store(self.url)
        sync_campaign(self.campaign, self.store)

    def check(self, now: datetime = NOW, env: dict[str, str] | None = None) -> list[str]:
        return milestones.check(self.campaign, self.store, env or {}, now)

    def deliveries(self, content_id: str | None = None) -> list[Delivery]:
        with self.store.session() as s:
            q = select(Delivery)
            if content_id:
                q = q.where(Delivery.content_id == content_id)
            return sorted(s.exec(q).all(), key=lambda d: d.channel_id)

    def firings(self) -> list[MilestoneFiring]:
        with self.store.session() as s:
            return sorted(s.exec(select(MilestoneFiring)).all(), key=lambda f: (f.rule_id, f.unit_id, f.threshold))

    def item(self, content_id: str) -> ContentItem | None:
        with self.store.session() as s:
            return s.get(ContentItem, content_id)


@pytest.fixture
def bot(mini: Path, tmp_path: Path) -> Iterator[Bot]:
    set_rules(mini, PROVINCE_RULE, DISTRICT_RULE)
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    yield b
    b.store.close()


# --- crossing a province threshold ------------------------------------------------------------


def test_csv_crossing_a_province_threshold_announces_once_per_channel_of_the_audience(bot: Bot) -> None:
    put_csv(bot.ws, "thang-10.csv", "tinh,initiatives,100,2026-10-31T17:00", "huyen-a,initiatives,150,2026-10-31T17:00")
    assert bot.check(at("2026-11-01T10:00")) == []  # 250: below 500
    put_csv(bot.ws, "thang-11.csv", "huyen-a,initiatives,250,2026-11-20T17:00", "huyen-b,initiatives,120,2026-11-20T17:00",
            "cs-a1,initiatives,40,2026-11-20T17:00")
    made = bot.check()
    # 100 + 250 + 120 + 40 = 510: the province crosses 500 (its districts are below their 100%).
    assert len(made) == 1 and made[0].startswith("[moc-tinh]") and "500" in made[0] and "6 kênh" in made[0]
    cid = "milestone/moc-tinh/tinh/500"
    deliveries = bot.deliveries()
    # cascade: every channel of the province and of every unit below it, exactly once each.
    assert [d.channel_id for d in deliveries] == [
        "cs-a1/facebook", "huyen-a/facebook", "huyen-b/facebook", "huyen-b/zalo", "tinh/facebook", "tinh/zalo",
    ]
    assert {d.content_id for d in deliveries} == {cid}
    assert all(d.priority == MILESTONE_PRIORITY and d.schedule_id is None and d.due_at == NOW for d in deliveries)
    item = bot.item(cid)
    assert item is not None and item.kind == "milestone" and item.approved and "moc-tinh" in (item.approved_by or "")
    assert item.body == (
        "Toàn tỉnh đã có 510 sáng kiến, đạt 51% chỉ tiêu (Giai đoạn 1). Tự hào trí tuệ lao động Việt Nam"
    )
    assert item.title == "Toàn tỉnh đã có 510 sáng kiến, đạt 51% chỉ tiêu (Giai đoạn 1)."
    assert item.banner_data["value"] == 510 and item.banner_data["max"] == 1000 and item.banner_data["percent"] == "51"
    assert item.banner_data["threshold"] == 500 and item.banner_data["phase"] == "Giai đoạn 1"
    assert compose_text(item, bot.campaign).startswith("Toàn tỉnh đã có 510 sáng kiến")
    [firing] = bot.firings()
    assert (firing.threshold, firing.announced, firing.value, firing.content_id) == ("500", True, 510.0, cid)

    # The same files again, a tick later, the same file copied under another name: nothing new.
    assert bot.check(NOW + timedelta(minutes=1)) == []
    shutil.copy(bot.ws / "data/thang-11.csv", bot.ws / "data/ban-sao.csv")
    assert bot.check(NOW + timedelta(minutes=2)) == []
    # A later file with lower numbers: nothing either (and the higher number stays fired).
    put_csv(bot.ws, "thang-11-b.csv", "huyen-a,initiatives,100,2026-11-25T17:00")
    assert bot.check(NOW + timedelta(minutes=3)) == []
    assert len(bot.deliveries()) == 6 and len(bot.firings()) == 1


def test_value_that_falls_and_rises_again_is_not_announced_twice(bot: Bot) -> None:
    put_csv(bot.ws, "1.csv", "huyen-b,initiatives,210,2026-11-01")
    assert len(bot.check()) == 1  # 105% of 200
    put_csv(bot.ws, "2.csv", "huyen-b,initiatives,150,2026-11-05")  # a correction downwards
    assert bot.check(NOW + timedelta(hours=1)) == []
    put_csv(bot.ws, "3.csv", "huyen-b,initiatives,220,2026-11-10")  # up again past 100%, not yet 120%
    assert bot.check(NOW + timedelta(hours=2)) == []
    assert [(f.unit_id, f.threshold) for f in bot.firings()] == [("huyen-b", "100%")]


# --- jumps --------------------------------------------------------------------------------------


def test_jump_from_45_to_130_percent_announces_exceeded_and_records_reached_as_passed(bot: Bot) -> None:
    # 90 → 260 is below the suspicious-jump factor (3×): announced at once (a bigger jump is held,
    # see test_a_suspicious_jump_is_held_until_confirmed).
    put_csv(bot.ws, "1.csv", "huyen-b,initiatives,90,2026-11-01")  # 45% of 200
    assert bot.check() == []
    put_csv(bot.ws, "2.csv", "huyen-b,initiatives,260,2026-11-20")  # 130%
    made = bot.check(NOW + timedelta(minutes=1))
    assert len(made) == 1 and "120% chỉ tiêu" in made[0] and "đã vượt qua cả mốc 100% chỉ tiêu" in made[0]
    cid = "milestone/chi-tieu-huyen/huyen-b/120%"
    firings = {f.threshold: f for f in bot.firings() if f.rule_id == "chi-tieu-huyen"}
    assert set(firings) == {"100%", "120%"}
    assert firings["120%"].announced and firings["120%"].content_id == cid
    assert not firings["100%"].announced and firings["100%"].content_id == cid  # passed over by the 120% news
    assert firings["120%"].percent == pytest.approx(130.0)
    item = bot.item(cid)
    assert item is not None and item.body == "LĐLĐ huyện B đã hoàn thành 130% chỉ tiêu với 260 sáng kiến (mốc 120%)!"
    assert bot.item("milestone/chi-tieu-huyen/huyen-b/100%") is None
    # announce_to: own → the district's own channels only.
    assert [d.channel_id for d in bot.deliveries(cid)] == ["huyen-b/facebook", "huyen-b/zalo"]


def test_exactly_the_target_is_reached(bot: Bot) -> None:
    put_csv(bot.ws, "1.csv", "huyen-b,initiatives,199,2026-11-01")
    assert bot.check() == []
    put_csv(bot.ws, "2.csv", "huyen-b,initiatives,200,2026-11-02")  # 100% of 200, not more
    [made] = bot.check(NOW + timedelta(minutes=1))
    assert "mốc 100% chỉ tiêu (200 sáng kiến, 100% chỉ tiêu)" in made


def test_a_threshold_added_below_one_already_announced_is_only_recorded(mini: Path, tmp_path: Path) -> None:
    set_rules(mini, PROVINCE_RULE.replace("[500, 1000]", "[1000]"))
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    try:
        put_csv(mini, "1.csv", "tinh,initiatives,1200,2026-11-01")
        assert len(b.check()) == 1
        set_rules(mini, PROVINCE_RULE)  # the staff add 500 later: old news, not announced
        b.restart()
        assert b.check(NOW + timedelta(minutes=1)) == []
        assert [(f.threshold, f.announced) for f in b.firings()] == [("1000", True), ("500", False)]
        assert len(b.deliveries()) == 6
    finally:
        b.store.close()


def test_several_units_of_a_selector_each_on_its_own_subtree(bot: Bot) -> None:
    # huyen-a (target 300) gets there through its grassroots unit; huyen-b (200) does not.
    put_csv(bot.ws, "1.csv", "huyen-a,initiatives,200,2026-11-20", "cs-a1,initiatives,110,2026-11-20",
            "huyen-b,initiatives,150,2026-11-20")  # 460 in all: the province stays below 500
    made = bot.check()
    assert len(made) == 1 and "LĐLĐ huyện A" in made[0]
    assert [(f.unit_id, f.threshold) for f in bot.firings()] == [("huyen-a", "100%")]


def test_a_unit_without_target_never_reaches_a_percentage(mini: Path, tmp_path: Path) -> None:
    units = (mini / "config/units.yaml").read_text().replace("    target: 200\n", "")
    (mini / "config/units.yaml").write_text(units)
    set_rules(mini, DISTRICT_RULE)
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    put_csv(mini, "1.csv", "huyen-b,initiatives,5000,2026-11-20")
    assert b.check() == []
    b.store.close()


# --- restarts and races -------------------------------------------------------------------------


def test_restarts_between_readings_never_announce_twice(bot: Bot) -> None:
    put_csv(bot.ws, "1.csv", "tinh,initiatives,400,2026-11-01")
    assert bot.check() == []
    bot.restart()
    put_csv(bot.ws, "2.csv", "tinh,initiatives,700,2026-11-10")
    assert len(bot.check(NOW + timedelta(minutes=1))) == 1
    bot.restart()
    assert bot.check(NOW + timedelta(minutes=2)) == []
    # Even with the "nothing changed" shortcut forgotten, the firing rows keep it to once.
    with bot.store.session() as s:
        s.delete(s.get(Meta, milestones.META_EVALUATED))
    bot.restart()
    assert bot.check(NOW + timedelta(minutes=3)) == []
    put_csv(bot.ws, "3.csv", "tinh,initiatives,1000,2026-11-20")
    bot.restart()
    assert len(bot.check(NOW + timedelta(minutes=4))) == 1
    assert [(f.threshold, f.announced) for f in bot.firings()] == [("1000", True), ("500", True)]
    assert len(bot.deliveries()) == 12


def test_a_crossing_recorded_by_another_process_first_is_skipped(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    put_csv(bot.ws, "1.csv", "tinh,initiatives,600,2026-11-01")
    milestones.import_sources(bot.campaign, bot.store, {}, NOW)
    with bot.store.session() as s:
        stale = milestones.find_crossings(s, bot.campaign, milestones.Tree(bot.campaign), NOW)
    assert len(milestones.evaluate(bot.campaign, bot.store, NOW)) == 1
    # A second evaluator that computed its crossings before the first one wrote them.
    monkeypatch.setattr(milestones, "find_crossings", lambda *a: stale)
    assert milestones.evaluate(bot.campaign, bot.store, NOW, force=True) == []
    assert len(bot.firings()) == 1 and len(bot.deliveries()) == 6


def test_once_ever_on_sqlite_and_postgresql(mini: Path, any_store: Store) -> None:
    set_rules(mini, PROVINCE_RULE)
    url = any_store.url
    b = Bot(mini, url)
    try:
        put_csv(mini, "1.csv", "tinh,initiatives,1200,2026-11-01")
        made = b.check()
        assert len(made) == 1 and "1.000" in made[0] and "500" in made[0]
        b.restart()
        assert b.check(NOW + timedelta(minutes=1)) == []
        assert [(f.threshold, f.announced) for f in b.firings()] == [("1000", True), ("500", False)]
        assert len(b.deliveries()) == 6
    finally:
        b.store.close()


# --- phases -------------------------------------------------------------------------------------

PHASE_RULES = """
  - id: giai-doan-2
    metric: initiatives
    unit: huyen-a
    thresholds: [100, 200]
    phase: Giai đoạn 2
    announce_to: own
    banner: null
    message: "{{ phase }}: {{ unit.short_name }} có {{ value | so }} sáng kiến."
  - id: giai-doan-1
    metric: initiatives
    unit: huyen-b
    thresholds: [300]
    phase: Giai đoạn 1
    announce_to: own
    banner: null
    message: "{{ phase }}: {{ value | so }}"
"""


def test_a_rule_limited_to_a_phase_only_announces_crossings_inside_it(mini: Path, tmp_path: Path) -> None:
    set_rules(mini, PHASE_RULES)
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    try:
        put_csv(mini, "2026.csv", "huyen-a,initiatives,150,2026-12-01", "huyen-b,initiatives,250,2026-12-01")
        assert b.check(at("2026-12-02T10:00")) == []  # phase 2 has not begun; phase 1 below 300
        assert b.firings() == []
        # Phase 2 begins: 100 was reached before it, so it is recorded, never announced.
        assert b.check(at("2027-01-02T10:00")) == []
        assert [(f.rule_id, f.threshold, f.announced, f.content_id) for f in b.firings()] == [
            ("giai-doan-2", "100", False, None)
        ]
        # Readings inside phase 2 cross 200: announced. huyen-b passes 300 only in phase 2: the phase-1 rule stays silent.
        put_csv(mini, "2027.csv", "huyen-a,initiatives,210,2027-02-01", "huyen-b,initiatives,320,2027-02-01")
        made = b.check(at("2027-02-02T10:00"))
        assert len(made) == 1 and made[0].startswith("[giai-doan-2]")
        item = b.item("milestone/giai-doan-2/huyen-a/200")
        assert item is not None and item.body == "Giai đoạn 2: LĐLĐ huyện A có 210 sáng kiến."
        assert [(f.rule_id, f.threshold) for f in b.firings()] == [("giai-doan-2", "100"), ("giai-doan-2", "200")]
    finally:
        b.store.close()


def test_late_readings_of_a_phase_are_judged_by_their_own_time(mini: Path, tmp_path: Path) -> None:
    set_rules(mini, PHASE_RULES)
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    try:
        # December's numbers arrive in January: the phase-1 rule still sees its phase reach 300.
        put_csv(mini, "thang-12.csv", "huyen-b,initiatives,310,2026-12-31T17:00")
        made = b.check(at("2027-01-05T10:00"))
        assert len(made) == 1 and made[0].startswith("[giai-doan-1]")
        assert b.item("milestone/giai-doan-1/huyen-b/300").body == "Giai đoạn 1: 310"  # type: ignore[union-attr]
    finally:
        b.store.close()


# --- how announcements go out ------------------------------------------------------------------


def test_announcement_waits_for_the_end_of_quiet_hours_and_obeys_platforms_and_lists(mini: Path, tmp_path: Path) -> None:
    set_rules(mini, """
  - id: chi-facebook
    metric: initiatives
    unit: huyen-a
    thresholds: [10]
    announce_to: [tinh, huyen-b]
    platforms: [facebook]
    banner: null
    message: "{{ unit.name }}: {{ value | so }}"
""")
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    try:
        put_csv(mini, "1.csv", "huyen-a,initiatives,1234,2026-11-26T22:00")
        assert len(b.check(at("2026-11-26T23:00"))) == 1
        deliveries = b.deliveries()
        assert [d.channel_id for d in deliveries] == ["huyen-b/facebook", "tinh/facebook"]
        assert all(d.due_at == at("2026-11-27T06:30") and d.day == "2026-11-27" for d in deliveries)
        assert b.item("milestone/chi-facebook/huyen-a/10").body == "LĐLĐ huyện A: 1.234"  # type: ignore[union-attr]
    finally:
        b.store.close()


def test_a_broken_message_template_falls_back_to_a_plain_message(mini: Path, tmp_path: Path) -> None:
    set_rules(mini, """
  - id: hong
    metric: initiatives
    unit: tinh
    thresholds: [10]
    banner: null
    message: "{{ value / 0 }}"
""")
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    try:
        put_csv(mini, "1.csv", "tinh,initiatives,1500,2026-11-20")
        [made] = b.check()
        assert "lời nhắn mặc định" in made
        body = b.item("milestone/hong/tinh/10").body  # type: ignore[union-attr]
        assert body.startswith("Liên đoàn Lao động tỉnh đã đạt mốc 10 với 1.500 sáng kiến.")
    finally:
        b.store.close()


def test_milestone_banner_shows_the_new_value_and_progress(mini: Path, tmp_path: Path) -> None:
    shutil.copytree(REPO / "banners", mini / "banners")
    set_rules(mini, PROVINCE_RULE.replace("banner: null", "banner: milestone"))
    b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
    try:
        put_csv(mini, "1.csv", "tinh,initiatives,540,2026-11-20")
        assert len(b.check()) == 1
        item = b.item("milestone/moc-tinh/tinh/500")
        assert item is not None and item.banner == "milestone"
        ctx = banner_context(item, b.campaign, {"initiatives": {"tinh": 9999.0}})
        assert (ctx["value"], ctx["max"], ctx["percent"]) == (540, 1000, "54")  # frozen at the milestone
        path = render_banner_for(item, b.campaign)
        assert path is not None and path.is_file()
        tpl = b.campaign.banners["milestone"]
        bar = next(e for e in tpl.elements if e.type == "progress")
        x, y, w, h = bar.box
        img = Image.open(path).convert("RGB")
        filled = img.getpixel((x + int(w * 0.25), y + 3))
        empty = img.getpixel((x + int(w * 0.85), y + 3))
        assert filled != empty  # 54%: filled at a quarter, empty at 85%
    finally:
        b.store.close()


# --- the URL source -----------------------------------------------------------------------------


def test_url_source_is_read_every_interval_and_announces(mini: Path, tmp_path: Path) -> None:
    with metric_server() as srv:
        url = srv.serve("/so-lieu.csv", "unit,metric,value,at\ntinh,initiatives,300,2026-11-20\n")
        set_rules(mini, PROVINCE_RULE,
                  source=f"metric_source:\n  csv: null\n  url: {url}\n  every: 10m\n  token_env: METRIC_TOKEN\n")
        b = Bot(mini, f"sqlite:///{tmp_path / 't.db'}")
        env = {"METRIC_TOKEN": "bi-mat"}
        try:
            assert b.check(NOW, env) == []
            assert len(srv.seen) == 1 and srv.seen[0]["auth"] == "Bearer bi-mat"
            srv.serve("/so-lieu.csv", "unit,metric,value,at\ntinh,initiatives,650,2026-11-26\n")
            assert b.check(NOW + timedelta(minutes=5), env) == []  # not due yet: not fetched
            assert len(srv.seen) == 1
            made = b.check(NOW + timedelta(minutes=11), env)
            assert len(srv.seen) == 2 and len(made) == 1 and "500" in made[0]
            b.restart()  # the last fetch time survives a restart
            assert b.check(NOW + timedelta(minutes=12), env) == [] and len(srv.seen) == 2
            assert b.check(NOW + timedelta(minutes=22), env) == [] and len(srv.seen) == 3  # same numbers: nothing
            srv.serve("/so-lieu.csv", "", status=503)
            result = milestones.check_all(b.campaign, b.store, env, NOW + timedelta(minutes=40))
            assert result.announcements == [] and any("503" in n for n in result.notes)
        finally:
            b.store.close()


def test_import_problems_of_the_data_folder_become_notes_not_announcements(bot: Bot) -> None:
    put_csv(bot.ws, "1.csv", "tinh,initiatives,600,2026-11-20", "khong-co,initiatives,5,2026-11-20")
    result = milestones.check_all(bot.campaign, bot.store, {}, NOW)
    assert len(result.announcements) == 1
    assert any("data/1.csv:3" in n and "khong-co" in n for n in result.notes)
    # The file is not read again while it does not change, so its problem is not repeated every minute.
    assert milestones.check_all(bot.campaign, bot.store, {}, NOW + timedelta(minutes=1)).notes == []


# --- command line -------------------------------------------------------------------------------


def cli_run(ws: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_cli_metrics_import_milestones_and_status(mini: Path) -> None:
    set_rules(mini, PROVINCE_RULE, DISTRICT_RULE)
    path = write(mini, "nhap-tay.csv", "unit,metric,value,at\nhuyen-b,initiatives,260,2026-11-20\n"
                 "huyen-x,initiatives,5,2026-11-20\ntinh,initiatives,-1,2026-11-20\n")
    out = cli_run(mini, "metrics", "import", str(path), "--now", "2026-11-26T10:00", code=1)
    assert "nhap-tay.csv:3: không có đơn vị 'huyen-x'" in out and "nhap-tay.csv:4: giá trị âm" in out
    assert "1 dòng mới" in out and "120% chỉ tiêu" in out
    again = cli_run(mini, "metrics", "import", str(path), "--now", "2026-11-26T10:05", code=1)
    assert "0 dòng mới" in again and "Không có cột mốc mới" in again

    listing = cli_run(mini, "milestones")
    assert "LĐLĐ huyện B: mốc 120% chỉ tiêu — 260 (130% chỉ tiêu)" in listing
    assert "đã vượt qua (gộp vào tin mốc 120% chỉ tiêu)" in listing
    data = json.loads(cli_run(mini, "milestones", "--json"))
    assert [(f["threshold"], f["announced"]) for f in data] == [("100%", False), ("120%", True)]
    assert data[1]["deliveries"] == {"pending": 2}

    status = json.loads(cli_run(mini, "status", "--json"))["milestones"]
    rule = next(r for r in status["rules"] if r["id"] == "moc-tinh")
    assert rule["units"][0]["value"] == 260 and rule["units"][0]["next"]["threshold"] == "500"
    assert rule["units"][0]["next"]["remaining"] == 240
    district = next(r for r in status["rules"] if r["id"] == "chi-tieu-huyen")
    b = next(u for u in district["units"] if u["unit"] == "huyen-b")
    assert b["next"] is None and [f["threshold"] for f in b["fired"]] == ["100%", "120%"]
    a = next(u for u in district["units"] if u["unit"] == "huyen-a")
    assert a["next"] == {"threshold": "100%", "label": "100% chỉ tiêu", "needed": 300, "remaining": 300}
    behind = status["lagging"]["behind"]
    assert [e["unit"] for e in behind["district"]] == ["huyen-a", "huyen-b"]  # 0% before 130%
    assert behind["district"][1]["percent"] == 130.0
    assert {e["unit"] for e in status["lagging"]["quiet"]} == {"tinh", "huyen-a", "huyen-b", "cs-a1"}
    assert status["imports"][0]["problem_count"] == 2

    text = cli_run(mini, "status")
    assert "CỘT MỐC (1 đã thông báo, 2 đã đạt)" in text
    assert "mốc tiếp theo 500, còn 240" in text
    assert "ĐƠN VỊ KHÔNG CÓ BÀI ĐĂNG TRONG 14 NGÀY QUA (4)" in text


def test_units_that_posted_recently_are_not_listed_as_quiet(mini: Path) -> None:
    set_rules(mini, PROVINCE_RULE)
    cli_run(mini, "tick", "--now", "2026-11-26T08:00")  # the morning slot posts to every channel (outbox)
    c = load_campaign(mini)
    from bot.reports.milestones import status_section
    from bot.store import default_url

    store = open_store(default_url(mini))
    try:
        assert status_section(c, store, at("2026-11-27T08:00"))["lagging"]["quiet"] == []
        quiet = status_section(c, store, at("2026-12-20T12:00"))["lagging"]["quiet"]
        assert {e["unit"] for e in quiet} == {"tinh", "huyen-a", "huyen-b", "cs-a1"}
        assert [e["days"] for e in quiet] == [24] * 4, quiet
    finally:
        store.close()
