"""The Graph API as it answers today (issue 18, item 4), against the fake Graph server over real HTTP:
``caption`` on /photos, the three meanings of #368, 80001 with the Business Use Case header, and
insights metrics that survive the 2025 deprecations (and a metric that disappears later)."""

from __future__ import annotations

import pytest

from bot.channels import Rejected, RetryLater, spec
from bot.channels.facebook import engagement as fb_engagement
from bot.channels.facebook.spec import POLICY_BLOCK_REST, TOO_FAST_PAUSE
from tests.fakes.graph_server import ALREADY_POSTED_MESSAGE, TOO_FAST_SUBCODE, GraphFake
from tests.test_facebook import PAGE, TEXT, batch_calls, image, make_channel, make_post


@pytest.fixture
def fake():
    with GraphFake() as server:
        server.add_page(PAGE, "Liên đoàn Lao động tỉnh Ninh Thuận")
        yield server


@pytest.fixture
def channel(fake, tmp_path):
    ch = make_channel(fake, tmp_path)
    yield ch
    ch.close()


@pytest.fixture(autouse=True)
def _fresh_metrics():
    fb_engagement._RETIRED.clear()
    yield
    fb_engagement._RETIRED.clear()


def test_a_photo_post_sends_its_text_as_caption(fake, channel, tmp_path):
    channel.publish(make_post(images=[image(tmp_path)]))
    photo = next(s for s in fake.requests if s.target.endswith("/photos"))
    assert "caption" in photo.fields and "message" not in photo.fields
    assert fake.posts_for(PAGE)[0].message == TEXT and fake.violations == []


def test_posting_too_fast_pauses_the_page_then_posts(fake, channel):
    fake.fail_next(PAGE, code=368, subcode=TOO_FAST_SUBCODE, endpoint="feed")
    with pytest.raises(RetryLater) as info:
        channel.publish(make_post())
    exc = info.value
    assert exc.scope == "channel" and exc.retry_after == TOO_FAST_PAUSE and exc.code == "368/1390008"
    assert not exc.maybe_sent and fake.post_count(PAGE) == 0
    assert spec.get("facebook").rest_after(exc) is None  # a pause, not a policy rest
    published = channel.publish(make_post())  # the worker's next attempt, after the pause
    assert fake.post_count(PAGE) == 1 and published.post_id == fake.posts_for(PAGE)[0].id


def test_already_posted_finds_the_existing_post_and_counts_it_once(fake, channel):
    # The first attempt made the post but its answer was lost; the retry is told "You've already posted this".
    fake.drop_next(after_accept=True, page_id=PAGE, endpoint="feed")
    with pytest.raises(RetryLater):
        channel.publish(make_post())
    fake.fail_next(PAGE, code=368, message=ALREADY_POSTED_MESSAGE, endpoint="feed")
    published = channel.publish(make_post())
    assert fake.post_count(PAGE) == 1
    assert published.post_id == fake.posts_for(PAGE)[0].id and published.extra.get("duplicate_resolved")


def test_already_posted_without_our_post_on_the_page_is_rejected_without_rest(fake, channel):
    fake.fail_next(PAGE, code=368, message=ALREADY_POSTED_MESSAGE, endpoint="feed")
    with pytest.raises(Rejected) as info:
        channel.publish(make_post())
    assert info.value.code == "368/duplicate" and spec.get("facebook").rest_after(info.value) is None


def test_a_real_policy_block_fails_the_delivery_and_rests_the_page(fake, channel):
    fake.fail_next(PAGE, code=368, subcode=1346003, endpoint="feed")
    with pytest.raises(Rejected) as info:
        channel.publish(make_post())
    assert info.value.code == "368" and spec.get("facebook").rest_after(info.value) == POLICY_BLOCK_REST
    assert fake.post_count(PAGE) == 0


def test_page_throttling_80001_reads_the_business_use_case_header_first(fake, channel):
    fake.fail_next(PAGE, code=80001, estimated_minutes=7, legacy_minutes=60, endpoint="feed")
    with pytest.raises(RetryLater) as info:
        channel.publish(make_post())
    assert info.value.scope == "channel" and info.value.retry_after == 7 * 60


def test_the_old_page_usage_header_still_counts_when_alone():
    from bot.channels.facebook import Usage

    usage = Usage.from_headers({"X-Page-Usage": '{"call_count": 95, "estimated_time_to_regain_access": 3}'})
    assert usage.page_percent == 95 and usage.regain_seconds == 180
    both = Usage.from_headers({
        "X-Page-Usage": '{"call_count": 99, "estimated_time_to_regain_access": 30}',
        "X-Business-Use-Case-Usage": f'{{"{PAGE}": [{{"type": "pages", "call_count": 12, "total_time": 3,'
                                     '"estimated_time_to_regain_access": 0}]}',
    }, PAGE)
    assert both.page_percent == 12 and both.advice() == {}


def test_engagement_reads_views_and_reach_from_supported_metrics(fake, channel):
    ids = [fake.add_post(PAGE, f"bài {i}") for i in range(3)]
    fake.set_engagement(ids[0], reactions=5, comments=1, shares=2)
    fake.set_insights(ids[0], post_media_view=340, post_total_media_view_unique=210)
    fake.reset_log()
    readings = channel.engagement(ids)
    assert batch_calls(fake) == 1
    first = readings[ids[0]]
    assert (first.reactions, first.comments, first.shares, first.views) == (5, 1, 2, 340)
    assert first.extra == {"reach": 210}


def test_engagement_keeps_working_when_a_metric_is_retired(fake, channel, caplog):
    ids = [fake.add_post(PAGE, f"bài {i}") for i in range(60)]
    fake.set_engagement(ids[0], reactions=9)
    fake.set_insights(ids[0], post_media_view=77, post_total_media_view_unique=50)
    fake.retire_metric("post_total_media_view_unique")  # Meta retires one more metric tomorrow
    readings = channel.engagement(ids)
    assert len(readings) == 60  # nobody's reactions were lost to the #100
    assert readings[ids[0]].reactions == 9 and readings[ids[0]].views == 77 and readings[ids[0]].extra == {}
    assert fb_engagement.live_metrics() == ("post_media_view",)
    assert "post_total_media_view_unique" in caplog.text
    fake.reset_log()
    channel.engagement(ids[:5])  # the retired metric is not asked for again
    assert batch_calls(fake) == 1
