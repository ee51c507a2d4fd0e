"""`campaign-bot preview` and `campaign-bot report`: what they show, that they change nothing, that
everything is escaped, and the Vietnamese formats. The pages in a real browser: tests/test_browser.py."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.load import load_campaign
from bot.pipeline import play
from bot.reports import phan_tram
from bot.reports.charts import chart_window, line_chart, nice_max, percent_bars
from bot.reports.preview import segments
from bot.reports.report import build_report, subtree_series
from bot.store import ChannelState, Delivery, DeliveryState, Engagement, MilestoneFiring, open_store
from bot.vn import so
from tests.conftest import REPO, SAMPLE_PARTS, write

START = "2026-11-23T07:00"  # a Monday morning, Vietnamese time

XSS_TITLE = "<script>window.__pwned=1</script> Sáng kiến thử"
XSS_STORY = """
---
title: "<script>window.__pwned=1</script> Sáng kiến thử"
kind: initiative_story
unit: ldld-tinh
audience: all
approved: true
approved_by: Ban Tuyên giáo
approved_at: 2026-11-01
priority: 9
---
Nội dung <img src=x onerror="window.__pwned=2"> và [bấm vào](javascript:alert(1)) <b>in đậm</b> giả.
"""
XSS_REASON = 'nền tảng từ chối: <img src=x onerror="window.__pwned=3"> & "trích dẫn"'


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


def run(ws: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def db_path(ws: Path) -> Path:
    return ws / ".campaign" / "campaign.db"


def row_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\ufeff"), "CSV files start with a BOM so that Excel reads UTF-8"
    # ";"-separated: Excel on Vietnamese Windows uses "," for decimals and ";" between columns
    assert text.splitlines()[0].count(";") >= 2 and b"\r\n" in path.read_bytes()
    return list(csv.DictReader(text[1:].splitlines(), delimiter=";"))


def played_workspace(ws: Path, days: int = 7, xss: bool = True) -> dict[str, object]:
    """The sample campaign played ``days`` from START into the outbox, then: engagement read back
    (two readings for some posts), one channel held with a waiting post, a few failed posts with
    reasons, and one unit whose posts all failed (so it has gone quiet)."""
    if xss:
        write(ws, "content/sang-kien/thu-xss.md", XSS_STORY)
    c = load_campaign(ws)
    db_path(ws).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{db_path(ws)}")
    start = at(START)
    try:
        play(c, store, {}, start, days)
        with store.session() as s:
            sent = s.exec(select(Delivery).where(Delivery.state == DeliveryState.SENT).order_by(Delivery.id)).all()
            assert sent, "the play posted nothing"
            for i, d in enumerate(sent[:30]):
                first = d.sent_at + timedelta(hours=6)
                s.add(Engagement(delivery_id=d.id, read_at=first, reactions=5 + i, comments=i % 4, shares=i % 3,
                                 views=100 + 10 * i))
                s.add(Engagement(delivery_id=d.id, read_at=first + timedelta(hours=18), reactions=1000 + i,
                                 comments=i % 4 + 1, shares=i % 3, views=500 + 10 * i))
            # One unit whose every post failed: it has gone quiet.
            for d in [d for d in sent if d.unit_id == "cd-may-du-long"]:
                d.state, d.sent_at, d.platform_post_id = DeliveryState.FAILED, None, None
                d.reason = "nền tảng từ chối: Trang chưa được xác minh"
                s.add(d)
            xss_sent = [d for d in sent if d.content_id == "sang-kien/thu-xss" and d.unit_id != "cd-may-du-long"]
            if xss_sent:
                d = xss_sent[-1]
                d.state, d.reason, d.sent_at, d.platform_post_id = DeliveryState.FAILED, XSS_REASON, None, None
                s.add(d)
            st = s.get(ChannelState, "ldld-bac-ai/facebook")
            assert st is not None
            st.status, st.reason, st.fix = "held", "Token của Trang đã hết hạn (mã lỗi 190)", "Tạo token mới"
            st.held_at = start + timedelta(days=days - 1)
            s.add(st)
            s.add(Delivery(content_id="huong-dan/dang-ky-sang-kien-moi", channel_id="ldld-bac-ai/facebook",
                           unit_id="ldld-bac-ai", platform="facebook", schedule_id="huong-dan-buoi-toi",
                           slot_at=start + timedelta(days=days - 1), day="2026-11-29",
                           due_at=start + timedelta(days=days - 1)))
        with store.session() as s:
            firings = s.exec(select(MilestoneFiring)).all()
            deliveries = s.exec(select(Delivery)).all()
            engagement = s.exec(select(Engagement)).all()
        return {"campaign": c, "firings": firings, "deliveries": deliveries, "engagement": engagement,
                "start": start, "end": start + timedelta(days=days)}
    finally:
        store.close()


def sample_copy(ws: Path) -> Path:
    ws.mkdir(parents=True)
    for part in SAMPLE_PARTS:
        if (REPO / part).exists():
            shutil.copytree(REPO / part, ws / part)
    return ws


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """One played sample campaign shared by the report tests (which only read the store)."""
    ws = sample_copy(tmp_path_factory.mktemp("played") / "ws")
    return ws, played_workspace(ws)


# --- small pieces ------------------------------------------------------------------------------


def test_vietnamese_percent_and_axis_numbers() -> None:
    assert phan_tram(43.125) == "43,1%"
    assert phan_tram(105.0) == "105%"
    assert phan_tram(None) == ""
    assert nice_max(3240) == 4000 and nice_max(196 * 1.08) == 240 and nice_max(0) == 10


def test_segments_mark_links_and_hashtags_only() -> None:
    text = "Xem https://example.vn/a_(b). Và (https://example.vn/c), C# #1TrieuSangKien javascript:alert(1)"
    segs = segments(text)
    assert ("url", "https://example.vn/a_(b)") in segs
    assert ("url", "https://example.vn/c") in segs
    assert ("tag", "#1TrieuSangKien") in segs
    assert not any(kind == "url" and "javascript" in v for kind, v in segs)
    assert not any(v == "#" for _, v in segs)
    assert "".join(v for _, v in segs) == text


def test_subtree_series_sums_each_units_latest_reading() -> None:
    t = [at(f"2026-11-{d:02d}T17:00") for d in (1, 2, 3)]
    own = {"a": [(t[0], 10.0), (t[2], 15.0)], "b": [(t[0], 5.0), (t[1], 7.0)], "c": [(t[1], 100.0)]}
    assert subtree_series(own, ["a", "b"]) == [(t[0], 15.0), (t[1], 17.0), (t[2], 22.0)]


def test_line_chart_geometry() -> None:
    start, end = at("2026-11-01T00:00"), at("2026-12-01T00:00")
    series = [(at("2026-10-20T00:00"), 50.0), (at("2026-11-10T00:00"), 80.0), (at("2026-11-20T00:00"), 120.0)]
    ch = line_chart("Tỉnh", "Giai đoạn 1", series, start, end, 200.0, at("2026-11-25T00:00"))
    assert ch.line.startswith("M") and ch.line.count("V") == 2  # carried value, then two steps
    assert ch.value == 120.0 and ch.percent == pytest.approx(60.0)
    assert ch.target_y is not None and ch.top < ch.target_y < ch.plot_bottom
    assert [p.label for p in ch.points] == ["10/11/2026: 80", "20/11/2026: 120"]
    assert all(ch.left <= p.x <= ch.plot_right for p in ch.points)
    empty = line_chart("Tỉnh", "", [], start, end, 200.0, None)
    assert empty.line == "" and empty.empty_note
    lo, hi = chart_window([(at("2026-11-10T00:00"), 1.0)], at("2026-01-01T00:00"), at("2027-01-01T00:00"),
                          at("2026-11-20T00:00"))
    assert at("2026-10-01T00:00") < lo < at("2026-11-10T00:00") and hi < at("2026-12-01T00:00")


def test_percent_bars_scale_past_one_hundred() -> None:
    bars = percent_bars([("A", "", 50.0, "a", 0), ("B", "", 130.0, "b", 1), ("C", "", None, "c", 1)])
    a, b, c = bars.bars
    assert b.width > a.width > 0 and c.width == 0 and c.text == "chưa có chỉ tiêu"
    assert bars.left < bars.hundred_x < bars.left + b.width


# --- preview ---------------------------------------------------------------------------------------


def test_preview_lists_exactly_what_the_ticks_then_post(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "xem-truoc"
    text = run(sample, "preview", "--from", START, "--days", "14", "--out", str(out))
    assert "không thay đổi" in text
    assert not db_path(sample).exists(), "preview of a folder without a store must not create one"
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    previewed = {(p["content_id"], p["channel_id"], p["due_at"]) for p in data["posts"]}
    kinds = Counter(p["kind"] for p in data["posts"])
    assert kinds["slogan"] and kinds["initiative_story"] and kinds["guide"]

    c = load_campaign(sample)
    db_path(sample).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{db_path(sample)}")
    try:
        play(c, store, {}, at(START), 14)
        with store.session() as s:
            due = {d.id: d.due_at for d in s.exec(select(Delivery)).all()}
    finally:
        store.close()
    posted = set()
    for f in (sample / "outbox").glob("*/*/*.json"):
        rec = json.loads(f.read_text(encoding="utf-8"))
        when = due[rec["delivery_id"]]
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        posted.add((rec["content_id"], f"{rec['unit']}/{rec['platform']}", when.astimezone(UTC).isoformat()))
    assert len(posted) > 200
    assert previewed == posted
    if any(cid.startswith("milestone/") for cid, _, _ in posted):
        assert kinds["milestone"], "the milestones announced by the first tick are in the preview"


def test_preview_changes_nothing_in_the_store(sample: Path, tmp_path: Path) -> None:
    c = load_campaign(sample)
    db_path(sample).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{db_path(sample)}")
    try:
        play(c, store, {}, at(START), 3)
        with store.session() as s:  # a held channel and posts planned but not yet sent
            st = s.get(ChannelState, "ldld-tinh/zalo")
            assert st is not None
            st.status, st.reason, st.fix = "held", "Refresh token Zalo đã hết hạn", "Cấp lại token cho OA"
            s.add(st)
        from bot.pipeline import plan_now

        assert plan_now(c, store, at("2026-11-26T19:30"))[0] > 0
    finally:
        store.close()
    before = row_counts(db_path(sample))
    before_sha = file_sha(db_path(sample))
    assert before["delivery"] > 0 and before["metricreading"] > 0

    out = tmp_path / "p"
    run(sample, "preview", "--from", "2026-11-26T06:00", "--days", "7", "--out", str(out))
    assert row_counts(db_path(sample)) == before
    assert file_sha(db_path(sample)) == before_sha
    wal = db_path(sample).with_name("campaign.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    statuses = Counter(p["status"] for p in data["posts"])
    assert statuses["existing"] > 0 and statuses["planned"] > 0
    assert {p["status"] for p in data["posts"] if p["channel_id"] == "ldld-tinh/zalo"} == {"held"}
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Refresh token Zalo đã hết hạn" in html
    assert html.count('class="post-card') == len(data["posts"])
    # the images are beside the page, and every card's image exists
    for p in data["posts"]:
        for img in p["images"]:
            assert (out / img).is_file()


@pytest.mark.postgres
def test_preview_changes_nothing_on_postgres(
    pg_url: str, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same promise on the shared store: every table's rows, to the byte, after a preview."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    monkeypatch.setenv("CAMPAIGN_DB_URL", pg_url)
    run(sample, "tick", "--outbox", "--now", START.replace("07:00", "08:00"))
    run(sample, "plan", "--now", "2026-11-24T19:30")

    def snapshot() -> dict[str, str]:
        store = open_store(pg_url)
        try:
            with store.engine.connect() as conn:
                out = {}
                for table in SQLModel.metadata.sorted_tables:
                    rows = conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY 1')).all()
                    out[table.name] = f"{len(rows)}:" + hashlib.sha256(repr(rows).encode()).hexdigest()
                return out
        finally:
            store.close()

    before = snapshot()
    assert not before["delivery"].startswith("0:")
    run(sample, "preview", "--from", "2026-11-24T10:00", "--days", "4", "--out", str(tmp_path / "p"))
    assert snapshot() == before
    data = json.loads((tmp_path / "p" / "data.json").read_text(encoding="utf-8"))
    assert {p["status"] for p in data["posts"]} == {"existing", "planned"}


def test_preview_shows_empty_slots_quiet_hours_and_cap(mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap"
    run(mini, "preview", "--from", "2026-11-26T07:00", "--days", "4", "--out", str(out))
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    reasons = Counter(e["reason"] for e in data["empty"])
    assert any("daily_cap" in r for r in reasons), reasons  # 22:00 for `tinh`: its 08:00 post used the cap of 1
    assert any("không còn bài" in r for r in reasons), reasons
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "đã đủ 1 bài trong ngày" in html and "không còn bài đã duyệt" in html

    (mini / "schedules/lich.yaml").write_text(
        (mini / "schedules/lich.yaml").read_text(encoding="utf-8").replace("daily_cap: 1", "daily_cap: 3"),
        encoding="utf-8",
    )
    out = tmp_path / "quiet"
    run(mini, "preview", "--from", "2026-11-26T07:00", "--days", "2", "--out", str(out))
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    late = [p for p in data["posts"] if p["schedule_id"] == "toi"]
    assert late and all(p["due_at"].endswith("23:30:00+00:00") for p in late)  # 06:30 Vietnamese time
    assert all(any("giờ yên lặng" in n for n in p["notes"]) for p in late)
    assert "rơi vào giờ yên lặng" in (out / "index.html").read_text(encoding="utf-8")


def test_preview_of_a_broken_folder_shows_the_problems(mini: Path, tmp_path: Path) -> None:
    (mini / "config/units.yaml").write_text(
        (mini / "config/units.yaml").read_text(encoding="utf-8").replace("    target: 300\n", "    targett: 300\n"),
        encoding="utf-8",
    )
    out = tmp_path / "loi"
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "preview", "--out", str(out)])
    assert result.exit_code == 1
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "config/units.yaml" in html and "targett" in html and "target" in html
    assert 'class="problem"' in html
    assert json.loads((out / "data.json").read_text(encoding="utf-8"))["problems"]


def test_preview_escapes_every_piece_of_content(sample: Path, tmp_path: Path) -> None:
    write(sample, "content/sang-kien/thu-xss.md", XSS_STORY)
    out = tmp_path / "p"
    run(sample, "preview", "--from", START, "--days", "2", "--out", str(out))
    html = (out / "index.html").read_text(encoding="utf-8")
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert any(p["title"] == XSS_TITLE for p in data["posts"]), "the story is planned"
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # the title (alt text, calendar)
    assert "&lt;SCRIPT&gt;WINDOW.__PWNED=1&lt;/SCRIPT&gt;" in html  # the post's text
    assert "&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in html
    assert not re.search(r"<script>\s*window", html, re.I)
    assert "<img src=x" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    assert 'href="javascript:' not in html
    assert html.count("<script") == 1  # the page's own filter script, allowed by its hash only
    assert "script-src 'sha256-" in html or "script-src &#39;sha256-" in html


def test_preview_options_are_checked(mini: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "preview", "--days", "0"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "preview", "--from", "ngày mai"])
    # the hint shows an accepted form (the wording is the CLI's: issue 13 part 1 accepts dd/mm/yyyy and ISO)
    assert result.exit_code == 2 and "'ngày mai'" in result.output
    assert "ISO" in result.output or "2026-11-24T08:00" in result.output


# --- report ----------------------------------------------------------------------------------------


def test_report_counts_engagement_metric_quiet_and_milestones(played: tuple[Path, dict], tmp_path: Path) -> None:
    sample, facts = played
    out = tmp_path / "bao-cao"
    text = run(sample, "report", "--from", "2026-11-01", "--to", "30/11/2026", "--out", str(out))
    assert "01/11/2026 – 30/11/2026" in text
    html = (out / "index.html").read_text(encoding="utf-8")
    c = facts["campaign"]
    deliveries: list[Delivery] = facts["deliveries"]  # type: ignore[assignment]

    # every unit, by name, in the page and in the per-unit CSV with the store's counts
    for u in c.units:  # type: ignore[attr-defined]
        assert (u.short_name or u.name) in html
    units = {r["Mã đơn vị"]: r for r in read_csv(out / "theo-don-vi.csv")}
    assert set(units) == {u.id for u in c.units}  # type: ignore[attr-defined]
    sent = Counter(d.unit_id for d in deliveries if d.state == DeliveryState.SENT)
    failed = Counter(d.unit_id for d in deliveries if d.state == DeliveryState.FAILED)
    for uid, row in units.items():
        assert int(row["Đã đăng"]) == sent[uid], uid
        assert int(row["Lỗi"]) == failed[uid], uid
    assert int(units["ldld-bac-ai"]["Tạm giữ"]) == 1
    tiers = read_csv(out / "theo-cap.csv")
    assert sum(int(t["Đã đăng"]) for t in tiers) == sum(sent.values())
    assert {t["Cấp"] for t in tiers} >= {"Liên đoàn Lao động tỉnh", "Công đoàn cơ sở"}

    # failures and holds, with their reasons
    issues = read_csv(out / "loi-va-tam-giu.csv")
    assert any(i["Lý do"] == "nền tảng từ chối: Trang chưa được xác minh" for i in issues)
    assert any(i["Trạng thái"] == "tạm giữ" and "190" in i["Lý do"] for i in issues)
    assert "Token của Trang đã hết hạn (mã lỗi 190)" in html and "Tạo token mới" in html

    # engagement: the latest reading of each post
    eng = read_csv(out / "tuong-tac.csv")
    assert len(eng) == len({e.delivery_id for e in facts["engagement"]  # type: ignore[attr-defined]
                            if any(d.id == e.delivery_id and d.state == DeliveryState.SENT for d in deliveries)})
    assert eng and all(int(e["Bày tỏ cảm xúc"]) >= 1000 for e in eng)
    assert re.fullmatch(r"\d\d:\d\d \d\d/\d\d/2026", eng[0]["Đọc lúc"])

    # the metric: Vietnamese numbers, the province's total, charts drawn on the server
    province = units["ldld-tinh"]
    total = float(province["Số sáng kiến"].replace(",", "."))
    assert total > 1000 and so(total) in html and "." in so(total)
    assert province["% chỉ tiêu"] == phan_tram(total * 100 / 3000)
    assert html.count('<path class="series"') >= 8  # the province and each unit under it
    assert '<rect class="bar-fill"' in html
    series = read_csv(out / "chi-so.csv")
    assert {r["Mã đơn vị"] for r in series} >= {"ldld-tinh", "ldld-phan-rang", "ldld-thuan-nam"}

    # lagging and quiet units
    nudges = read_csv(out / "don-vi-can-nhac.csv")
    lagging = [r for r in nudges if r["Lý do"] == "chậm tiến độ"]
    percents = {uid: float(r["% chỉ tiêu"].rstrip("%").replace(",", ".")) for uid, r in units.items() if r["% chỉ tiêu"]}
    assert lagging[0]["Mã đơn vị"] == min(percents, key=lambda k: percents[k])
    quiet = {r["Mã đơn vị"] for r in nudges if r["Lý do"].startswith("không đăng")}
    assert "cd-may-du-long" in quiet and "ldld-tinh" not in quiet
    assert units["cd-may-du-long"]["Im lặng 14 ngày"] == "có"

    # milestones fired (by the milestone module during the play)
    firings: list[MilestoneFiring] = facts["firings"]  # type: ignore[assignment]
    rows = read_csv(out / "cot-moc.csv")
    assert len(rows) == len(firings)
    for f in firings:
        assert any(r["Mã đơn vị"] == f.unit_id and r["Quy tắc"] == f.rule_id for r in rows)
    assert html.count('class="firing"') == len(firings)

    # dates the Vietnamese way, no ISO dates in the page's text
    assert re.search(r"\d\d/\d\d/2026", html)
    assert not re.search(r">[^<]*\b2026-\d\d-\d\d", html)


def test_report_escapes_content_and_reasons(played: tuple[Path, dict], tmp_path: Path) -> None:
    sample, _ = played
    out = tmp_path / "r"
    run(sample, "report", "--to", "2026-11-30", "--out", str(out))
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt; Sáng kiến thử" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned=3&#34;&gt; &amp; &#34;trích dẫn&#34;" in html
    assert "<script" not in html  # the report has no script at all
    assert "<img" not in html
    assert "script-src 'none'" in html or "script-src &#39;none&#39;" in html
    issues = read_csv(out / "loi-va-tam-giu.csv")
    assert any(i["Lý do"] == XSS_REASON for i in issues)  # CSV keeps the text as it is


def test_report_period_filters_posts(played: tuple[Path, dict]) -> None:
    sample, facts = played
    c = facts["campaign"]
    store = open_store(f"sqlite:///{db_path(sample)}")
    try:
        whole = build_report(c, store, None, None, at("2026-11-30T12:00"))  # type: ignore[arg-type]
        first_days = build_report(c, store, datetime(2026, 11, 23).date(), datetime(2026, 11, 24).date(),  # type: ignore[arg-type]
                                  at("2026-11-30T12:00"))
    finally:
        store.close()
    deliveries: list[Delivery] = facts["deliveries"]  # type: ignore[assignment]
    assert whole.totals["sent"] == sum(d.state == DeliveryState.SENT for d in deliveries)
    lo, hi = at("2026-11-23T00:00"), at("2026-11-25T00:00")
    expected = sum(
        d.state == DeliveryState.SENT and lo <= d.due_at.replace(tzinfo=UTC) < hi for d in deliveries
    )
    assert 0 < first_days.totals["sent"] == expected < whole.totals["sent"]
    assert first_days.first.isoformat() == "2026-11-23" and whole.first == c.config.start  # type: ignore[attr-defined]


def test_report_with_an_empty_store(mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    run(mini, "report", "--out", str(out))
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Chưa có số liệu" in html and "Chưa có cột mốc" in html
    for name in ("Liên đoàn Lao động tỉnh", "LĐLĐ huyện A", "LĐLĐ huyện B", "CĐCS Trường Tiểu học A1"):
        assert name in html
    assert len(read_csv(out / "theo-don-vi.csv")) == 4


def test_report_dates_are_checked(mini: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "report", "--from", "31/02/2026"])
    assert result.exit_code == 2 and "24/11/2026" in result.output
    result = CliRunner().invoke(cli, ["--workspace", str(mini), "report", "--from", "2026-11-20", "--to", "2026-11-01"])
    assert result.exit_code == 2 and "trước ngày bắt đầu" in result.output


def test_report_after_demo_shows_every_unit_milestones_and_a_chart(sample: Path, tmp_path: Path) -> None:
    run(sample, "demo", "--days", "3", "--start", START)
    out = tmp_path / "r"
    demo_db = f"sqlite:///{sample / 'demo' / 'campaign.db'}"  # the demo plays into a store of its own
    result = CliRunner().invoke(cli, ["--workspace", str(sample), "report", "--to", "2026-11-26", "--out", str(out)],
                                env={"CAMPAIGN_DB_URL": demo_db}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text(encoding="utf-8")
    c = load_campaign(sample)
    for u in c.units:
        assert f'id="dv-{u.id}"' in html and (u.short_name or u.name) in html
    store = open_store(demo_db)
    try:
        with store.session() as s:
            firings = s.exec(select(MilestoneFiring)).all()
    finally:
        store.close()
    assert html.count('class="firing"') == len(firings)
    for f in firings:
        assert f.rule_id in html
    assert '<path class="series"' in html and 'd="M' in html


@pytest.mark.parametrize("page", ["preview", "report"])
def test_pages_link_only_local_files(played: tuple[Path, dict], tmp_path: Path, page: str) -> None:
    sample, _ = played
    out = tmp_path / page
    if page == "preview":
        run(sample, "preview", "--from", "2026-11-30T07:00", "--days", "2", "--out", str(out))
    else:
        run(sample, "report", "--to", "2026-11-30", "--out", str(out))
    html = (out / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
        if ref.startswith(("http://", "https://")):
            assert page == "preview" and 'rel="noopener noreferrer"' in html  # links in posts, never resources
            continue
        if ref.startswith("data:"):
            continue
        assert (out / ref).is_file(), ref
    for css in ("style.css", "print.css", "fonts.css"):
        text = (out / "static" / css).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "@import" not in text
    assert "@page" in (out / "static/print.css").read_text(encoding="utf-8")
    assert 'media="print"' in html
    fonts = (out / "static/fonts.css").read_text(encoding="utf-8")
    for src in re.findall(r"url\('([^']+)'\)", fonts):
        assert (out / "static" / src).is_file()


def test_preview_says_what_waits_for_quiet_hours_and_that_milestones_are_outside_the_cap(
    sample: Path, tmp_path: Path
) -> None:
    """At 23:55 the milestones reached from the data files are announced, but their posts wait for 06:30: the
    preview counts them and says until when, and its daily-cap wording says milestone news is outside the cap."""
    out = tmp_path / "p"
    run(sample, "preview", "--from", "2026-11-23T23:55", "--days", "1", "--out", str(out))
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    held = [p for p in data["posts"] if p["kind"] == "milestone"]
    assert held and all(p["expected_at"].startswith("2026-11-23T23:30") for p in held)  # 06:30 in Vietnam
    html_text = (out / "index.html").read_text(encoding="utf-8")
    assert (f"<strong>{len(held)}</strong><span>bài chờ hết giờ yên lặng (đến 06:30 24/11/2026)</span>"
            in html_text)
    assert "tin cột mốc không tính vào giới hạn này" in html_text
    assert all(any("rơi vào giờ yên lặng (21:30-06:30): bài chờ đến 06:30 24/11/2026" in n for n in p["notes"])
               for p in held)
    assert "campaign-bot preview</p>" not in html_text and "CAMPAIGN-BOT" not in html_text


# --- the report asks the store in SQL (issue 15): the same figures, the long lists streamed ----------


def test_report_figures_come_from_sql_and_long_lists_stream_into_the_files(
    mini: Path, any_store: object, tmp_path: Path
) -> None:
    """More posts not sent than the page shows: the page keeps the first ones and says how many there are,
    the CSV lists every one; engagement counts each post's latest reading only; a held channel's open
    post carries the channel's reason. On SQLite and PostgreSQL."""
    from sqlalchemy import insert

    from bot.reports.report import ISSUES_SHOWN
    from bot.reports.report_files import write_report
    from bot.store.sync import sync_campaign

    store = any_store
    campaign = load_campaign(mini)
    sync_campaign(campaign, store)  # type: ignore[arg-type]
    base = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    rows, readings, n_failed, n_sent = [], [], ISSUES_SHOWN + 17, 30
    for i in range(n_failed):
        rows.append({"id": i + 1, "content_id": f"x{i:04d}", "channel_id": "tinh/facebook", "unit_id": "tinh",
                     "platform": "facebook", "day": "2026-11-25", "due_at": base + timedelta(minutes=i),
                     "state": "failed", "reason": f"lỗi số {i}", "extra": {}, "attempts": 3})
    for j in range(n_sent):
        did = 1000 + j
        rows.append({"id": did, "content_id": f"y{j:04d}", "channel_id": "huyen-a/facebook", "unit_id": "huyen-a",
                     "platform": "facebook", "day": "2026-11-26", "due_at": base + timedelta(days=1, minutes=j),
                     "sent_at": base + timedelta(days=1, minutes=j), "state": "sent", "platform_post_id": f"p{j}",
                     "extra": {}, "attempts": 1})
        # an older reading with bigger numbers, then the latest one, which alone counts
        readings.append({"delivery_id": did, "read_at": base + timedelta(days=2), "reactions": 999, "comments": 9,
                         "shares": 9, "views": 9999, "extra": {}})
        readings.append({"delivery_id": did, "read_at": base + timedelta(days=3), "reactions": j, "comments": 1,
                         "shares": 0, "views": 10 * j, "extra": {}})
    rows.append({"id": 5000, "content_id": "a", "channel_id": "huyen-b/zalo", "unit_id": "huyen-b", "platform": "zalo",
                 "day": "2026-11-26", "due_at": base + timedelta(days=1), "state": "pending", "extra": {},
                 "attempts": 0})
    with store.session() as s:  # type: ignore[attr-defined]
        s.execute(insert(Delivery), rows)
        s.execute(insert(Engagement), readings)
        st = s.get(ChannelState, "huyen-b/zalo") or ChannelState(channel_id="huyen-b/zalo")
        st.status, st.reason = "held", "token Zalo hết hạn"
        s.add(st)

    data = build_report(campaign, store, None, None, base + timedelta(days=4))  # type: ignore[arg-type]
    assert data.totals["failed"] == n_failed and data.totals["sent"] == n_sent and data.totals["held"] == 1
    assert data.issue_count == n_failed + 1 and len(data.issues) == ISSUES_SHOWN
    assert [i.state for i in data.issues[:2]] == ["failed", "failed"]  # failed first, then held
    assert data.engagement_count == n_sent
    assert data.engagement_totals["reactions"] == sum(range(n_sent))  # the latest readings only
    assert data.engagement_totals["views"] == 10 * sum(range(n_sent))
    assert data.engagement[0].values["reactions"] == n_sent - 1  # most engagement first
    by_unit = {st.unit.id: st for st in data.units}
    assert by_unit["huyen-a"].engagement["comments"] == n_sent and by_unit["tinh"].counts["failed"] == n_failed
    assert [h.waiting for h in data.held if h.channel_id == "huyen-b/zalo"] == [1]

    out = tmp_path / "bao-cao"
    page = write_report(data, out)
    issues = read_csv(out / "loi-va-tam-giu.csv")
    assert len(issues) == n_failed + 1  # every one, streamed from the store
    assert any(i["Trạng thái"] == "tạm giữ" and i["Lý do"] == "token Zalo hết hạn" for i in issues)
    engagement = read_csv(out / "tuong-tac.csv")
    assert len(engagement) == n_sent and engagement[0]["Bày tỏ cảm xúc"] == str(n_sent - 1)
    html = page.read_text(encoding="utf-8")
    assert f"trong {so(n_failed + 1)} bài" in html and "loi-va-tam-giu.csv" in html
    from openpyxl import load_workbook

    book = load_workbook(out / "bao-cao.xlsx", read_only=True)
    assert sum(1 for _ in book["Lỗi và tạm giữ"].iter_rows()) == n_failed + 2  # the header and every row
