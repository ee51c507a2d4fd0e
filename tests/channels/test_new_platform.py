"""Adding a platform as an exercise (issue 14): a website CMS defined only in the test suite
(tests/channels/site_platform.py, its fake in tests/fakes/site_server.py) is registered through the
spec and then planned, published, held and reconciled by the real loader, planner and worker, over
real HTTP, without a line of it under ``bot/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.channels import spec
from bot.load import LoadError, load_campaign
from bot.pipeline import tick
from bot.store import ChannelState, Delivery, DeliveryState, open_store
from bot.store.channels import release_hold
from tests.channels.site_platform import SPEC
from tests.fakes.site_server import SiteFake

T0 = datetime.fromisoformat("2026-11-26T08:00+07:00").astimezone(UTC)
SITE_CHANNEL = '      - {platform: site, site_id: "congdoan.example.vn", token_env: SITE_TOKEN}\n'


@pytest.fixture
def site() -> Iterator[SiteFake]:
    spec.register(SPEC, replace=True)
    try:
        with SiteFake() as fake:
            yield fake
    finally:
        spec.unregister("site")


@pytest.fixture
def rig(mini: Path, site: SiteFake, tmp_path: Path):
    units = mini / "config" / "units.yaml"
    text = units.read_text(encoding="utf-8")
    anchor = '      - {platform: facebook, page_id: "1002", token_env: FB_TOKEN_A}\n'
    assert anchor in text
    units.write_text(text.replace(anchor, anchor + SITE_CHANNEL), encoding="utf-8")
    campaign = load_campaign(mini)
    store = open_store(f"sqlite:///{tmp_path / 'site.db'}")
    env = {"SITE_TOKEN": site.token, "SITE_BASE": site.base_url}  # no Facebook/Zalo token: those go to the outbox
    yield campaign, store, env
    store.close()


def site_delivery(store) -> Delivery:
    with store.session() as s:
        (d,) = s.exec(select(Delivery).where(Delivery.channel_id == "huyen-a/site")).all()
        return d


def test_the_loader_knows_the_platform_only_while_it_is_registered(mini: Path) -> None:
    units = mini / "config" / "units.yaml"
    anchor = '      - {platform: facebook, page_id: "1002", token_env: FB_TOKEN_A}\n'
    units.write_text(units.read_text(encoding="utf-8").replace(anchor, anchor + SITE_CHANNEL), encoding="utf-8")
    with pytest.raises(LoadError) as err:
        load_campaign(mini)
    said = "\n".join(p.one_line() for p in err.value.problems)
    assert "units.yaml" in said and "site" in said and "facebook" in said  # the file, the name, the known ones


def test_planned_and_published_once_like_any_platform(rig, site: SiteFake) -> None:
    campaign, store, env = rig
    report = tick(campaign, store, env, T0)
    d = site_delivery(store)
    assert d.state == DeliveryState.SENT and d.platform == "site"
    assert list(site.posts) == [d.platform_post_id]
    post = site.posts[d.platform_post_id]
    assert post["title"] and "#1TrieuSangKien" in post["text"]
    assert report.worker.outcomes["sent"] >= 2  # the site and the outbox channels, in the same pass
    tick(campaign, store, env, T0 + timedelta(minutes=1))
    assert len(site.posts) == 1  # nothing posted twice


def test_a_dead_token_holds_the_channel_until_a_person_releases_it(rig, site: SiteFake) -> None:
    campaign, store, env = rig
    site.fail_next(401)
    tick(campaign, store, env, T0)
    with store.session() as s:
        st = s.get(ChannelState, "huyen-a/site")
        assert st is not None and st.status == "held" and "SITE_TOKEN" in (st.fix or "")
        assert site.token not in (st.reason or "") + (st.fix or "")
    assert site_delivery(store).state != DeliveryState.SENT and not site.posts
    tick(campaign, store, env, T0 + timedelta(minutes=5))
    assert not site.posts  # held: nothing goes while nobody acted
    assert release_hold(store, "huyen-a/site", T0 + timedelta(minutes=6), actor="test", why="token mới")
    tick(campaign, store, env, T0 + timedelta(minutes=7))
    assert site_delivery(store).state == DeliveryState.SENT and len(site.posts) == 1


def test_an_answer_lost_after_the_post_is_reconciled_not_posted_again(rig, site: SiteFake) -> None:
    campaign, store, env = rig
    site.drop_next()  # the CMS makes the post, then the connection drops before the answer
    tick(campaign, store, env, T0)
    d = site_delivery(store)
    assert len(site.posts) == 1 and d.state != DeliveryState.SENT and d.needs_check
    later = max(d.next_attempt_at or T0, d.lease_until or T0) + timedelta(seconds=1)
    tick(campaign, store, env, later.replace(tzinfo=UTC) if later.tzinfo is None else later)
    d = site_delivery(store)
    assert d.state == DeliveryState.SENT and len(site.posts) == 1
    assert d.platform_post_id == next(iter(site.posts))  # the one the CMS made, found by its key
