"""The Zalo channel against the fake Zalo over real HTTP: articles, broadcasts, errors, reconcile, secrets."""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels import HoldChannel, Published, Rejected, RetryLater
from bot.channels.zalo import ZaloChannel, classify
from tests.fakes.zalo_server import DAY, OA_ID, FakeZalo, StaticServer, ZaloRig

NIGHT = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 23:30 in Vietnam


@pytest.fixture
def fake() -> Iterator[FakeZalo]:
    with FakeZalo() as f:
        f.clock.set(DAY)
        yield f


@pytest.fixture
def rig(fake: FakeZalo, sqlite_store: Any, tmp_path: Path) -> Iterator[ZaloRig]:
    folder = tmp_path / "www" / "media"
    folder.mkdir(parents=True)
    (tmp_path / "ws").mkdir()
    with StaticServer(folder) as web:
        yield ZaloRig(fake, sqlite_store, tmp_path / "ws", folder, web.base_url)


def again(post: Any, exc: Exception | None = None, **kw: Any) -> Any:
    """The post as the worker hands it back on the next attempt (progress merged)."""
    progress = dict(post.progress)
    if exc is not None:
        progress.update(getattr(exc, "progress", {}) or {})
    return replace(post, progress=progress, **kw)


# ---------------------------------------------------------------------------------------------- publishing


def test_a_story_becomes_one_visible_article_with_its_banner(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    post = rig.post()
    pub = ch.publish(post)
    assert len(fake.created_articles) == 1
    art = fake.created_articles[0]
    assert pub.post_id == art.id and pub.url == f"https://zalo.me/fake/article/{art.id}"
    p = art.payload
    assert p["type"] == "normal" and p["status"] == "show" and p["comment"] == "show"
    assert p["title"] == post.title and p["author"] == post.unit_name
    assert p["description"].startswith("Anh Nguyễn Văn Bình")
    cover = p["cover"]["photo_url"]
    assert cover.startswith(rig.media_base) and cover in fake.fetched_urls  # Zalo fetched it from the web server
    kinds = [b["type"] for b in p["body"]]
    assert kinds[0] == "image" and "text" in kinds
    texts = " ".join(b["content"] for b in p["body"] if b["type"] == "text")
    assert "&amp;" in texts and "&lt;độc hại&gt;" in texts and "#1TrieuSangKien" in texts
    assert (rig.media_folder / cover.rsplit("/", 1)[1]).read_bytes() == post.images[0].read_bytes()
    assert [a.id for a in fake.visible_articles()] == [art.id]
    assert pub.extra["broadcast"] == "off" and pub.extra["article_id"] == art.id
    assert not fake.broadcasts
    # verify was polled: the first answer was -214 "being processed"
    assert len(fake.calls("/v2.0/article/verify")) == 2


def test_text_is_nfc_and_cut_to_the_platform_limits(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    nfd_title = unicodedata.normalize("NFD", "Tự hào trí tuệ lao động Việt Nam – ") * 8
    long_unit = "Công đoàn cơ sở Công ty Trách nhiệm hữu hạn Một thành viên Điện lực Ninh Thuận"
    ch.publish(rig.post(title=nfd_title, unit_name=long_unit, body="Đoạn ngắn."))
    p = fake.created_articles[0].payload
    assert unicodedata.is_normalized("NFC", p["title"])
    assert len(p["title"]) <= 150 and p["title"].endswith("…")
    assert len(p["author"]) <= 50 and p["author"].startswith("Công đoàn cơ sở")


def test_verify_is_polled_with_back_off_then_handed_to_the_next_attempt(
    rig: ZaloRig, fake: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.channels.zalo as zalo

    slept: list[float] = []
    monkeypatch.setattr(zalo.time, "sleep", slept.append)
    ch = rig.channel()
    ch.verify_delays = ZaloChannel(ch.row, ch.ctx).verify_delays  # the production schedule
    fake.verify_pending_calls = 100
    post = rig.post()
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    assert slept == [1, 2, 3, 5, 8, 13]  # growing pauses, about 30 s in all
    assert info.value.progress.get("article_token") and not info.value.maybe_sent
    fake.verify_pending_calls = 0
    pub = ch.publish(again(post, info.value))
    assert len(fake.created_articles) == 1 and pub.post_id == fake.created_articles[0].id


def test_an_aged_out_verify_token_finds_the_article_instead_of_failing(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    fake.verify_pending_calls = 100
    post = rig.post()
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    fake.jobs.clear()  # Zalo forgot the create token…
    fake.processing_seconds = 0  # …but the article was processed and is listed
    pub = ch.publish(again(post, info.value))
    assert pub.post_id == fake.created_articles[0].id and len(fake.created_articles) == 1


def test_line_breaks_inside_a_paragraph_are_kept(rig: ZaloRig, fake: FakeZalo) -> None:
    rig.channel().publish(rig.post(body="Các bước:\n- Bước 1\n- Bước 2\n\nĐoạn hai."))
    texts = [b["content"] for b in fake.created_articles[0].payload["body"] if b["type"] == "text"]
    assert texts[0] == "<p>Các bước:<br>- Bước 1<br>- Bước 2</p>" and texts[1] == "<p>Đoạn hai.</p>"


def test_processing_failure_rejects_the_post(rig: ZaloRig, fake: FakeZalo) -> None:
    fake.fail_processing = -248
    with pytest.raises(Rejected) as info:
        rig.channel().publish(rig.post())
    assert "Violates our platform standards" in info.value.message


def test_a_post_without_image_is_rejected(rig: ZaloRig, fake: FakeZalo) -> None:
    with pytest.raises(Rejected):
        rig.channel().publish(rig.post(images=[]))
    assert not fake.created_articles


def test_big_photo_is_scaled_under_1_mb_before_zalo_fetches_it(rig: ZaloRig, fake: FakeZalo) -> None:
    import os

    from PIL import Image

    banner = rig.banner()
    photo = banner.parent / "anh-lon.png"
    Image.frombytes("RGB", (1300, 1300), os.urandom(1300 * 1300 * 3)).save(photo)
    assert photo.stat().st_size > 1_000_000
    pub = rig.channel().publish(rig.post(images=[banner, photo]))
    body_images = [b["url"] for b in fake.created_articles[0].payload["body"] if b["type"] == "image"]
    assert len(body_images) == 2 and body_images[1].endswith(".jpg")
    assert all(u in fake.fetched_urls for u in body_images)
    assert pub.post_id


def test_without_media_settings_the_channel_is_held(rig: ZaloRig, fake: FakeZalo) -> None:
    with pytest.raises(HoldChannel) as info:
        rig.channel(campaign=None).publish(rig.post())
    assert "media" in info.value.message and "campaign.yaml" in info.value.fix
    assert not fake.created_articles


def test_unreachable_media_holds_the_channel(rig: ZaloRig, fake: FakeZalo) -> None:
    rig.media_base = rig.media_base + "khong-co/"
    with pytest.raises(HoldChannel) as info:
        rig.channel().publish(rig.post())
    assert "ảnh" in info.value.message and "base_url" in info.value.fix
    assert not fake.created_articles


def test_a_token_of_another_oa_holds_the_channel(rig: ZaloRig, fake: FakeZalo) -> None:
    fake.add_oa("999", name="OA khác")
    rig.seeds["ZALO_REFRESH_KCN"] = fake.seed_refresh_token("999")
    with pytest.raises(HoldChannel) as info:
        rig.channel(OA_ID).publish(rig.post())
    assert "OA khác" in info.value.message and "ZALO_REFRESH_KCN" in info.value.fix
    assert not fake.created_articles


# ---------------------------------------------------------------------------------------------- broadcast


def test_broadcast_follows_the_article_when_enabled(rig: ZaloRig, fake: FakeZalo) -> None:
    pub = rig.channel(broadcast=True).publish(rig.post())
    assert len(fake.broadcasts) == 1
    b = fake.broadcasts[0]
    assert b.article_ids == [pub.post_id]  # the verified article id, not the create token
    assert pub.extra["broadcast"] == "sent" and pub.extra["broadcast_message_id"] == b.message_id


def test_broadcast_waits_through_the_night_and_the_article_is_not_made_twice(rig: ZaloRig, fake: FakeZalo) -> None:
    fake.clock.set(NIGHT)
    ch = rig.channel(broadcast=True)
    post = rig.post()
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    exc = info.value
    assert exc.progress["article_id"] == fake.created_articles[0].id
    assert getattr(exc, "wait", False)  # a planned wait, not a failed attempt
    # 23:30 → 06:05 the next morning
    assert exc.retry_after == pytest.approx(6 * 3600 + 35 * 60, abs=120)
    assert not fake.calls("/v2.0/oa/message")  # never even tried at night
    fake.clock.advance(7 * 3600)  # 06:30
    pub = ch.publish(again(post, exc))
    assert len(fake.created_articles) == 1 and len(fake.broadcasts) == 1
    assert pub.extra["broadcast"] == "sent"


def test_platform_night_refusal_also_waits(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True)
    fake.fail_next("/v2.0/oa/message", error=-234)
    with pytest.raises(RetryLater) as info:
        ch.publish(rig.post())
    assert info.value.code == "-234" and info.value.progress["article_id"]


def test_spent_broadcast_quota_waits_never_fails(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True, broadcast_quota=0)
    post = rig.post()
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    assert info.value.code == "-211" and info.value.retry_after and info.value.retry_after >= 3600
    assert getattr(info.value, "wait", False)
    assert info.value.progress["article_id"] and len(fake.created_articles) == 1
    fake.oas[OA_ID].broadcast_quota = 5  # the package month renewed
    pub = ch.publish(again(post, info.value))
    assert pub.extra["broadcast"] == "sent" and len(fake.created_articles) == 1


def test_one_broadcast_a_day_the_second_waits_for_tomorrow(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True)
    ch.publish(rig.post(1))
    second = rig.post(2, title="Gương sáng nữ đoàn viên KCN")
    with pytest.raises(RetryLater) as info:
        ch.publish(second)
    assert info.value.code == "broadcast-daily" and len(fake.broadcasts) == 1
    assert len(fake.calls("/v2.0/oa/message")) == 1  # the guard spared a call that would reach nobody
    fake.clock.advance(24 * 3600)
    pub = ch.publish(again(second, info.value))
    assert pub.extra["broadcast"] == "sent" and len(fake.broadcasts) == 2 and len(fake.created_articles) == 2


def test_capped_followers_make_the_broadcast_wait(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True, follower_monthly=0)
    with pytest.raises(RetryLater) as info:
        ch.publish(rig.post())
    assert info.value.code == "-218" and info.value.progress["article_id"]


def test_unverified_oa_publishes_the_article_and_says_why_it_cannot_broadcast(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True, verified=False)
    pub = ch.publish(rig.post())
    assert pub.extra["broadcast"].startswith("not allowed:") and "xác thực" in pub.extra["broadcast"]
    assert len(fake.created_articles) == 1 and not fake.calls("/v2.0/oa/message")
    check = ch.check()
    assert check.ok and check.problem and "broadcast" in check.problem
    assert check.details["broadcast"].startswith("not allowed")


def test_broadcast_lost_on_the_wire_is_never_sent_twice(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True)
    post = rig.post()
    fake.fail_next("/v2.0/oa/message", drop="after")  # Zalo sent it, the answer is lost
    pub = ch.publish(post)
    assert pub.extra["broadcast"].startswith("unknown:") and len(fake.broadcasts) == 1
    pub2 = ch.publish(replace(post, progress={"article_id": pub.post_id}))
    assert pub2.extra["broadcast"].startswith("unknown:")
    assert len(fake.broadcasts) == 1 and len(fake.calls("/v2.0/oa/message")) == 1


@pytest.mark.parametrize(
    "code, message, outcome",
    [
        (-211, None, RetryLater),
        (-218, None, RetryLater),
        (-234, None, RetryLater),
        (-32, None, RetryLater),
        (-200, None, RetryLater),
        (-221, None, "not allowed"),
        (-224, None, "not allowed"),
        (-201, "attachment_id is invalid!", "rejected"),
        (-212, None, HoldChannel),
        (-321, None, HoldChannel),
    ],
)
def test_broadcast_errors(rig: ZaloRig, fake: FakeZalo, code: int, message: str | None, outcome: Any) -> None:
    ch = rig.channel(broadcast=True)
    kw = {"message": message} if message else {}
    fake.fail_next("/v2.0/oa/message", error=code, **kw)
    post = rig.post()
    if isinstance(outcome, str):
        pub = ch.publish(post)
        assert pub.extra["broadcast"].startswith(outcome)
        return
    with pytest.raises(outcome) as info:
        ch.publish(post)
    # the article exists and the next attempt only broadcasts
    assert info.value.progress["article_id"] == fake.created_articles[0].id
    pub = ch.publish(again(post, info.value))
    assert pub.extra["broadcast"] == "sent"
    assert len(fake.created_articles) == 1 and len(fake.broadcasts) == 1


# ---------------------------------------------------------------------------------------------- errors


HOLD, REJECT, RETRY = HoldChannel, Rejected, RetryLater


@pytest.mark.parametrize(
    "fault, expected, scope",
    [
        ({"error": -32}, RETRY, "app"),
        ({"error": -100}, RETRY, "delivery"),
        ({"error": -200}, RETRY, "delivery"),
        ({"error": -201, "message": "title is invalid!"}, REJECT, None),
        ({"error": -201, "message": "photo_url is invalid!"}, HOLD, None),
        ({"error": -204}, HOLD, None),
        ({"error": -205}, HOLD, None),
        ({"error": -209}, HOLD, None),
        ({"error": -210}, REJECT, None),
        ({"error": -212}, HOLD, None),
        ({"error": -219}, HOLD, None),
        ({"error": -221}, HOLD, None),
        ({"error": -223}, HOLD, None),
        ({"error": -223, "message": "Your OA has reach the limit quota create article"}, RETRY, "channel"),
        ({"error": -224}, HOLD, None),
        ({"error": -233}, REJECT, None),
        ({"error": -235}, HOLD, None),
        ({"error": -240}, HOLD, None),
        ({"error": -242}, HOLD, None),
        ({"error": -248}, REJECT, None),
        ({"error": -320}, HOLD, None),
        ({"error": -321}, HOLD, None),
        ({"error": -999, "message": "Something new"}, RETRY, "delivery"),
        ({"error": "-210"}, REJECT, None),  # a code sent as a string
        ({"http_status": 502, "body": b"<html>502 Bad Gateway</html>", "content_type": "text/html"}, RETRY, "delivery"),
        ({"http_status": 429, "body": b""}, RETRY, "app"),
        ({"drop": "before"}, RETRY, "delivery"),
        ({"drop": "after"}, RETRY, "delivery"),
        ({"delay": 1.6}, RETRY, "delivery"),
    ],
    ids=lambda v: (
        str(v.get("error") or v.get("http_status") or v.get("drop") or ("delay" if "delay" in v else v))
        if isinstance(v, dict)
        else str(v)
    ),
)
def test_every_error_class_at_article_create(
    rig: ZaloRig, fake: FakeZalo, fault: dict, expected: type, scope: str | None
) -> None:
    """End state of the delivery and the channel, and that nothing is lost or posted twice."""
    ch = rig.channel(env={"ZALO_TIMEOUT": "1"})
    post = rig.post()
    fake.fail_next("/v2.0/article/create", **fault)
    with pytest.raises(expected) as info:
        ch.publish(post)
    exc = info.value
    if expected is RETRY:
        assert exc.scope == scope
        assert exc.retry_after and exc.retry_after > 0
    if expected is HOLD:
        assert exc.fix and exc.message.startswith("Zalo OA")
    if "error" in fault and not str(fault.get("message", "")).startswith("Your OA"):
        assert str(fault["error"]).lstrip("-") in exc.message  # the platform's code and message are kept
    # effect on the platform: only a lost answer can have created the article
    after = fault.get("drop") == "after" or "delay" in fault
    if "delay" in fault:  # the platform finishes the slow request after the client gave up
        deadline = time.monotonic() + 5
        while not fake.created_articles and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(fake.created_articles) == (1 if after else 0)
    if expected is RETRY:
        assert exc.maybe_sent == (("drop" in fault) or ("delay" in fault) or fault.get("http_status") == 502)
    if expected is REJECT:
        return  # the delivery fails with the platform's reason; nothing was posted
    # the next attempt (after the pause, or once a person fixed the channel) posts exactly once
    nxt = again(post, exc)
    if getattr(exc, "maybe_sent", False):
        fake.processing_seconds = 0  # the lost article finished processing meanwhile
        found = ch.find_existing(nxt)
        if after:
            assert found is not None and found.post_id == fake.created_articles[0].id
            return
        assert found is None
    pub = ch.publish(nxt)
    assert len(fake.created_articles) == 1 and pub.post_id == fake.created_articles[0].id


def test_classify_table_is_total_for_documented_codes() -> None:
    from bot.channels.zalo import ZaloApiError
    from tests.fakes.zalo_server import ERRORS

    for code, message in ERRORS.items():
        exc = classify(ZaloApiError(code, message, "/x"), env_name="ZALO_REFRESH_X")
        assert isinstance(exc, HoldChannel | Rejected | RetryLater)
        assert str(code) in exc.message


def test_refused_access_token_is_renewed_once_then_the_call_repeats(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.check()
    grants = len(fake.token_grants)
    fake.fail_next("/v2.0/article/create", error=-216)
    pub = ch.publish(rig.post())
    assert len(fake.token_grants) == grants + 1 and pub.post_id
    fake.fail_next("/v2.0/article/create", error=-220, times=2)
    with pytest.raises(HoldChannel) as info:
        ch.publish(rig.post(2, title="Bài thứ hai"))
    assert "-220" in info.value.message and "ZALO_REFRESH_KCN" in info.value.fix


def test_access_token_expired_on_the_platform_clock_is_renewed(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.check()
    ch.now = lambda: DAY  # the bot's clock lags: it believes its token is fresh
    fake.clock.advance(26 * 3600)
    grants = len(fake.token_grants)
    assert ch.publish(rig.post()).post_id
    assert len(fake.token_grants) == grants + 1
    assert any(r.path == "/v2.0/oa/getoa" for r in fake.requests)


# ---------------------------------------------------------------------------------------------- reconcile


def test_find_existing_matches_title_inside_the_delivery_window(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    post = rig.post()
    assert ch.find_existing(post) is None
    pub = ch.publish(post)
    found = ch.find_existing(post)
    assert found is not None and found.post_id == pub.post_id and found.url == pub.url
    # a week later the same title (a weekly slogan) is a new post: the old article is outside its window
    fake.clock.advance(7 * 24 * 3600)
    later = rig.post(2, first_attempt_at=fake.clock.now(), created_at=fake.clock.now())
    assert ch.find_existing(later) is None
    assert ch.publish(later).post_id != pub.post_id
    assert len(fake.created_articles) == 2


def test_find_existing_with_dates_as_text(rig: ZaloRig, fake: FakeZalo) -> None:
    fake.create_date_format = "date"
    ch = rig.channel()
    post = rig.post()
    pub = ch.publish(post)
    found = ch.find_existing(post)
    assert found is not None and found.post_id == pub.post_id


def test_crash_after_create_is_reconciled_not_posted_twice(rig: ZaloRig, fake: FakeZalo) -> None:
    """The process died after article/create: no progress was saved; the worker reconciles."""
    ch = rig.channel()
    post = rig.post()
    fake.fail_next("/v2.0/article/create", drop="after")
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    assert info.value.maybe_sent
    fake.processing_seconds = 0
    fresh = rig.channel()  # a new process
    found = fresh.find_existing(again(post))
    assert found is not None and len(fake.created_articles) == 1
    # even without reconciling first, publish finds it and does not create a second one
    assert fresh.publish(again(post)).post_id == found.post_id
    assert len(fake.created_articles) == 1


def test_find_existing_leaves_a_pending_broadcast_to_publish(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(broadcast=True)
    post = rig.post()
    fake.fail_next("/v2.0/oa/message", error=-211)
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    nxt = again(post, info.value)
    assert ch.find_existing(nxt) is None  # the article exists, but the post is not finished
    pub = ch.publish(nxt)
    assert pub.extra["broadcast"] == "sent" and len(fake.created_articles) == 1
    done = ch.find_existing(nxt)
    assert done is not None and done.extra["broadcast"] == "sent"


# ---------------------------------------------------------------------------------------------- engagement, check


def test_engagement_reads_views_and_shares(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ids = [ch.publish(rig.post(i, title=f"Bài số {i}")).post_id for i in range(1, 13)]
    fake.set_engagement(ids[0], views=321, shares=12)
    fake.set_engagement(ids[-1], views=5, shares=0)
    readings = ch.engagement([ids[0], ids[-1], "art_khong_co"])
    assert readings[ids[0]].views == 321 and readings[ids[0]].shares == 12
    assert readings[ids[0]].reactions is None and readings[ids[0]].comments is None
    assert readings[ids[-1]].views == 5
    assert "art_khong_co" not in readings


def test_check_reports_the_oa_and_token_state(rig: ZaloRig, fake: FakeZalo) -> None:
    check = rig.channel().check()
    assert check.ok and check.platform == "zalo" and check.account_name == "Công đoàn các Khu công nghiệp"
    assert check.details["đã xác thực"] == "có" and check.details["media"] == "tốt"
    assert check.details["token"]["trạng thái"] == "tốt"
    assert check.details["broadcast"] == "tắt"


def test_check_reports_a_lost_token_with_the_fix(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    fake.revoke_all(OA_ID)
    check = ch.check()
    assert not check.ok and check.problem and "refresh token" in check.problem
    assert check.fix and "ZALO_REFRESH_KCN" in check.fix and "campaign-bot channels" in check.fix


def test_check_reports_unreachable_media(rig: ZaloRig, fake: FakeZalo) -> None:
    rig.media_base = rig.media_base + "sai/"
    check = rig.channel().check()
    assert not check.ok and check.problem and "404" in check.problem


# ---------------------------------------------------------------------------------------------- secrets


def test_no_token_or_secret_in_urls_logs_exceptions_or_clear_text_columns(
    rig: ZaloRig, fake: FakeZalo, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    ch = rig.channel(broadcast=True)
    ch.publish(rig.post(1))
    fake.clock.advance(21 * 3600)  # renewal due: a rotation happens
    for fault in ({"error": -216}, {"error": -32}, {"drop": "before"}, {"error": -248}):
        fake.fail_next("/v2.0/article/create", **fault)
        try:
            ch.publish(rig.post(2, title="Bài có lỗi"))
        except Exception as exc:  # noqa: BLE001
            messages += [str(exc), repr(exc), getattr(exc, "fix", "") or ""]
    fake.revoke_all(OA_ID)
    fake.clock.advance(25 * 3600)
    try:
        ch.publish(rig.post(3, title="Bài sau khi mất quyền"))
    except HoldChannel as exc:
        messages += [str(exc), exc.fix]
    check = rig.channel().check()
    messages += [str(check), str(ch), repr(ch), repr(ch.tokens)]
    assert len(fake.token_grants) >= 2

    secrets = [fake.secret_key, rig.key, *fake.access_tokens, *fake.refresh_tokens]
    assert all(len(s) > 20 for s in secrets)
    blob_logs = caplog.text
    blob_messages = "\n".join(messages)
    db = Path(rig.store.engine.url.database)
    blob_db = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for secret in secrets:
        assert secret not in blob_logs
        assert secret not in blob_messages
        assert secret.encode() not in blob_db
        for r in fake.requests:
            assert secret not in r.url
    # secret_key goes only to the OAuth host, access_token only to the Open API host
    for r in fake.requests:
        if r.host == "oauth":
            assert "access_token" not in r.headers
        else:
            assert "secret_key" not in r.headers and fake.secret_key not in r.body.decode("utf-8", "replace")
            assert r.headers.get("access_token")
            assert "access_token" not in r.query
    # the columns are Fernet ciphertexts that decrypt with the key only
    from bot.secretbox import SecretBox
    from bot.store import ChannelToken

    with rig.store.session() as s:
        row = s.get(ChannelToken, "cd-kcn/zalo")
    assert row is not None and row.refresh_token_enc and row.refresh_token_enc.startswith("gAAAA")
    assert SecretBox(rig.key).decrypt(row.refresh_token_enc) in fake.refresh_tokens


def test_str_masks_the_token(rig: ZaloRig) -> None:
    ch = rig.channel()
    seed = rig.seeds["ZALO_REFRESH_KCN"]
    assert seed not in str(ch) and "ZALO_REFRESH_KCN" in str(ch) and OA_ID in str(ch)


def test_published_is_a_published(rig: ZaloRig) -> None:
    assert isinstance(rig.channel().publish(rig.post()), Published)


def test_window_start_uses_first_attempt(rig: ZaloRig) -> None:
    ch = rig.channel()
    t = datetime(2026, 12, 1, tzinfo=UTC)
    assert ch._window_start(rig.post(first_attempt_at=t)) == t - timedelta(minutes=10)
    assert ch._window_start(rig.post(first_attempt_at=None, created_at=None)) is None


def test_keep_alive_rotates_an_ageing_chain_without_posting(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.keep_alive()
    ch.keep_alive()
    assert len(fake.token_grants) == 1
    fake.clock.advance(80 * 24 * 3600)  # months without a post: the refresh token would soon expire
    ch.keep_alive()
    assert len(fake.token_grants) == 2 and not fake.created_articles


def test_the_fakes_own_article_quota_and_rate_limit(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(article_quota=1)
    ch.publish(rig.post(1))
    with pytest.raises(RetryLater) as info:
        ch.publish(rig.post(2, title="Bài thứ hai"))
    assert info.value.code == "-223" and info.value.scope == "channel"
    fake.rate_limit = 0
    with pytest.raises(RetryLater) as limited:
        ch.publish(rig.post(3, title="Bài thứ ba"))
    assert limited.value.code == "-32" and limited.value.scope == "app"


# ---------------------------------------------------------------------------------------------- the fake itself


def test_fake_speaks_the_documented_protocol(fake: FakeZalo) -> None:
    import requests

    fake.add_oa("1", name="OA")
    o, a = fake.oauth_base, fake.openapi_base
    sk = {"secret_key": fake.secret_key}
    code = fake.issue_code("1")
    form = {"code": code, "app_id": fake.app_id, "grant_type": "authorization_code", "code_verifier": "v"}
    first = requests.post(o + "/v4/oa/access_token", data=form, headers=sk, timeout=5).json()
    assert set(first) == {"access_token", "refresh_token", "expires_in"} and first["expires_in"] == "90000"
    again_ = requests.post(o + "/v4/oa/access_token", data=form, headers=sk, timeout=5).json()
    assert again_["error"] == -14014 and "message" not in again_  # a code is single-use
    bad = requests.post(o + "/v4/oa/access_token", data=form, headers={"secret_key": "x"}, timeout=5).json()
    assert bad["error"] == -14002
    at = {"access_token": first["access_token"]}
    r = requests.get(a + "/v2.0/oa/getoa", params=at, timeout=5)  # the legacy query form is refused
    assert r.status_code == 404
    assert requests.get(a + "/v2.0/oa/getoa", timeout=5).json()["error"] == -216
    r = requests.get(a + "/v2.0/oa/getoa", headers=at, timeout=5)
    assert r.json()["data"]["oa_id"] == "1" and "X-RateLimit-Remain" in r.headers
    assert requests.post(a + "/v3.0/article/create", headers=at, json={}, timeout=5).status_code == 404
    assert requests.get(a + "/v2.0/oa/getfollowers", headers=at, timeout=5).json()["error"] == -224
    users = requests.get(a + "/v3.0/oa/user/getlist", headers=at, params={"data": '{"offset":0,"count":51}'}, timeout=5)
    assert users.json()["error"] == -201
    q = requests.post(a + "/v3.0/oa/quota/message", headers=at, json={"user_id": "u1"}, timeout=5).json()
    assert q["data"]["promotion"]["daily_total"] == 1
    one = {"recipient": {"user_id": "u1"}, "message": {"text": "chào"}}
    assert requests.post(a + "/v2.0/oa/message", headers=at, json=one, timeout=5).json()["error"] == -240
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    up = requests.post(a + "/v2.0/oa/upload/image", headers=at, files={"file": ("a.png", png, "image/png")}, timeout=5)
    assert up.json()["data"]["attachment_id"].startswith("att_")
    big = requests.post(
        a + "/v2.0/oa/upload/image", headers=at, files={"file": ("a.png", png + b"0" * 1_000_000)}, timeout=5
    )
    assert big.json()["error"] == -210
    fake.clock.advance(25 * 3600 + 1)
    assert requests.get(a + "/v2.0/oa/getoa", headers=at, timeout=5).json()["error"] == -220
    r = requests.post(o + "/__fake/clock", json={"advance": 60}, timeout=5)
    assert r.json()["data"]["now"]


# ---------------------------------------------------------------------------------------------- corrections (issue 16)


def test_edit_updates_the_article_then_verifies_the_new_token(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    post = rig.post()
    published = ch.publish(post)
    fixed = replace(post, title="Sáng kiến máy bóc vỏ hạt điều tự động", body="Anh Nguyễn Văn Bính đã chế tạo máy.")
    assert ch.current(published.post_id, fixed).matches is False
    calls = len(fake.calls("/v2.0/article/verify"))
    result = ch.edit(published.post_id, fixed)
    assert result.post_id == published.post_id
    (art,) = fake.created_articles
    assert art.updates == 1 and art.payload["title"] == fixed.title
    assert "Nguyễn Văn Bính" in str(art.payload["body"])
    assert len(fake.calls("/v2.0/article/verify")) > calls  # the update's token was verified
    assert ch.current(published.post_id, fixed).matches is True


def test_remove_and_an_article_removed_by_hand_counts_as_removed(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    published = ch.publish(rig.post())
    assert ch.remove(published.post_id) is True
    assert fake.visible_articles(OA_ID) == []
    assert ch.remove(published.post_id) is False
    assert ch.current(published.post_id).exists is False
    with pytest.raises(Rejected) as info:
        ch.edit(published.post_id, rig.post())
    assert info.value.code == "gone" and "-201" in info.value.message
