"""The sample campaign through the real pipeline (`tick`, `campaign-bot channels`) against the fake Zalo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.load import load_campaign
from bot.pipeline import tick
from bot.secretbox import generate_key
from bot.store import ChannelState, Delivery, DeliveryState, open_store
from tests.fakes.zalo_server import FakeZalo, StaticServer

TINH, PHAN_RANG = "4318527600000000001", "4318527600000000002"
MONDAY_8 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 08:00 in Vietnam: the bai-dinh-ky slot


@pytest.fixture
def world(sample: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    media = sample / ".campaign" / "media"
    media.mkdir(parents=True)
    with FakeZalo() as fake, StaticServer(media) as web:
        fake.clock.set(MONDAY_8)

        fake.add_oa(TINH, name="Liên đoàn Lao động tỉnh Ninh Thuận")
        fake.add_oa(PHAN_RANG, name="LĐLĐ TP. Phan Rang – Tháp Chàm")
        campaign_yaml = sample / "config" / "campaign.yaml"
        text = campaign_yaml.read_text(encoding="utf-8")
        text = text.replace(
            "base_url: https://congdoan-ninhthuan.example.vn/media/", f"base_url: {web.base_url}\n    allow_http: true"
        )
        campaign_yaml.write_text(text, encoding="utf-8")
        env = fake.env(
            ZALO_REFRESH_LDLD_TINH=fake.seed_refresh_token(TINH),
            ZALO_REFRESH_LDLD_PHAN_RANG=fake.seed_refresh_token(PHAN_RANG),
            CAMPAIGN_SECRET_KEY=generate_key(),
            ZALO_TIMEOUT="5",
        )
        store = open_store(f"sqlite:///{sample / '.campaign' / 'campaign.db'}")
        yield {"ws": sample, "fake": fake, "env": env, "store": store, "media": media}
        store.close()


def zalo_deliveries(store: Any) -> list[Delivery]:
    with store.session() as s:
        rows = s.exec(select(Delivery).where(Delivery.platform == "zalo")).all()
    return [d for d in rows if d.channel_id in ("ldld-tinh/zalo", "ldld-phan-rang/zalo")]


def test_tick_publishes_each_due_delivery_once_and_broadcasts_where_enabled(world: dict[str, Any]) -> None:
    fake: FakeZalo = world["fake"]
    campaign = load_campaign(world["ws"])
    report = tick(campaign, world["store"], world["env"], MONDAY_8, max_workers=4)
    assert report.planned > 0
    ds = zalo_deliveries(world["store"])
    sent = [d for d in ds if d.state == DeliveryState.SENT]
    assert {d.channel_id for d in sent} == {"ldld-tinh/zalo", "ldld-phan-rang/zalo"}
    # ldld-tinh broadcasts: its first post (the milestone) was broadcast; its second article is up and
    # its broadcast waits for tomorrow (one broadcast a day reaches followers), with the article id kept
    waiting = [d for d in ds if d.state == DeliveryState.RETRY]
    assert [d.channel_id for d in waiting] == ["ldld-tinh/zalo"]
    assert "broadcast chờ đến ngày mai" in (waiting[0].reason or "")
    assert waiting[0].extra["progress"]["article_id"] in {a.id for a in fake.created_articles}
    assert len(fake.created_articles) == len(sent) + len(waiting)
    by_id = {a.id: a for a in fake.created_articles}
    for d in sent:
        art = by_id[d.platform_post_id or ""]
        assert art.oa_id == (TINH if d.channel_id == "ldld-tinh/zalo" else PHAN_RANG)
        assert art.payload["status"] == "show"
        cover = art.payload["cover"]["photo_url"]
        assert cover in fake.fetched_urls and (world["media"] / cover.rsplit("/", 1)[1]).exists()  # the banner
        assert d.extra["article_id"] == art.id
        assert d.extra["broadcast"] == ("sent" if d.channel_id == "ldld-tinh/zalo" else "off")
    # broadcast only where enabled (ldld-tinh), once a day
    tinh_sent = [d for d in sent if d.channel_id == "ldld-tinh/zalo"]
    assert len(fake.broadcasts) == 1 and fake.broadcasts[0].oa_id == TINH
    assert fake.broadcasts[0].article_ids[0] == tinh_sent[0].platform_post_id

    # the same moment again: nothing new on Zalo
    tick(campaign, world["store"], world["env"], MONDAY_8)
    assert len(fake.created_articles) == len(sent) + 1 and len(fake.broadcasts) == 1
    # the next morning the waiting broadcast goes out, and no article is made again
    tuesday = MONDAY_8.replace(day=1, month=12)
    fake.clock.set(tuesday)
    tick(campaign, world["store"], world["env"], tuesday)
    assert len(fake.broadcasts) == 2 and fake.broadcasts[1].article_ids == [waiting[0].extra["progress"]["article_id"]]
    done = {d.id: d for d in zalo_deliveries(world["store"])}[waiting[0].id]
    assert done.state == DeliveryState.SENT and done.platform_post_id == fake.broadcasts[1].article_ids[0]
    assert len(fake.created_articles) == len(sent) + 1


def test_a_refused_token_holds_the_channel_until_a_new_seed_is_set(world: dict[str, Any]) -> None:
    fake: FakeZalo = world["fake"]
    fake.revoke_all(PHAN_RANG)
    campaign = load_campaign(world["ws"])
    tick(campaign, world["store"], world["env"], MONDAY_8)
    with world["store"].session() as s:
        st = s.get(ChannelState, "ldld-phan-rang/zalo")
    assert st is not None and st.status == "held" and "ZALO_REFRESH_LDLD_PHAN_RANG" in (st.fix or "")
    pending = [d for d in zalo_deliveries(world["store"]) if d.channel_id == "ldld-phan-rang/zalo"]
    assert pending and all(d.state == DeliveryState.PENDING for d in pending)  # nothing lost
    assert not [a for a in fake.created_articles if a.oa_id == PHAN_RANG]
    # the admin authorized again: the new seed releases the channel and the post goes out, once
    world["env"]["ZALO_REFRESH_LDLD_PHAN_RANG"] = fake.seed_refresh_token(PHAN_RANG)
    fake.clock.set(MONDAY_8.replace(hour=2))
    tick(campaign, world["store"], world["env"], MONDAY_8.replace(hour=2))
    done = [d for d in zalo_deliveries(world["store"]) if d.channel_id == "ldld-phan-rang/zalo"]
    assert all(d.state == DeliveryState.SENT for d in done)
    assert len([a for a in fake.created_articles if a.oa_id == PHAN_RANG]) == len(done)


def test_channels_command_shows_the_oa_and_its_token(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in world["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CAMPAIGN_DB_URL", str(world["store"].url))
    runner = CliRunner()
    ws = str(world["ws"])
    result = runner.invoke(cli, ["--workspace", ws, "sync"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--workspace", ws, "channels", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    entries = {e["channel"]: e for e in json.loads(result.output)}
    tinh = entries["ldld-tinh/zalo"]
    assert tinh["ok"] and tinh["mode"] == "zalo" and tinh["account_name"] == "Liên đoàn Lao động tỉnh Ninh Thuận"
    assert tinh["details"]["token"]["trạng thái"] == "tốt" and tinh["details"]["broadcast"] == "bật"
    for secret in (world["env"]["ZALO_SECRET_KEY"], world["env"]["CAMPAIGN_SECRET_KEY"], *world["fake"].access_tokens):
        assert secret not in result.output


def test_a_waiting_broadcast_never_uses_up_the_retry_budget(world: dict[str, Any]) -> None:
    """With the OA's broadcast quota spent, the broadcast waits: more passes than the retry budget, never failed."""
    from datetime import timedelta

    from bot.worker import MAX_ATTEMPTS

    fake: FakeZalo = world["fake"]
    fake.oas[TINH].broadcast_quota = 0
    campaign = load_campaign(world["ws"])
    store = world["store"]
    tick(campaign, store, world["env"], MONDAY_8, max_workers=4)
    waiting = [d for d in zalo_deliveries(store) if d.channel_id == "ldld-tinh/zalo" and d.state == DeliveryState.RETRY]
    assert waiting, "the province's broadcast should be waiting for quota"
    first = waiting[0]
    moment = MONDAY_8
    for _ in range(MAX_ATTEMPTS + 4):
        with store.session() as s:
            d = s.get(Delivery, first.id)
        assert d.state == DeliveryState.RETRY and d.extra["progress"]["article_id"]
        moment = max(moment, d.next_attempt_at) + timedelta(minutes=1)
        fake.clock.set(moment)
        tick(campaign, store, world["env"], moment, max_workers=4)
    with store.session() as s:
        d = s.get(Delivery, first.id)
    assert d.state == DeliveryState.RETRY and d.attempts <= 1
    assert len([a for a in fake.created_articles if a.id == d.extra["progress"]["article_id"]]) == 1
