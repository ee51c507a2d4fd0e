"""Metric readings: import with per-row validation, aggregation over the unit tree, the URL source."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from bot.load import Campaign, load_campaign
from bot.metrics import (
    FetchError,
    fetch_url,
    import_csv,
    parse_json_text,
    parse_timestamp,
    subtree_readings,
    subtree_values,
)
from bot.store import MetricReading, Store
from tests.conftest import write
from tests.fakes.metric_server import MetricServer, metric_server


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


@pytest.fixture
def campaign(mini: Path) -> Campaign:
    # Two metrics declared: readings of any other are refused (see test_unknown_metric_is_refused…).
    path = mini / "config" / "campaign.yaml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + "  metrics:\n    - {name: initiatives, label: sáng kiến}\n    - {name: other, label: việc khác}\n",
        encoding="utf-8",
    )
    return load_campaign(mini)


def csv_file(ws: Path, name: str, *rows: str, header: str = "unit,metric,value,at") -> Path:
    return write(ws, f"data/{name}", "\n".join([header, *rows]) + "\n")


def readings(store: Store) -> list[tuple[str, str, float, datetime]]:
    with store.session() as s:
        rows = s.exec(select(MetricReading)).all()
        return sorted((r.unit_id, r.metric, r.value, r.at) for r in rows)


# --- aggregation ------------------------------------------------------------------------------


def test_value_is_own_latest_plus_every_unit_below(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(
        campaign.workspace,
        "a.csv",
        "tinh,initiatives,5,2026-11-20T17:00:00+07:00",
        "huyen-a,initiatives,10,2026-11-20T17:00:00+07:00",
        "cs-a1,initiatives,2,2026-11-01T17:00:00+07:00",
        "cs-a1,initiatives,3,2026-11-20T17:00:00+07:00",  # the latest reading of cs-a1 counts, not the sum
        "huyen-b,initiatives,7,2026-11-19T09:00:00+07:00",
        "huyen-b,other,1000,2026-11-19T09:00:00+07:00",  # another metric does not mix in
    )
    with sqlite_store.session() as s:
        assert not import_csv(s, campaign, path).problems
    with sqlite_store.session() as s:
        values = subtree_values(s, campaign, "initiatives")
        assert values == {"tinh": 25.0, "huyen-a": 13.0, "cs-a1": 3.0, "huyen-b": 7.0}
        # As of a moment: only readings at or before it.
        assert subtree_values(s, campaign, "initiatives", at("2026-11-10T00:00")) == {
            "tinh": 2.0, "huyen-a": 2.0, "cs-a1": 2.0, "huyen-b": 0.0,
        }
        with_time = subtree_readings(s, campaign, "initiatives")
        assert with_time["tinh"] == (25.0, at("2026-11-20T17:00"))
        assert with_time["huyen-b"] == (7.0, at("2026-11-19T09:00"))
        assert subtree_values(s, campaign, "other")["tinh"] == 1000.0


def test_units_without_readings_count_zero(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(campaign.workspace, "a.csv", "cs-a1,initiatives,4,2026-11-20")
    with sqlite_store.session() as s:
        import_csv(s, campaign, path)
    with sqlite_store.session() as s:
        v = subtree_readings(s, campaign, "initiatives")
    assert v["huyen-b"] == (0.0, None)
    assert v["tinh"][0] == v["huyen-a"][0] == 4.0


# --- per-row validation -----------------------------------------------------------------------


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_kept(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(
        campaign.workspace,
        "thang-11.csv",
        "tinh,initiatives,30,2026-11-24T17:00:00+07:00",  # line 2: good
        "tnih,initiatives,5,2026-11-24T17:00:00+07:00",  # line 3: unknown unit
        "huyen-a,initiatives,-3,2026-11-24",  # line 4: negative
        "huyen-b,initiatives,mười,2026-11-24",  # line 5: not a number
        "cs-a1,initiatives,8,2026-13-24",  # line 6: bad timestamp
        "",  # line 7: blank, ignored
        "huyen-b,initiatives,12,2026-11-24 08:00",  # line 8: good
        "cs-a1,initiatives,1.200,2026-11-24",  # line 9: ambiguous thousands separator
        "cs-a1,,4,2026-11-24",  # line 10: no metric
    )
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path)
    where = [str(p).split(": ", 1)[0] for p in result.problems]
    assert where == [f"data/thang-11.csv:{n}" for n in (3, 4, 5, 6, 9, 10)]
    text = "\n".join(map(str, result.problems))
    assert "không có đơn vị 'tnih'" in text and "'tinh'" in text  # names the closest unit
    assert "giá trị âm" in text and "không phải là số: 'mười'" in text and "thời điểm không hợp lệ" in text
    assert result.imported == 2 and result.skipped == 6 and result.rows == 8
    assert [(u, v) for u, _, v, _ in readings(sqlite_store)] == [("huyen-b", 12.0), ("tinh", 30.0)]


def test_reimporting_the_same_file_changes_nothing(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(
        campaign.workspace, "a.csv", "tinh,initiatives,5,2026-11-20T17:00", "huyen-a,initiatives,9,2026-11-20T17:00"
    )
    with sqlite_store.session() as s:
        first = import_csv(s, campaign, path)
    before = readings(sqlite_store)
    with sqlite_store.session() as s:
        again = import_csv(s, campaign, path)
    assert (first.imported, again.imported, again.unchanged, again.corrected) == (2, 0, 2, 0)
    assert readings(sqlite_store) == before
    # A later file with a corrected number for the same moment corrects it; the history keeps one row per moment.
    fixed = csv_file(campaign.workspace, "b.csv", "tinh,initiatives,6,2026-11-20T17:00")
    with sqlite_store.session() as s:
        corrected = import_csv(s, campaign, fixed)
    assert (corrected.imported, corrected.corrected) == (0, 1)
    assert len(readings(sqlite_store)) == 2 and ("tinh", "initiatives", 6.0, at("2026-11-20T17:00")) in readings(
        sqlite_store
    )


def test_history_is_kept(campaign: Campaign, sqlite_store: Store) -> None:
    for i, day in enumerate(("2026-10-31", "2026-11-20", "2026-11-30")):
        path = csv_file(campaign.workspace, f"{day}.csv", f"tinh,initiatives,{10 + i},{day}")
        with sqlite_store.session() as s:
            import_csv(s, campaign, path)
    assert [v for _, _, v, _ in readings(sqlite_store)] == [10.0, 11.0, 12.0]


def test_naive_times_are_campaign_time_and_vietnamese_dates_are_read(campaign: Campaign, sqlite_store: Store) -> None:
    tz = campaign.tz
    expected = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    for text in ("2026-11-20 17:00", "2026-11-20T17:00:00", "2026-11-20T17:00:00+07:00", "2026-11-20T10:00:00Z",
                 "20/11/2026 17:00", "17:00 20/11/2026"):
        assert parse_timestamp(text, tz) == expected, text
    assert parse_timestamp("2026-11-20", tz) == datetime(2026, 11, 19, 17, 0, tzinfo=UTC)
    for bad in ("", "hôm qua", "2026-02-30", "32/11/2026", "1899-01-01", "2026-11-20T25:00"):
        assert parse_timestamp(bad, tz) is None, bad
    path = csv_file(campaign.workspace, "a.csv", "tinh,initiatives,5,2026-11-20 17:00")
    with sqlite_store.session() as s:
        import_csv(s, campaign, path)
    assert readings(sqlite_store)[0][3] == expected


def test_spreadsheet_exports_semicolons_bom_column_order_and_extra_columns(campaign: Campaign, sqlite_store: Store) -> None:
    path = campaign.workspace / "data" / "excel.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\ufeffAt;Value;Unit;Metric;Ghi chú\r\n20/11/2026 17:00;12;huyen-a;initiatives;Đã xác nhận\r\n"
    path.write_bytes(text.encode("utf-8"))
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path)
    assert not result.problems and result.imported == 1
    assert readings(sqlite_store) == [("huyen-a", "initiatives", 12.0, at("2026-11-20T17:00"))]


def test_a_file_without_the_required_columns_imports_nothing(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(campaign.workspace, "a.csv", "tinh,5", header="don_vi,so_luong")
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path)
    assert len(result.problems) == 1 and str(result.problems[0]).startswith("data/a.csv:1: thiếu cột unit, value, at")
    assert readings(sqlite_store) == []


def test_conflicting_duplicate_rows_keep_the_first_and_report_the_second(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(
        campaign.workspace,
        "a.csv",
        "tinh,initiatives,5,2026-11-20T17:00",
        "tinh,initiatives,5,2026-11-20T17:00",  # same row twice: harmless
        "tinh,initiatives,6,2026-11-20 17:00",  # same moment, another number
    )
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path)
    assert [p.line for p in result.problems] == [4] and "dòng 2" in result.problems[0].message
    assert [v for _, _, v, _ in readings(sqlite_store)] == [5.0]


def test_metric_column_may_be_left_out(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(campaign.workspace, "a.csv", "tinh,5,2026-11-20", header="unit,value,at")
    with sqlite_store.session() as s:
        assert import_csv(s, campaign, path).imported == 1
    assert readings(sqlite_store)[0][1] == "initiatives"


def test_json_readings() -> None:
    rows, problems = parse_json_text(
        json.dumps({"readings": [{"unit": "tinh", "metric": "initiatives", "value": 5, "at": "2026-11-20"}, 7]}), "api"
    )
    assert [r.data["unit"] for r in rows] == ["tinh"] and [p.line for p in problems] == [2]
    assert parse_json_text("{oops", "api")[1][0].message.startswith("JSON không hợp lệ")


# --- the URL source ---------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[MetricServer]:
    with metric_server() as srv:
        yield srv


def test_fetch_url_reads_csv_and_json_with_a_bearer_token(server: MetricServer) -> None:
    csv_url = server.serve("/so-lieu.csv", "unit,metric,value,at\ntinh,initiatives,5,2026-11-20\n")
    json_url = server.serve("/api", '[{"unit": "tinh", "value": 5, "at": "2026-11-20"}]', "application/json")
    text, fmt = fetch_url(csv_url, token="bi-mat")
    assert fmt == "csv" and text.startswith("unit,metric")
    assert fetch_url(json_url)[1] == "json"
    assert server.seen[0]["auth"] == "Bearer bi-mat" and server.seen[1]["auth"] is None


def test_fetch_url_errors_are_reported_without_the_query_string(server: MetricServer) -> None:
    slow = server.serve("/cham", "unit,metric,value,at\n", delay=2.0)
    with pytest.raises(FetchError, match="mã HTTP 404") as exc:
        fetch_url(server.base + "/khong-co?key=bi-mat")
    assert "bi-mat" not in str(exc.value)
    started = time.monotonic()
    with pytest.raises(FetchError, match="quá thời gian chờ"):
        fetch_url(slow, timeout=0.3)
    assert time.monotonic() - started < 1.5
    with pytest.raises(FetchError, match="không kết nối được"):
        fetch_url("http://127.0.0.1:9/")


# --- bounds, held jumps and dropped readings (issue 12) -------------------------------------------


def statuses(store: Store) -> dict[tuple[str, datetime], tuple[float, str]]:
    with store.session() as s:
        return {(r.unit_id, r.at.astimezone(UTC)): (r.value, r.status) for r in s.exec(select(MetricReading)).all()}


def test_unknown_metric_names_are_refused_with_a_suggestion(campaign: Campaign, sqlite_store: Store) -> None:
    path = csv_file(campaign.workspace, "m.csv", "tinh,initiativs,5,2026-11-20", "tinh,sang-kien,5,2026-11-20")
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path)
    assert [(p.line, p.fix) for p in result.problems][0] == (2, "có phải ý bạn là 'initiatives'?")
    assert "initiatives, other" in (result.problems[1].fix or "")
    assert result.imported == 0


def test_ceilings_come_from_the_target_or_the_nearest_ancestors(campaign: Campaign, sqlite_store: Store) -> None:
    # cs-a1 has target 20 → at most 200; tinh 1.000 → 10.000; a unit without a target uses its parent's.
    path = csv_file(campaign.workspace, "c.csv", "cs-a1,initiatives,200,2026-11-20", "cs-a1,initiatives,201,2026-11-21",
                    "tinh,initiatives,10001,2026-11-20")
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path, now=at("2026-11-26T10:00"))
    assert result.imported == 1
    assert [p.line for p in result.problems] == [3, 4]
    assert "10 × chỉ tiêu 20 của đơn vị" in result.problems[0].message


def test_readings_dated_in_the_future_are_refused_beyond_a_small_tolerance(campaign: Campaign, sqlite_store: Store) -> None:
    now = at("2026-11-26T10:00")
    path = csv_file(campaign.workspace, "f.csv", "tinh,initiatives,5,2026-11-26T10:59", "tinh,initiatives,6,2026-11-26T11:01",
                    "tinh,initiatives,7,2099-01-01")
    with sqlite_store.session() as s:
        result = import_csv(s, campaign, path, now=now)
    assert result.imported == 1 and [p.line for p in result.problems] == [3, 4]
    assert "tương lai" in result.problems[0].message


def test_a_jump_is_held_counts_for_nothing_until_confirmed_and_a_drop_survives_reimport(
    campaign: Campaign, sqlite_store: Store
) -> None:
    from bot.metrics import STATUS_DROPPED, STATUS_OK, find_readings, review

    now = at("2026-11-26T10:00")
    first = csv_file(campaign.workspace, "1.csv", "huyen-a,initiatives,20,2026-11-10")
    jump = csv_file(campaign.workspace, "2.csv", "huyen-a,initiatives,100,2026-11-20", "huyen-b,initiatives,40,2026-11-20")
    with sqlite_store.session() as s:
        import_csv(s, campaign, first, now=now)
        result = import_csv(s, campaign, jump, now=now)
    assert result.imported == 2 and [p.line for p in result.held] == [2]
    assert "metrics confirm huyen-a 2026-11-20T00:00" in (result.held[0].fix or "")
    with sqlite_store.session() as s:
        assert subtree_values(s, campaign, "initiatives")["huyen-a"] == 20  # the held reading does not count
        (held,) = find_readings(s, "huyen-a", "initiatives", at("2026-11-20T00:00"), ("held",))
        review(s, held, STATUS_OK, "Chị Lan")
    with sqlite_store.session() as s:
        assert subtree_values(s, campaign, "initiatives")["huyen-a"] == 100
        (bad,) = find_readings(s, "huyen-a", "initiatives", at("2026-11-20T00:00"), ("ok",))
        review(s, bad, STATUS_DROPPED, "Chị Lan")
    with sqlite_store.session() as s:
        again = import_csv(s, campaign, jump, now=now)  # the same file once more: the drop stays
    assert again.unchanged == 2 and again.imported == again.corrected == 0
    with sqlite_store.session() as s:
        assert subtree_values(s, campaign, "initiatives")["huyen-a"] == 20
    assert statuses(sqlite_store)[("huyen-a", at("2026-11-20T00:00"))] == (100.0, STATUS_DROPPED)


def test_readings_stored_before_the_bounds_are_ignored(campaign: Campaign, sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        s.add(MetricReading(unit_id="huyen-b", metric="initiatives", value=1e308, at=at("2026-11-20T00:00")))
        s.add(MetricReading(unit_id="huyen-a", metric="initiatives", value=6274, at=at("2099-11-20T00:00")))
        s.add(MetricReading(unit_id="huyen-a", metric="initiatives", value=7, at=at("2026-11-19T00:00")))
    with sqlite_store.session() as s:
        values = subtree_values(s, campaign, "initiatives")
    assert values["huyen-b"] == 0 and values["huyen-a"] == 7 and values["tinh"] == 7
