"""One contract, every registered platform: the same table of situations, each against the platform's
fake server over real HTTP (issue 14). Adding a platform = one row in PLATFORMS (a small rig that knows
how to provoke each situation on its fake); the expectations are shared.

| situation                 | what the channel must do                                                   |
|---------------------------|----------------------------------------------------------------------------|
| posted                    | Published; exactly one post on the platform                                |
| duplicate                 | the platform already has this post: Published with that post; still one    |
| retryable                 | RetryLater for this delivery; the next attempt posts once                  |
| rate-limited              | RetryLater that pauses the channel or the app, with a wait                 |
| token dead                | HoldChannel with a fix for a person; nothing posted                        |
| permission missing        | HoldChannel with a fix; nothing posted                                     |
| rejected                  | Rejected; nothing posted                                                   |
| answer lost after success | RetryLater that may have sent; reconcile finds the post; still one         |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.channels import Channel, ChannelError, HoldChannel, Post, Published, Rejected, RetryLater, spec
from tests.fakes.graph_server import GraphFake
from tests.fakes.zalo_server import DAY, OA_ID, FakeZalo, StaticServer, ZaloRig

SITUATIONS = ("posted", "duplicate", "retryable", "rate-limited", "token dead", "permission missing", "rejected",
              "answer lost after success")


class Rig(Protocol):
    """What the contract needs from one platform's test wiring."""

    def channel(self) -> Channel: ...
    def post(self) -> Post: ...
    def count(self) -> int: ...
    def provoke(self, situation: str, channel: Channel, post: Post) -> None: ...


def again(post: Post, exc: ChannelError) -> Post:
    """The post as the worker hands it back on the next attempt (progress merged)."""
    return replace(post, progress={**post.progress, **(exc.progress or {})})


# ------------------------------------------------------------------------------------------- Facebook

PAGE = "100064000000001"


class FacebookRig:
    def __init__(self, fake: GraphFake, tmp_path: Path) -> None:
        from tests.test_facebook import make_post

        self.fake = fake
        self.tmp_path = tmp_path
        self.make_post = make_post

    def channel(self) -> Channel:
        from tests.test_facebook import make_channel

        return make_channel(self.fake, self.tmp_path)

    def post(self) -> Post:
        return self.make_post()

    def count(self) -> int:
        return self.fake.post_count(PAGE)

    def provoke(self, situation: str, channel: Channel, post: Post) -> None:
        f = self.fake
        if situation == "duplicate":
            f.add_post(PAGE, post.text)  # an earlier attempt made it; the platform now says "duplicate"
            f.fail_next(PAGE, code=506, endpoint="feed")
        elif situation == "retryable":
            f.fail_next(PAGE, code=1, endpoint="feed")
        elif situation == "rate-limited":
            f.fail_next(PAGE, code=80001, estimated_minutes=5, endpoint="feed")
        elif situation == "token dead":
            f.revoke(f.token_for(PAGE), 463)
        elif situation == "permission missing":
            f.set_scopes(f.token_for(PAGE), ["pages_show_list", "pages_read_engagement"])
        elif situation == "rejected":
            f.fail_next(PAGE, code=100, endpoint="feed")
        elif situation == "answer lost after success":
            f.drop_next(after_accept=True, page_id=PAGE, endpoint="feed")


@pytest.fixture
def facebook_rig(tmp_path: Path) -> Iterator[FacebookRig]:
    with GraphFake() as fake:
        fake.add_page(PAGE, "Liên đoàn Lao động tỉnh")
        yield FacebookRig(fake, tmp_path)


# ------------------------------------------------------------------------------------------- Zalo


class ZaloContractRig:
    def __init__(self, rig: ZaloRig) -> None:
        self.rig = rig
        self.fake = rig.fake
        self.fake.processing_seconds = 0  # Zalo processes an article on its own, verified or not

    def channel(self) -> Channel:
        return self.rig.channel()

    def post(self) -> Post:
        return self.rig.post()

    def count(self) -> int:
        return len(self.fake.created_articles)

    def provoke(self, situation: str, channel: Channel, post: Post) -> None:
        f = self.fake
        if situation == "duplicate":
            self.rig.channel().publish(post)  # an earlier process made it; its progress was lost
        elif situation == "retryable":
            f.fail_next("/v2.0/article/create", error=-200)
        elif situation == "rate-limited":
            f.fail_next("/v2.0/article/create", error=-32)
        elif situation == "token dead":
            f.revoke_all(OA_ID)
        elif situation == "permission missing":
            f.fail_next("/v2.0/article/create", error=-212)
        elif situation == "rejected":
            f.fail_next("/v2.0/article/create", error=-248)
        elif situation == "answer lost after success":
            f.fail_next("/v2.0/article/create", drop="after")


@pytest.fixture
def zalo_rig(sqlite_store: Any, tmp_path: Path) -> Iterator[ZaloContractRig]:
    folder = tmp_path / "www" / "media"
    folder.mkdir(parents=True)
    (tmp_path / "ws").mkdir()
    with FakeZalo() as fake, StaticServer(folder) as web:
        fake.clock.set(DAY)
        yield ZaloContractRig(ZaloRig(fake, sqlite_store, tmp_path / "ws", folder, web.base_url))


# ------------------------------------------------------------------------------------------- a plug-in
# A third platform that exists only in the test suite (tests/channels/site_platform.py, its fake on the
# shared base): registered through the spec, opened through the registry, held to the same contract.


class SiteRig:
    def __init__(self, fake: Any, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path

    def channel(self) -> Channel:
        from bot.channels import ChannelContext, open_channel
        from bot.store import Channel as Row

        row = Row(id="tinh/site", unit_id="tinh", platform="site", account_id="congdoan.example.vn",
                  token_env="SITE_TOKEN")
        env = {"SITE_TOKEN": self.fake.token, "SITE_BASE": self.fake.base_url}
        return open_channel(row, ChannelContext(self.tmp_path, None, env))  # type: ignore[arg-type]

    def post(self) -> Post:
        from tests.test_facebook import make_post

        return make_post(platform="site", channel_id="tinh/site")

    def count(self) -> int:
        return len(self.fake.posts)

    def provoke(self, situation: str, channel: Channel, post: Post) -> None:
        f = self.fake
        if situation == "duplicate":
            channel.publish(post)  # an earlier attempt made it
        elif situation == "retryable":
            f.fail_next(500)
        elif situation == "rate-limited":
            f.fail_next(429)
        elif situation == "token dead":
            f.token = "rotated-by-the-admin-000000"
        elif situation == "permission missing":
            f.scopes.discard("write")
        elif situation == "rejected":
            f.fail_next(422)
        elif situation == "answer lost after success":
            f.drop_next()


@pytest.fixture
def site_rig(tmp_path: Path) -> Iterator[SiteRig]:
    from tests.channels.site_platform import SPEC
    from tests.fakes.site_server import SiteFake

    spec.register(SPEC)
    try:
        with SiteFake() as fake:
            yield SiteRig(fake, tmp_path)
    finally:
        spec.unregister("site")


# ------------------------------------------------------------------------------------------- the table

PLATFORMS = {"facebook": "facebook_rig", "zalo": "zalo_rig", "site": "site_rig"}


def test_every_registered_platform_has_a_contract_row() -> None:
    assert set(spec.names()) <= set(PLATFORMS), "a registered platform without a row in the contract test"


def test_a_plugin_platform_is_opened_through_the_registry(site_rig: SiteRig) -> None:
    ch = site_rig.channel()
    assert type(ch).__name__ == "SiteChannel" and str(ch).startswith("site://congdoan.example.vn (Trang web")
    assert site_rig.fake.token not in str(ch) and "SITE_TOKEN" in spec.secret_names(["SITE_TOKEN"])
    ch.close()


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_contract(platform: str, situation: str, request: pytest.FixtureRequest) -> None:
    rig: Rig = request.getfixturevalue(PLATFORMS[platform])
    ch = rig.channel()
    post = rig.post()
    try:
        rig.provoke(situation, ch, post)
        _check(rig, situation, ch, post)
    finally:
        ch.close()


def _check(rig: Rig, situation: str, ch: Channel, post: Post) -> None:
    if situation == "posted":
        published = ch.publish(post)
        assert isinstance(published, Published) and published.post_id and rig.count() == 1
        return
    if situation == "duplicate":
        before = rig.count()
        published = ch.publish(post)
        assert published.post_id and rig.count() == before == 1
        return
    if situation in ("token dead", "permission missing"):
        with pytest.raises(HoldChannel) as hold:
            ch.publish(post)
        assert hold.value.fix and rig.count() == 0
        return
    if situation == "rejected":
        with pytest.raises(Rejected):
            ch.publish(post)
        assert rig.count() == 0
        return
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    exc = info.value
    if situation == "rate-limited":
        assert exc.scope in ("channel", "app") and (exc.retry_after or 0) > 0 and rig.count() == 0
        return
    nxt = again(post, exc)
    if situation == "retryable":
        assert exc.scope == "delivery" and rig.count() == 0
        if exc.maybe_sent:  # the worker reconciles first
            assert ch.find_existing(nxt) is None
        assert ch.publish(nxt).post_id and rig.count() == 1
        return
    assert situation == "answer lost after success"
    assert (exc.maybe_sent or exc.in_flight) and rig.count() == 1
    found = ch.find_existing(nxt)
    assert found is not None and found.post_id
    assert ch.publish(nxt).post_id == found.post_id and rig.count() == 1
