"""Issue 18, item 4 through the worker: a Page told "posting too fast" (368/1390008) pauses and then posts
once; a Page told "You've already posted this" does not fail and is not rested."""

from __future__ import annotations

from datetime import timedelta

from bot.pipeline import tick
from bot.store import DeliveryState
from tests.fakes.graph_server import ALREADY_POSTED_MESSAGE, TOO_FAST_SUBCODE
from tests.test_worker_facebook import PAGES, T0, channel_state, fake, setup, states  # noqa: F401 - fixtures


def test_posting_too_fast_pauses_the_page_then_posts_once(setup, fake) -> None:  # noqa: F811
    campaign, store, env = setup
    fake.fail_next(PAGES["huyen-b"], code=368, subcode=TOO_FAST_SUBCODE, endpoint="photos")
    tick(campaign, store, env, T0)
    st = channel_state(store, "huyen-b/facebook")
    assert st.paused_until is not None and st.paused_until >= T0 + timedelta(minutes=14)
    d = states(store)["huyen-b/facebook"]
    assert d.state == DeliveryState.RETRY and fake.post_count(PAGES["huyen-b"]) == 0
    tick(campaign, store, env, T0 + timedelta(minutes=5))
    assert fake.post_count(PAGES["huyen-b"]) == 0  # still resting
    tick(campaign, store, env, st.paused_until + timedelta(minutes=1))
    assert states(store)["huyen-b/facebook"].state == DeliveryState.SENT
    assert fake.post_count(PAGES["huyen-b"]) == 1
    assert fake.post_counts() == dict.fromkeys(PAGES.values(), 1)


def test_already_posted_elsewhere_is_rejected_without_resting_the_page(setup, fake) -> None:  # noqa: F811
    campaign, store, env = setup
    fake.fail_next(PAGES["tinh"], code=368, message=ALREADY_POSTED_MESSAGE, endpoint="photos")
    tick(campaign, store, env, T0)
    d = states(store)["tinh/facebook"]
    assert d.state == DeliveryState.FAILED and "đã được đăng" in d.reason
    st = channel_state(store, "tinh/facebook")
    assert st is None or st.paused_until is None  # not a policy block: the Page goes on
