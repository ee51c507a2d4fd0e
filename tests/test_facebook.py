"""The Facebook channel against the fake Graph API, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import traceback
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image

from bot.channels import ChannelContext, ChannelError, HoldChannel, Post, Published, Rejected, RetryLater
from bot.channels.facebook import FacebookChannel, new_session
from bot.store import Channel
from tests.fakes.graph_server import GraphFake

PAGE = "100064000000001"
OTHER_PAGE = "100064000000002"
TEXT = (
    "Sáng kiến máy bóc vỏ hạt điều bán tự động\n\n"
    "Anh Nguyễn Văn Bình, công nhân Công ty TNHH Hạt điều Ninh Thuận, đã chế tạo…\n\n"
    "#1TrieuSangKien #TuHaoTriTueLaoDongVietNam"
)


@pytest.fixture
def fake():
    with GraphFake() as server:
        server.add_page(PAGE, "Liên đoàn Lao động tỉnh Ninh Thuận")
        server.add_page(OTHER_PAGE, "LĐLĐ thành phố Phan Rang – Tháp Chàm")
        yield server


def make_channel(fake: GraphFake, tmp_path: Path, *, page: str = PAGE, token: str | None = None,
                 transport=None, **env: str) -> FacebookChannel:
    row = Channel(id="u/facebook", unit_id="u", platform="facebook", account_id=page, token_env="FB_TOKEN_U")
    full_env = {"FB_TOKEN_U": token or fake.token_for(page), "GRAPH_API_BASE": fake.base_url, **env}
    return FacebookChannel(row, ChannelContext(workspace=tmp_path, store=None, env=full_env, transport=transport))


@pytest.fixture
def channel(fake, tmp_path):
    ch = make_channel(fake, tmp_path)
    yield ch
    ch.close()


def image(tmp_path: Path, name: str = "banner.png", color: str = "red", size=(120, 63)) -> Path:
    path = tmp_path / name
    Image.new("RGB", size, color).save(path)
    return path


def make_post(text: str = TEXT, images: list[Path] | None = None, link: str | None = None, **kw) -> Post:
    base = {
        "delivery_id": 1, "content_id": "stories/may-boc-vo", "channel_id": "u/facebook", "unit_id": "u",
        "unit_name": "LĐLĐ tỉnh", "platform": "facebook", "title": "Sáng kiến", "text": text, "body": "…",
        "images": images or [], "link": link, "first_attempt_at": datetime.now(UTC),
    }
    base.update(kw)
    return Post(**base)


def batch_calls(fake: GraphFake) -> int:
    return sum(1 for line in fake.request_lines() if line == "POST /v24.0/")


# ---------------------------------------------------------------------------------------------- posting


def test_one_image_is_a_photo_post_with_caption_and_bytes(fake, channel, tmp_path):
    banner = image(tmp_path, "băng-rôn.png")
    published = channel.publish(make_post(images=[banner]))

    [post] = fake.posts_for(PAGE)
    assert post.kind == "photo"
    assert post.message == TEXT
    assert post.images == [banner.read_bytes()]
    assert post.filenames == ["băng-rôn.png"]
    assert published.post_id == post.id and published.post_id.startswith(PAGE + "_")
    assert published.extra["fb_photo_id"] == post.photo_ids[0]
    assert published.url == f"https://www.facebook.com/{PAGE}/posts/{post.id.split('_')[1]}"
    [seen] = fake.requests
    assert seen.target == f"/v24.0/{PAGE}/photos"
    assert seen.token_in == "body"
    assert "source" in seen.fields and "caption" in seen.fields and "message" not in seen.fields
    assert seen.headers["Content-Type"].startswith("multipart/form-data")


def test_several_images_are_uploaded_unpublished_then_attached(fake, channel, tmp_path):
    files = [image(tmp_path, f"anh-{i}.png", color) for i, color in enumerate(["red", "green", "blue"])]
    published = channel.publish(make_post(images=files))

    [post] = fake.posts_for(PAGE)
    assert post.kind == "feed" and post.message == TEXT
    assert post.images == [f.read_bytes() for f in files]  # in order
    photos = fake.photos(PAGE)
    assert len(photos) == 3 and not any(p.published for p in photos)
    assert published.post_id == post.id
    assert published.extra["fb_media_ids"] == post.photo_ids
    assert fake.request_lines() == [f"POST /v24.0/{PAGE}/photos"] * 3 + [f"POST /v24.0/{PAGE}/feed"]
    assert [f for f in fake.requests[-1].fields if f.startswith("attached_media")] == [
        "attached_media[0]", "attached_media[1]", "attached_media[2]"]


def test_text_with_link_is_a_feed_post(fake, channel):
    published = channel.publish(make_post(link="https://congdoan.example.vn/bai-viet"))
    [post] = fake.posts_for(PAGE)
    assert (post.kind, post.message, post.link) == ("feed", TEXT, "https://congdoan.example.vn/bai-viet")
    assert published.post_id == post.id
    assert fake.requests[0].token_in == "body"


def test_text_is_sent_nfc(fake, channel):
    channel.publish(make_post(text=unicodedata.normalize("NFD", TEXT)))
    assert fake.posts_for(PAGE)[0].message == unicodedata.normalize("NFC", TEXT)


def test_missing_image_and_too_long_text_fail_without_a_call(fake, channel, tmp_path):
    with pytest.raises(RetryLater) as info:
        channel.publish(make_post(images=[tmp_path / "khong-co.png"]))
    assert info.value.code == "no-image" and not info.value.maybe_sent
    with pytest.raises(Rejected):
        channel.publish(make_post(text="a" * 70000))
    assert fake.requests == []


def test_shared_transport_is_used_and_not_closed(fake, tmp_path):
    session = new_session(pool_maxsize=4)
    ch = make_channel(fake, tmp_path, transport=session)
    assert ch.session is session
    ch.publish(make_post())
    ch.close()
    ch2 = make_channel(fake, tmp_path, transport=session)
    ch2.publish(make_post(text="bài thứ hai"))  # the session still works
    assert fake.post_count(PAGE) == 2
    session.close()


def test_one_post_in_flight_per_page(fake, tmp_path):
    fake.latency = 0.05
    ch = make_channel(fake, tmp_path)
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            ch.publish(make_post(text=f"bài {i}", delivery_id=i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert fake.post_count(PAGE) == 6
    assert fake.max_in_flight[PAGE] == 1
    ch.close()


# ---------------------------------------------------------------------------------------------- errors

ERROR_TABLE = [
    # (fail_next kwargs, exception, scope, maybe_sent, retry_after, words in fix)
    ({"code": 1, "status": 500}, RetryLater, "delivery", True, None, ()),
    ({"code": 2, "status": 500}, RetryLater, "delivery", True, None, ()),
    ({"code": 9999, "is_transient": True, "status": 400}, RetryLater, "delivery", True, None, ()),
    ({"code": 4}, RetryLater, "app", False, 900, ()),
    ({"code": 4, "estimated_minutes": 3}, RetryLater, "app", False, 180, ()),
    ({"code": 17}, RetryLater, "channel", False, 900, ()),
    ({"code": 32, "estimated_minutes": 7}, RetryLater, "channel", False, 420, ()),
    ({"code": 613}, RetryLater, "channel", False, 3600, ()),
    ({"code": 80001, "estimated_minutes": 12}, RetryLater, "channel", False, 720, ()),
    ({"code": 190}, HoldChannel, None, None, None, ("FB_TOKEN_U", PAGE)),
    ({"code": 190, "subcode": 458}, HoldChannel, None, None, None, ("FB_TOKEN_U",)),
    ({"code": 190, "subcode": 459}, HoldChannel, None, None, None, ("FB_TOKEN_U", "facebook.com")),
    ({"code": 190, "subcode": 460}, HoldChannel, None, None, None, ("FB_TOKEN_U",)),
    ({"code": 190, "subcode": 463}, HoldChannel, None, None, None, ("FB_TOKEN_U",)),
    ({"code": 190, "subcode": 464}, HoldChannel, None, None, None, ("FB_TOKEN_U", "xác minh")),
    ({"code": 190, "subcode": 467}, HoldChannel, None, None, None, ("FB_TOKEN_U",)),
    ({"code": 190, "subcode": 492}, HoldChannel, None, None, None, ("FB_TOKEN_U", "quản trị viên")),
    ({"code": 102}, HoldChannel, None, None, None, ("FB_TOKEN_U",)),
    ({"code": 10}, HoldChannel, None, None, None, ("pages_read_engagement", "FB_TOKEN_U")),
    ({"code": 200}, HoldChannel, None, None, None, ("pages_manage_posts", "FB_TOKEN_U", "Page access token")),
    ({"code": 294, "message": "(#294) Managing advertisements requires the permission"}, HoldChannel, None, None,
     None, ("pages_manage_posts",)),
    ({"code": 100}, Rejected, None, None, None, ()),
    ({"code": 324}, Rejected, None, None, None, ()),
    ({"code": 368}, Rejected, None, None, None, ()),
    ({"code": 506}, Rejected, None, None, None, ()),
]


@pytest.mark.parametrize(("fault", "kind", "scope", "maybe_sent", "retry_after", "fix_words"), ERROR_TABLE,
                         ids=[f"{f['code']}/{f.get('subcode', '-')}" for f, *_ in ERROR_TABLE])
def test_error_envelope_classification(fake, channel, tmp_path, fault, kind, scope, maybe_sent, retry_after,
                                       fix_words):
    fake.fail_next(PAGE, endpoint="photos", **fault)
    with pytest.raises(ChannelError) as info:
        channel.publish(make_post(images=[image(tmp_path)]))
    exc = info.value
    assert type(exc) is kind
    assert str(fault["code"]) in exc.message  # the platform's code is kept
    if kind is RetryLater:
        assert exc.scope == scope
        assert exc.maybe_sent is maybe_sent
        if retry_after is not None:
            assert exc.retry_after == pytest.approx(retry_after)
    if kind is HoldChannel:
        assert exc.fix
        for word in fix_words:
            assert word in exc.fix or word in exc.message
    if kind is Rejected and fault["code"] == 368:
        assert exc.code == "368" and "người kiểm tra" in exc.message
    assert fake.post_count(PAGE) == 0


def test_rejected_keeps_the_platform_message(fake, channel):
    fake.fail_next(code=100, message="(#100) The parameter link is not a valid URL")
    with pytest.raises(Rejected, match="link is not a valid URL"):
        channel.publish(make_post(link="không-phải-url"))


def test_500_on_photo_upload_that_still_made_the_post_is_found_by_reconcile(fake, channel, tmp_path):
    # arsduo/koala #699: a 500 on a photo upload may still have created the photo.
    fake.fail_next(PAGE, code=1, status=500, endpoint="photos", accept=True)
    post = make_post(images=[image(tmp_path)])
    with pytest.raises(RetryLater) as info:
        channel.publish(post)
    assert info.value.maybe_sent
    found = channel.find_existing(post)
    assert found is not None and found.post_id == fake.posts_for(PAGE)[0].id
    assert fake.post_count(PAGE) == 1


def test_rate_limit_pauses_only_that_page(fake, tmp_path):
    a = make_channel(fake, tmp_path, page=PAGE)
    b = make_channel(fake, tmp_path, page=OTHER_PAGE)
    fake.fail_next(PAGE, code=32, estimated_minutes=5)
    with pytest.raises(RetryLater) as info:
        a.publish(make_post())
    assert (info.value.scope, info.value.retry_after) == ("channel", 300)
    assert b.publish(make_post()).post_id.startswith(OTHER_PAGE)


def test_revoked_token_holds_and_names_the_variable(fake, channel):
    fake.revoke(fake.token_for(PAGE), subcode=460)
    with pytest.raises(HoldChannel) as info:
        channel.publish(make_post())
    assert "FB_TOKEN_U" in info.value.fix and "mật khẩu" in info.value.message
    assert info.value.code == "190/460"


def test_unknown_token_is_190(fake, tmp_path):
    ch = make_channel(fake, tmp_path, token="EAAkhongtontai000000000000000")
    with pytest.raises(HoldChannel) as info:
        ch.publish(make_post())
    assert info.value.code == "190"


def test_user_token_instead_of_page_token(fake, tmp_path):
    user_token = fake.add_user_token("EAAusertoken1234567890123456789")
    ch = make_channel(fake, tmp_path, token=user_token)
    with pytest.raises(HoldChannel) as info:
        ch.publish(make_post())
    assert "Page access token" in info.value.fix and "pages_manage_posts" in info.value.fix
    check = ch.check()
    assert not check.ok and "không phải Trang" in check.problem


def test_missing_token_holds(fake, tmp_path):
    row = Channel(id="u/facebook", unit_id="u", platform="facebook", account_id=PAGE, token_env="FB_TOKEN_U")
    ch = FacebookChannel(row, ChannelContext(workspace=tmp_path, store=None, env={"GRAPH_API_BASE": fake.base_url}))
    with pytest.raises(HoldChannel, match="FB_TOKEN_U"):
        ch.publish(make_post())
    assert fake.requests == []


def test_deprecated_version_holds(fake, tmp_path):
    ch = make_channel(fake, tmp_path, GRAPH_API_VERSION="v18.0")
    with pytest.raises(HoldChannel) as info:
        ch.publish(make_post())
    assert "GRAPH_API_VERSION" in info.value.fix


# ---------------------------------------------------------------------------------------------- duplicates


def test_duplicate_after_a_lost_answer_is_resolved_from_the_page(fake, channel):
    post = make_post()
    fake.drop_next(after_accept=True, endpoint="feed")
    with pytest.raises(RetryLater) as info:
        channel.publish(post)
    assert info.value.maybe_sent
    # A resend (e.g. a worker that skipped reconcile) meets the platform's #506 duplicate check.
    published = channel.publish(post)
    [only] = fake.posts_for(PAGE)
    assert published.post_id == only.id
    assert published.extra["duplicate_resolved"] is True
    assert any("published_posts" in line for line in fake.request_lines())


def test_duplicate_of_an_older_post_is_rejected(fake, channel):
    fake.add_post(PAGE, TEXT, created_time=(datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    post = make_post(first_attempt_at=datetime.now(UTC) + timedelta(hours=1))  # our first try came later
    with pytest.raises(Rejected) as info:
        channel.publish(post)
    assert info.value.code == "506"
    assert fake.post_count(PAGE) == 1


# ---------------------------------------------------------------------------------------------- reconcile


def test_find_existing_pages_through_published_posts(fake, channel):
    now = datetime.now(UTC)
    fake.add_post(PAGE, TEXT, created_time=(now - timedelta(days=3)).timestamp())  # before the window
    target = fake.add_post(PAGE, unicodedata.normalize("NFD", TEXT.replace("\n\n", "\n  \n")),
                           created_time=(now - timedelta(minutes=5)).timestamp())
    for i in range(250):  # newer posts push ours to the third page of 100
        fake.add_post(PAGE, f"bài khác {i}", created_time=(now - timedelta(minutes=4)).timestamp() + i)
    fake.add_post(OTHER_PAGE, TEXT)
    fake.reset_log()

    found = channel.find_existing(make_post(first_attempt_at=now - timedelta(minutes=6)))
    assert isinstance(found, Published) and found.post_id == target
    lines = fake.request_lines()
    assert len(lines) == 3 and all("/published_posts?" in line for line in lines)
    assert all(seen.token_in == "header" for seen in fake.requests)
    assert fake.violations == []  # the access_token echoed in paging.next was stripped


def test_find_existing_returns_none_when_absent(fake, channel):
    fake.add_post(PAGE, "một bài khác")
    assert channel.find_existing(make_post()) is None


def test_find_existing_read_error_is_classified(fake, channel):
    fake.fail_next(endpoint="published_posts", code=10)
    with pytest.raises(HoldChannel, match="pages_read_engagement"):
        channel.find_existing(make_post())


# ---------------------------------------------------------------------------------------------- timeouts, drops


def test_read_timeout_after_sending_may_have_posted(fake, tmp_path):
    ch = make_channel(fake, tmp_path, GRAPH_API_READ_TIMEOUT="0.3")
    fake.slow_next(1.5, endpoint="photos")
    post = make_post(images=[image(tmp_path)])
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    assert info.value.maybe_sent is True and info.value.code == "read-timeout"
    found = ch.find_existing(post)
    assert found is not None and fake.post_count(PAGE) == 1


def test_dropped_connection_after_accept(fake, channel, tmp_path):
    post = make_post(images=[image(tmp_path)])
    fake.drop_next(after_accept=True)
    with pytest.raises(RetryLater) as info:
        channel.publish(post)
    assert info.value.maybe_sent is True and info.value.scope == "delivery"
    assert "RemoteDisconnected" in info.value.message
    assert channel.find_existing(post).post_id == fake.posts_for(PAGE)[0].id


def test_dropped_connection_before_accept(fake, channel):
    post = make_post()
    fake.drop_next(after_accept=False)
    with pytest.raises(RetryLater) as info:
        channel.publish(post)
    assert info.value.maybe_sent is True  # the client cannot know
    assert channel.find_existing(post) is None
    assert channel.publish(post).post_id == fake.posts_for(PAGE)[0].id  # resend is safe after reconcile


def test_connect_error_before_sending_is_not_maybe_sent(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    row = Channel(id="u/facebook", unit_id="u", platform="facebook", account_id=PAGE, token_env="FB_TOKEN_U")
    env = {"FB_TOKEN_U": "EAAtoken0000000000000000", "GRAPH_API_BASE": f"http://127.0.0.1:{port}"}
    ch = FacebookChannel(row, ChannelContext(workspace=tmp_path, store=None, env=env))
    with pytest.raises(RetryLater) as info:
        ch.publish(make_post())
    assert info.value.maybe_sent is False and info.value.code == "connection"
    assert "ConnectionRefusedError" in info.value.message or "NewConnectionError" in info.value.message


def test_unpublished_upload_failure_is_not_maybe_sent(fake, channel, tmp_path):
    fake.fail_next(endpoint="photos", code=2, status=500)
    with pytest.raises(RetryLater) as info:
        channel.publish(make_post(images=[image(tmp_path, "a.png"), image(tmp_path, "b.png")]))
    assert info.value.maybe_sent is False  # an unpublished photo is not a post


def test_album_resumes_with_uploaded_photos(fake, channel, tmp_path):
    files = [image(tmp_path, "a.png", "red"), image(tmp_path, "b.png", "blue")]
    post = make_post(images=files)
    fake.fail_next(endpoint="feed", code=2, status=500)
    with pytest.raises(RetryLater) as info:
        channel.publish(post)
    progress = info.value.progress
    assert len(progress["fb_media_ids"]) == 2 and progress["fb_media_files"] == [str(f) for f in files]
    fake.reset_log()
    published = channel.publish(make_post(images=files, progress=progress))
    assert fake.request_lines() == [f"POST /v24.0/{PAGE}/feed"]  # no second upload
    assert published.extra["fb_media_ids"] == progress["fb_media_ids"]
    assert fake.post_count(PAGE) == 1


def test_album_uploads_again_when_saved_photos_are_refused(fake, channel, tmp_path):
    files = [image(tmp_path, "a.png", "red"), image(tmp_path, "b.png", "blue")]
    stale = {"fb_media_ids": ["1", "2"], "fb_media_files": [str(f) for f in files],
             "fb_media_uploaded_at": datetime.now(UTC).timestamp()}
    published = channel.publish(make_post(images=files, progress=stale))
    assert published.extra["fb_media_ids"] != ["1", "2"]
    assert fake.post_count(PAGE) == 1


# ---------------------------------------------------------------------------------------------- usage headers


def test_usage_above_90_percent_advises_a_pause(fake, channel):
    fake.set_usage(PAGE, percent=95, estimated_minutes=3)
    published = channel.publish(make_post())
    assert published.extra["pause_channel_seconds"] == 180
    assert "pause_app_seconds" not in published.extra

    fake.set_usage(PAGE, percent=10)
    fake.set_usage(app_percent=93)
    published = channel.publish(make_post(text="bài khác"))
    assert published.extra["pause_app_seconds"] > 0
    assert "pause_channel_seconds" not in published.extra


def test_usage_below_90_percent_gives_no_advice(fake, channel):
    fake.set_usage(PAGE, percent=89)
    assert "pause_channel_seconds" not in channel.publish(make_post()).extra


# ---------------------------------------------------------------------------------------------- secrets


def test_token_never_in_urls_logs_or_exceptions(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    token = fake.token_for(PAGE)
    ch = make_channel(fake, tmp_path, GRAPH_API_READ_TIMEOUT="0.3")
    texts: list[str] = [str(ch), repr(ch)]
    ch.publish(make_post(images=[image(tmp_path)]))
    ch.publish(make_post(text="hai ảnh", images=[image(tmp_path, "a.png"), image(tmp_path, "b.png")]))
    for i in range(120):
        fake.add_post(PAGE, f"bài {i}")
    ch.find_existing(make_post(text="không có"))
    ch.engagement([p.id for p in fake.posts_for(PAGE)])
    texts.append(repr(ch.check()))
    faults = [
        lambda: fake.fail_next(code=190, subcode=463),
        lambda: fake.fail_next(code=200),
        lambda: fake.fail_next(code=32, estimated_minutes=1),
        lambda: fake.fail_next(code=2, status=500),
        lambda: fake.fail_next(code=100, message=f"(#100) echo {token}"),  # even if the platform echoes it
        lambda: fake.drop_next(),
        lambda: fake.slow_next(1.0),
    ]
    for i, arm in enumerate(faults):
        arm()
        with pytest.raises(ChannelError) as info:
            ch.publish(make_post(text=f"lỗi {i}"))
        exc = info.value
        texts += [str(exc), repr(exc), exc.message, getattr(exc, "fix", ""),
                  "".join(traceback.format_exception(exc))]
    fake.revoke(token)
    texts.append(repr(ch.check()))

    assert len(fake.requests) > 10
    for seen in fake.requests:
        assert token not in seen.target
    assert fake.violations == []
    assert token not in caplog.text
    assert "đã đăng" in caplog.text  # logging did happen
    for text in texts:
        assert token not in text


def test_fake_refuses_a_token_in_the_query_string(fake):
    token = fake.token_for(PAGE)
    resp = requests.get(f"{fake.base_url}/v24.0/me", params={"access_token": token}, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 100
    assert fake.violations


def test_appsecret_proof_is_sent_and_checked(tmp_path):
    with GraphFake(app_secret="bi-mat-ung-dung") as fake:
        token = fake.add_page(PAGE)
        good = make_channel(fake, tmp_path, FB_APP_SECRET="bi-mat-ung-dung")
        good.publish(make_post())
        assert good.find_existing(make_post()) is not None
        expected = hmac.new(b"bi-mat-ung-dung", token.encode(), hashlib.sha256).hexdigest()
        assert f"appsecret_proof={expected}" in fake.request_lines()[-1]
        assert "appsecret_proof" in fake.requests[0].fields

        wrong = make_channel(fake, tmp_path, FB_APP_SECRET="sai")
        with pytest.raises(HoldChannel) as info:
            wrong.publish(make_post(text="khác"))
        assert info.value.code == "appsecret_proof" and "FB_APP_SECRET" in info.value.fix
        missing = make_channel(fake, tmp_path)
        with pytest.raises(HoldChannel, match="appsecret_proof"):
            missing.publish(make_post(text="khác nữa"))
        assert fake.post_count(PAGE) == 1


# ---------------------------------------------------------------------------------------------- check


def test_check_with_app_token_reports_page_permissions_and_expiry(fake, tmp_path):
    ch = make_channel(fake, tmp_path, FB_APP_TOKEN=fake.app_token)
    check = ch.check()
    assert check.ok and check.problem is None
    assert check.account_name == "Liên đoàn Lao động tỉnh Ninh Thuận"
    assert check.details["token_type"] == "PAGE"
    assert set(check.details["permissions"]) >= {"pages_manage_posts", "pages_read_engagement", "pages_show_list"}
    assert check.details["expires"] == "không hết hạn"
    # debug_token went inside a batch body: the inspected token is in no URL
    assert not any("debug_token" in line for line in fake.request_lines())


def test_check_with_app_id_and_secret(tmp_path):
    with GraphFake(app_secret="s3cret", app_id="777", app_token="777|s3cret") as fake:
        fake.add_page(PAGE, "Trang A")
        ch = make_channel(fake, tmp_path, FB_APP_ID="777", FB_APP_SECRET="s3cret")
        check = ch.check()
        assert check.ok and check.details["token_type"] == "PAGE"


def test_check_reports_missing_permission(fake, tmp_path):
    fake.set_scopes(fake.token_for(PAGE), ["pages_show_list", "pages_read_engagement"])
    check = make_channel(fake, tmp_path, FB_APP_TOKEN=fake.app_token).check()
    assert not check.ok
    assert check.details["missing_permissions"] == ["pages_manage_posts"]
    assert "pages_manage_posts" in check.fix and "FB_TOKEN_U" in check.fix


def test_check_reports_expiry_soon(fake, tmp_path):
    soon = int((datetime.now(UTC) + timedelta(days=2)).timestamp())
    token = fake.add_page(PAGE, "Trang A", token="EAAsoon00000000000000000000", expires_at=soon)
    check = make_channel(fake, tmp_path, token=token, FB_APP_TOKEN=fake.app_token).check()
    assert check.ok and "sắp hết" in check.problem
    assert check.details["expires_at"].startswith(datetime.fromtimestamp(soon, UTC).date().isoformat())


def test_check_without_app_token(fake, channel):
    check = channel.check()
    assert check.ok and check.details["permissions"] is None
    assert check.details["can_read_posts"] is True
    assert "FB_APP_TOKEN" in check.details["note"]


def test_check_reports_a_revoked_token_without_raising(fake, tmp_path):
    fake.revoke(fake.token_for(PAGE), subcode=463)
    for env in ({}, {"FB_APP_TOKEN": fake.app_token}):
        check = make_channel(fake, tmp_path, **env).check()
        assert not check.ok and "hết hạn" in check.problem and "FB_TOKEN_U" in check.fix


def test_check_reports_network_trouble_without_raising(fake, channel):
    fake.drop_next()
    check = channel.check()
    assert not check.ok and check.problem


def test_check_reports_missing_read_permission(fake, channel):
    fake.set_scopes(fake.token_for(PAGE), ["pages_show_list", "pages_manage_posts"])
    check = channel.check()
    assert not check.ok and check.details["can_read_posts"] is False
    assert "pages_read_engagement" in check.fix


# ---------------------------------------------------------------------------------------------- engagement


def test_engagement_is_batched_by_50(fake, channel):
    ids = [fake.add_post(PAGE, f"bài {i}") for i in range(120)]
    fake.set_engagement(ids[0], reactions=12, comments=3, shares=2)
    fake.set_engagement(ids[119], reactions=1)
    fake.reset_log()
    readings = channel.engagement(ids)
    assert batch_calls(fake) == 3
    assert len(readings) == 120
    first = readings[ids[0]]
    assert (first.reactions, first.comments, first.shares) == (12, 3, 2)
    assert (readings[ids[119]].reactions, readings[ids[119]].shares) == (1, 0)
    for seen in fake.requests:
        assert seen.token_in == "body" and "batch" in seen.fields


def test_engagement_skips_a_failed_item(fake, channel):
    ids = [fake.add_post(PAGE, f"bài {i}") for i in range(5)]
    fake.fail_next(endpoint="object", code=100)
    readings = channel.engagement([*ids, f"{PAGE}_999999"])
    assert len(readings) == 4  # one failed item, one unknown post
    assert f"{PAGE}_999999" not in readings


def test_engagement_rate_limit_raises_for_the_worker(fake, channel):
    ids = [fake.add_post(PAGE, "bài")]
    fake.fail_next(endpoint="batch", code=80001, estimated_minutes=2)
    with pytest.raises(RetryLater) as info:
        channel.engagement(ids)
    assert info.value.scope == "channel" and info.value.retry_after == 120


def test_engagement_of_nothing_makes_no_call(fake, channel):
    assert channel.engagement([]) == {}
    assert fake.requests == []


# ---------------------------------------------------------------------------------------------- the fake itself


def test_fake_refuses_a_batch_over_50(fake):
    token = fake.token_for(PAGE)
    batch = [{"method": "GET", "relative_url": "me"}] * 51
    resp = requests.post(f"{fake.base_url}/v24.0/", data={"access_token": token, "batch": json.dumps(batch)},
                         timeout=5)
    assert resp.status_code == 400 and "Maximum batch size is 50" in resp.json()["error"]["message"]


def test_fake_refuses_a_missing_token_and_bad_image(fake, tmp_path):
    resp = requests.get(f"{fake.base_url}/v24.0/me", timeout=5)
    assert resp.json()["error"]["code"] == 190
    resp = requests.post(f"{fake.base_url}/v24.0/{PAGE}/photos", timeout=5,
                         data={"access_token": fake.token_for(PAGE), "message": "x"},
                         files={"source": ("a.png", b"not an image", "image/png")})
    assert resp.json()["error"]["code"] == 324


def test_fake_me_permissions_is_a_user_edge(fake):
    resp = requests.get(f"{fake.base_url}/v24.0/me/permissions", timeout=5,
                        headers={"Authorization": f"Bearer {fake.token_for(PAGE)}"})
    assert resp.json()["error"]["code"] == 100
    user = fake.add_user_token("EAAuser000000000000000000000")
    resp = requests.get(f"{fake.base_url}/v24.0/me/permissions", timeout=5,
                        headers={"Authorization": f"Bearer {user}"})
    assert {p["permission"] for p in resp.json()["data"]} >= {"pages_manage_posts"}


def test_next_page_is_rebuilt_on_our_base_without_the_token(channel):
    body = {"data": [{"id": "1"}], "paging": {
        "next": "https://elsewhere.example/v24.0/123/published_posts?after=QQ&access_token=EAAsecret&limit=100"}}
    url, query = channel._next_page(body)
    assert url == f"{channel.base}/v24.0/123/published_posts"
    assert query == {"after": "QQ", "limit": "100"}
    assert channel._next_page({"data": [], "paging": {"next": "https://x/v24.0/a"}}) == (None, None)


# ---------------------------------------------------------------------------------------------- corrections (issue 16)


def test_edit_changes_the_text_in_place_once_and_current_sees_it(fake, channel, tmp_path):
    published = channel.publish(make_post(images=[image(tmp_path)]))
    fixed = TEXT.replace("Nguyễn Văn Bình", "Nguyễn Văn Bính")
    state = channel.current(published.post_id, make_post(fixed))
    assert state.exists and state.matches is False
    result = channel.edit(published.post_id, make_post(fixed))
    assert result.post_id == published.post_id and result.url.startswith("https://www.facebook.com/")
    (post,) = fake.posts_for(PAGE)
    assert post.message == unicodedata.normalize("NFC", fixed) and fake.edits == [(post.id, post.message)]
    assert post.photo_ids  # the photo stays: only the text of a published post can change
    assert channel.current(published.post_id, make_post(fixed)).matches is True
    assert not fake.violations


def test_edit_of_a_post_not_made_by_this_app_is_refused_with_the_platforms_words_and_link(fake, channel):
    by_hand = fake.add_post(PAGE, "Bài do quản trị viên đăng tay")
    with pytest.raises(Rejected) as info:
        channel.edit(by_hand, make_post("Bài đã sửa"))
    assert info.value.code == "non-app"
    assert "App cannot edit non-app posts" in info.value.message
    assert f"https://www.facebook.com/{PAGE}/posts/{by_hand.split('_')[1]}" in info.value.message
    assert fake.posts_for(PAGE)[0].message == "Bài do quản trị viên đăng tay"


def test_remove_deletes_and_a_post_already_deleted_by_hand_counts_as_removed(fake, channel):
    published = channel.publish(make_post())
    assert channel.remove(published.post_id) is True
    assert fake.post_count(PAGE) == 0 and [p.id for p in fake.deleted] == [published.post_id]
    assert channel.remove(published.post_id) is False  # already gone: #100/33, not an error
    assert channel.current(published.post_id).exists is False
    with pytest.raises(Rejected) as info:
        channel.edit(published.post_id, make_post("x"))
    assert info.value.code == "gone"


def test_an_unclear_delete_may_have_happened_and_current_tells(fake, channel):
    published = channel.publish(make_post())
    fake.drop_next(after_accept=True, endpoint="object")
    with pytest.raises(RetryLater) as info:
        channel.remove(published.post_id)
    assert info.value.maybe_sent and info.value.in_flight
    assert channel.current(published.post_id).exists is False  # the reconcile read before any retry
