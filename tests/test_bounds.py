"""The bounds of bot.bounds and the safe parsing behind them, piece by piece; and the property that
whatever passes `check` — campaigns generated at the edges of every bound — passes `sync` and `tick`."""

from __future__ import annotations

import fcntl
import io
import os
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlmodel import select

from bot import bounds, images
from bot.files import MANIFEST, OutputFolder, UnsafePath, atomic_write, clean_stale_temp, env_warning
from bot.load import LoadError, load_campaign
from bot.metrics import parse_csv_text, parse_json_text, parse_value
from bot.pipeline import tick
from bot.store import Delivery, MetricReading, open_store
from bot.store.db import StoreError, tick_lock
from bot.store.sync import sync_campaign
from bot.worker import Worker
from bot.yamlfile import parse_yaml
from tests.conftest import MINI_CAMPAIGN, MINI_SCHEDULES, MINI_UNITS, write

# --- YAML ------------------------------------------------------------------------------------------


def test_small_aliases_still_work_and_big_ones_are_refused() -> None:
    located, problems = parse_yaml("base: &b {a: 1}\nx: *b\ny: *b\n", "f.yaml")
    assert located is not None and not problems and located.data["y"] == {"a": 1}
    laughs = "a0: &a0 [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 6))
    located, problems = parse_yaml(laughs, "f.yaml")
    assert located is None and problems[0].line is not None and "bí danh" in problems[0].message


def test_recursion_and_depth_are_problems_with_lines() -> None:
    _, problems = parse_yaml("a: 1\ntags: &t [x, *t]\n", "s.md", line_offset=1)
    assert problems and problems[0].line == 3 and "vòng lặp" in problems[0].message
    deep = "a:\n" + "".join("  " * i + "- b:\n" for i in range(1, bounds.YAML_DEPTH_MAX + 5))
    _, problems = parse_yaml(deep, "d.yaml")
    assert problems and "sâu" in problems[0].message and problems[0].line


def test_a_wrong_explicit_tag_is_a_problem_not_a_traceback() -> None:
    _, problems = parse_yaml("a: 1\nb: !!int x\n", "t.yaml")
    assert problems and problems[0].file == "t.yaml" and problems[0].line == 2


# --- schedules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr,minutes", [("* * * * *", 1), ("*/5 * * * *", 5), ("0,30 8 * * *", 30),
                                          ("0 * * * *", 60), ("50 23,0 * * mon", 60)])
def test_cron_gaps(expr: str, minutes: int) -> None:
    assert bounds.cron_min_gap(expr) == timedelta(minutes=minutes)


def test_a_daily_cron_has_no_gap_within_a_day() -> None:
    assert bounds.cron_min_gap("0 8 * * mon,wed,fri") == timedelta(days=1)


# --- metric values and CSV -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1e308", "inf", "-inf", "nan", "9" * 40, 1e308, float("inf"), 10**400, "-1", True])
def test_metric_values_out_of_bounds_are_refused(raw: object) -> None:
    value, problem, fix = parse_value(raw)
    assert value is None and problem and fix


def test_an_unclosed_quote_or_a_huge_field_is_one_row_error_and_the_rest_is_read() -> None:
    text = ("unit,metric,value,at\n"
            'a,"initiatives,1,2026-11-20\n'
            "b,initiatives," + "9" * 200_000 + ",2026-11-20\n"
            "c,initiatives,3,2026-11-20\n")
    rows, problems = parse_csv_text(text, "x.csv")
    assert [r.data["unit"] for r in rows] == ["c"] and rows[0].line == 4
    assert [p.line for p in problems] == [2, 3]
    assert "ngoặc kép" in problems[0].fix and "dài" in problems[1].message


def test_deep_json_is_refused_before_parsing() -> None:
    rows, problems = parse_json_text("[" * 100_000 + "]" * 100_000, "u")
    assert not rows and "sâu" in problems[0].message


# --- images ----------------------------------------------------------------------------------------------


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 120, 60)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((w, h), 40).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_images_are_judged_by_their_bytes(tmp_path: Path) -> None:
    good = tmp_path / "ok.jpg"
    good.write_bytes(_jpeg(400, 300))
    info = images.check_image(good)
    assert isinstance(info, images.ImageInfo) and (info.format, info.width) == ("JPEG", 400)
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"<html>hello</html>")
    assert "tệp chữ" in images.check_image(fake).message  # type: ignore[union-attr]
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(_jpeg(800, 600)[:3000])
    assert "hỏng" in images.check_image(cut).message  # type: ignore[union-attr]
    wide = tmp_path / "wide.png"
    wide.write_bytes(_png(bounds.IMAGE_SIDE_MAX + 1, 2))
    assert "quá lớn" in images.check_image(wide).message  # type: ignore[union-attr]
    gif = tmp_path / "a.png"
    Image.new("P", (4, 4)).save(gif, "GIF")
    assert "GIF" in images.check_image(gif).message  # type: ignore[union-attr]


def test_a_large_image_is_reduced_once_and_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_IMAGE_CACHE", str(tmp_path / "cache"))
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png(4000, 1000))
    reduced = images.banner_bytes(logo)
    assert Image.open(io.BytesIO(reduced)).size == (bounds.IMAGE_REDUCE_SIDE, bounds.IMAGE_REDUCE_SIDE // 4)
    images._REDUCED.clear()  # a new process: the disk copy is used, nothing is decoded again

    def no_second_reduction(data: bytes) -> bytes:
        raise AssertionError("reduced twice")

    monkeypatch.setattr(images, "_reduce", no_second_reduction)
    assert images.banner_bytes(logo) == reduced
    small = tmp_path / "small.png"
    small.write_bytes(_png(300, 100))
    assert images.banner_bytes(small) == small.read_bytes()


# --- files -------------------------------------------------------------------------------------------------


def test_writes_stay_inside_their_root_and_pages_are_0644(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "anh").symlink_to(outside)
    with pytest.raises(UnsafePath, match="trỏ ra ngoài"):
        atomic_write(root / "anh" / "x.png", b"x", root=root)
    assert not list(outside.iterdir())
    atomic_write(root / "index.html", b"<p>")
    assert (root / "index.html").stat().st_mode & 0o777 == 0o644


def test_an_output_folder_deletes_only_what_it_wrote(tmp_path: Path) -> None:
    out = OutputFolder(tmp_path / "p", tmp_path / "p")
    out.write("anh/a.jpg", b"a")
    out.write("anh/b.jpg", b"b")
    out.save_manifest()
    (tmp_path / "p" / "anh" / "cua-toi.jpg").write_bytes(b"mine")
    again = OutputFolder(tmp_path / "p", tmp_path / "p")
    again.write("anh/a.jpg", b"a")
    assert again.remove_old("anh", keep=again.written) == 1
    again.save_manifest()
    assert sorted(p.name for p in (tmp_path / "p" / "anh").iterdir()) == ["a.jpg", "cua-toi.jpg"]
    assert MANIFEST in os.listdir(tmp_path / "p")


def test_stale_temp_files_are_cleaned_and_fresh_ones_kept(tmp_path: Path) -> None:
    old, new = tmp_path / "u" / "facebook" / ".tmp-old", tmp_path / "u" / "facebook" / ".tmp-new"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert clean_stale_temp(tmp_path) == 1 and not old.exists() and new.exists()


def test_env_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    env.chmod(0o644)
    assert "chmod 600" in (env_warning(tmp_path) or "")
    env.chmod(0o600)
    assert env_warning(tmp_path) is None


# --- the store ---------------------------------------------------------------------------------------------


def test_store_errors_are_vietnamese_and_hide_the_password() -> None:
    for url in ("postgresql://u:Mat-Khau-9@h:khong-so/db", "postgresql://u:Mat-Khau-9@127.0.0.1:1/db", "abc"):
        with pytest.raises(StoreError) as caught:
            open_store(url)
        assert "Mat-Khau-9" not in str(caught.value) and "CAMPAIGN_DB_URL" in str(caught.value)


def test_the_store_is_private_and_one_tick_holds_the_lock(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'campaign.db'}")
    try:
        assert (tmp_path / "campaign.db").stat().st_mode & 0o777 == 0o600
        with tick_lock(store, wait=0) as first:
            assert first
            with tick_lock(store, wait=0) as second:
                assert not second
        with tick_lock(store, wait=0) as again:
            assert again
        fd = os.open(tmp_path / "campaign.db.lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: nothing holds it
        os.close(fd)
    finally:
        store.close()


# --- the property: campaigns at the edges of every bound pass check, sync and tick -----------------------

VIET = "Công đoàn Việt Nam – sáng kiến đổi mới "


def _text(n: int) -> str:
    return (VIET * (n // len(VIET) + 1))[:n].strip() or "a"


@st.composite
def edge_campaigns(draw: st.DrawFn) -> dict[str, object]:
    return {
        "unit_id": draw(st.sampled_from(["a", "a" * bounds.ID_MAX, ("x-" * 40)[: bounds.ID_MAX - 1] + "z"])),
        "name": _text(draw(st.sampled_from([1, bounds.NAME_MAX]))),
        "target": draw(st.sampled_from([None, 0, 1, bounds.TARGET_MAX])),
        "title": _text(draw(st.sampled_from([1, bounds.SHORT_TEXT_MAX]))),
        "body_length": draw(st.sampled_from([1, bounds.BODY_MAX])),
        "priority": draw(st.sampled_from([bounds.PRIORITY_MIN, 0, bounds.PRIORITY_MAX])),
        "approved_at": draw(st.sampled_from([bounds.DATE_MIN, date(2026, 11, 1)])),
        "expires": draw(st.sampled_from([None, bounds.DATE_MAX, bounds.DATE_MIN])),
        "not_before": draw(st.sampled_from([None, bounds.DATE_MIN, bounds.DATE_MAX])),
        "cron": draw(st.sampled_from(["0 8 * * *", "0 * * * *", "0 8,9 * * *"])),
        "daily_cap": draw(st.sampled_from([1, bounds.DAILY_CAP_MAX])),
        "threshold": draw(st.sampled_from([1, bounds.THRESHOLD_MAX])),
        "percent": draw(st.sampled_from(["1%", f"{bounds.PERCENT_MAX}%"])),
        "value": draw(st.sampled_from(["ceiling", "zero"])),
        "tags": draw(st.sampled_from([[], ["t" * bounds.TAG_MAX] * bounds.LIST_MAX])),
    }


def _write_campaign(ws: Path, c: dict[str, object]) -> None:
    uid = c["unit_id"]
    campaign = MINI_CAMPAIGN.replace("start: 2026-01-01\n  end: 2027-12-31",
                                     f"start: {bounds.DATE_MIN}\n  end: {bounds.DATE_MAX}")
    write(ws, "config/campaign.yaml", campaign)
    units = MINI_UNITS.replace("id: huyen-b", f"id: {uid}").replace(
        "name: LĐLĐ huyện B", f"name: \"{c['name']}\"").replace("target: 200", f"target: {c['target']}"
                                                              if c["target"] is not None else "target: null")
    write(ws, "config/units.yaml", units)
    write(ws, "schedules/lich.yaml", MINI_SCHEDULES.replace('"0 8 * * *"', f'"{c["cron"]}"')
          .replace("daily_cap: 1", f"daily_cap: {c['daily_cap']}"))
    front = [f'title: "{c["title"]}"', "kind: initiative_story", f"unit: {uid}", "audience: own", "approved: true",
             "approved_by: Ban Tuyên giáo", f"approved_at: {c['approved_at']}", f"priority: {c['priority']}",
             f"tags: {list(c['tags'])}"]
    front += [f"{k}: {c[k]}" for k in ("expires", "not_before") if c[k]]
    write(ws, "content/bien.md", "---\n" + "\n".join(front) + "\n---\n" + _text(int(c["body_length"])) + "\n")
    write(ws, "config/milestones.yaml", textwrap.dedent(f"""
        milestones:
          - id: moc
            metric: initiatives
            units: all
            thresholds: [{c['threshold']}, "{c['percent']}"]
            announce_to: own
            banner: null
            message: "{{{{ unit.name }}}} đạt {{{{ value | so }}}} sáng kiến, {{{{ percent }}}}%"
    """))
    target = c["target"] if c["target"] else None
    value = (target * bounds.METRIC_TARGET_FACTOR if target else bounds.METRIC_VALUE_MAX) if c["value"] == "ceiling" else 0
    write(ws, "data/so-lieu.csv", f"unit,metric,value,at\n{uid},initiatives,{int(value)},2026-11-20T08:00\n"
          "tinh,initiatives,0,2026-11-20T08:00\n")


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(edge_campaigns())
def test_campaigns_at_the_edges_of_every_bound_pass_check_sync_and_tick(c: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        _write_campaign(ws, c)
        try:
            campaign = load_campaign(ws)
        except LoadError as exc:  # pragma: no cover - the generator must stay inside the bounds
            pytest.fail(f"at the edges, check refused: {exc}")
        store = open_store(f"sqlite:///{Path(tmp) / 'campaign.db'}")
        try:
            sync_campaign(campaign, store)
            worker = Worker(campaign, store, {}, force_outbox=True, max_workers=2)
            try:
                for now in (datetime(2026, 11, 27, 1, 0, tzinfo=UTC), datetime(2100, 12, 30, 1, 0, tzinfo=UTC)):
                    report = tick(campaign, store, {}, now, worker=worker, force_outbox=True)
                    assert not [n for n in report.notes if "bị bỏ qua" in n], report.notes
            finally:
                worker.close()
            with store.session() as s:
                assert s.exec(select(MetricReading)).all()
                assert all(d.state != "failed" for d in s.exec(select(Delivery)).all())
        finally:
            store.close()
