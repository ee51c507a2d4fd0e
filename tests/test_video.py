"""Videos (issue 18): probed at load with ffprobe, refused with file:line and the fix; thumbnails by ffmpeg."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.load import LoadError, load_campaign
from bot.video import VideoInfo, VideoProblem, check_video, probe, thumbnail
from tests.conftest import story, write
from tests.fakes.video_files import make_video

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs the system's ffmpeg package (.ci/run installs it)")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real files made once by ffmpeg: a good clip, a Reel, and the bad ones of the issue."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "good": make_video(d / "good.mp4"),
        "reel": make_video(d / "reel.mp4", size="540x960", seconds=4, rate=30),
        "long_reel": make_video(d / "long_reel.mp4", size="180x320", seconds=92, rate=24, acodec=None),
        "hevc": make_video(d / "hevc.mp4", vcodec="libx265"),
        "mpeg4": make_video(d / "mpeg4.mp4", vcodec="mpeg4"),
        "mp3": make_video(d / "mp3.mp4", acodec="libmp3lame") if _has_encoder("libmp3lame") else make_video(d / "mp3.mp4"),
        "quicktime": make_video(d / "quicktime.mp4", fmt="mov"),
        "mkv": make_video(d / "mkv.mp4", fmt="matroska"),
        "silent": make_video(d / "silent.mp4", acodec=None),
        "wide": make_video(d / "wide.mp4", size="1280x360"),
    }


def _has_encoder(name: str) -> bool:
    import subprocess

    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
    return f" {name} " in out


def test_a_good_clip_is_read(clips: dict[str, Path]) -> None:
    info = check_video(clips["good"])
    assert isinstance(info, VideoInfo), info
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (640, 360, "h264", "aac")
    assert 1.9 < info.duration < 2.2 and info.orientation == "horizontal"
    assert isinstance(check_video(clips["silent"]), VideoInfo)  # no audio is fine
    assert isinstance(check_video(clips["reel"], reel=True), VideoInfo)


@pytest.mark.parametrize(("name", "reel", "needle", "fix"), [
    ("hevc", False, "HEVC", "H.264"),
    ("mpeg4", False, "MPEG4", "H.264"),
    ("quicktime", False, "QuickTime", "MP4"),
    ("mkv", False, "không phải MP4", "MP4"),
    ("wide", False, "quá dẹt", "16:9"),
    ("long_reel", True, "quá dài cho Reel", "reel: true"),
    ("good", True, "quá ngắn cho Reel", "reel: true"),
])
def test_bad_videos_are_refused_with_the_fix(clips: dict[str, Path], name: str, reel: bool, needle: str, fix: str) -> None:
    got = check_video(clips[name], reel=reel)
    assert isinstance(got, VideoProblem), got
    assert needle in got.message and fix in got.fix


def test_empty_and_not_a_video(tmp_path: Path) -> None:
    empty = tmp_path / "rong.mp4"
    empty.write_bytes(b"")
    assert "0 byte" in probe(empty).message  # type: ignore[union-attr]
    text = tmp_path / "thu.mp4"
    text.write_text("đây không phải video", encoding="utf-8")
    got = probe(text)
    assert isinstance(got, VideoProblem) and "không phải video" in got.message
    garbage = tmp_path / "rac.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    assert isinstance(probe(garbage), VideoProblem)


def test_a_missing_ffprobe_is_a_problem_not_a_traceback(clips: dict[str, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_FFMPEG_DIR", str(tmp_path))  # a folder without ffprobe
    got = probe(clips["good"])
    assert isinstance(got, VideoProblem) and "ffprobe" in got.message and "apt-get install ffmpeg" in got.fix


def test_thumbnail_is_a_real_frame_and_cached(clips: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    first = thumbnail(clips["good"], tmp_path / "cache", at=1.0)
    with Image.open(first) as im:
        assert im.format == "JPEG" and im.size == (640, 360)
    mtime = first.stat().st_mtime_ns
    assert thumbnail(clips["good"], tmp_path / "cache", at=1.0) == first and first.stat().st_mtime_ns == mtime
    assert thumbnail(clips["good"], tmp_path / "cache", at=0.5) != first


# --- at load: file, line and fix ---------------------------------------------------------------------


def _story_with(mini: Path, clip: Path, **extra: str) -> None:
    (mini / "content" / "tep").mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, mini / "content" / "tep" / "clip.mp4")
    write(mini, "content/video.md", story("guide", video="tep/clip.mp4", **extra))


def _problems(ws: Path) -> list:
    with pytest.raises(LoadError) as info:
        load_campaign(ws)
    return [p for p in info.value.problems if p.file == "content/video.md"]


@pytest.mark.parametrize(("name", "extra", "line", "needle"), [
    ("hevc", {}, 9, "H.264"),  # "---" 1, title 2 … approved_at 8, video 9
    ("quicktime", {}, 9, "QuickTime"),
    ("long_reel", {"reel": "true"}, 10, "quá dài cho Reel"),
])
def test_load_refuses_a_bad_video_at_its_line(mini: Path, clips: dict[str, Path], name: str, extra: dict[str, str],
                                              line: int, needle: str) -> None:
    _story_with(mini, clips[name], **extra)
    (p,) = _problems(mini)
    assert p.line == line and needle in p.message and p.fix, str(p)


def test_load_refuses_empty_and_not_video_files(mini: Path, tmp_path: Path) -> None:
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    _story_with(mini, empty)
    (p,) = _problems(mini)
    assert p.line == 9 and "0 byte" in p.message
    fake = tmp_path / "f.mp4"
    fake.write_text("<html>không phải video</html>", encoding="utf-8")
    _story_with(mini, fake)
    (p,) = _problems(mini)
    assert "không phải video" in p.message and "MP4" in (p.fix or "")


def test_load_checks_the_fields_around_a_video(mini: Path, clips: dict[str, Path]) -> None:
    write(mini, "content/video.md", story("guide", reel="true"))
    assert "không có video" in _problems(mini)[0].message
    _story_with(mini, clips["good"], video_frame="30")
    assert "vượt quá độ dài video" in _problems(mini)[0].message
    write(mini, "content/video.md", story("guide", video="tep/khong-co.mp4"))
    assert "không tìm thấy video" in _problems(mini)[0].message
    write(mini, "content/video.md", story("guide", video="../../ngoai.mp4"))
    assert "ngoài thư mục content/" in _problems(mini)[0].message


def test_a_good_video_story_loads_and_a_replaced_file_is_a_new_version(mini: Path, clips: dict[str, Path]) -> None:
    _story_with(mini, clips["reel"], reel="true", video_frame="1.5")
    first = next(s for s in load_campaign(mini).stories if s.id == "video")
    assert first.attachments["video"] == "content/tep/clip.mp4" and first.attachments["reel"] is True
    assert first.attachments["video_frame"] == 1.5 and first.attachments["video_bytes"] == clips["reel"].stat().st_size
    assert set(first.attachments) == {"video", "reel", "video_frame", "video_bytes"}  # nothing the probe found
    shutil.copy(clips["good"], mini / "content" / "tep" / "clip.mp4")
    write(mini, "content/video.md", story("guide", video="tep/clip.mp4"))
    second = next(s for s in load_campaign(mini).stories if s.id == "video")
    assert second.content_hash != first.content_hash


def test_sample_campaign_video_and_document_reach_the_outbox(sample: Path) -> None:
    """`tick` on the sample: the video guide and the PDF guide are written to the outbox with their files."""
    result = CliRunner().invoke(cli, ["--workspace", str(sample), "check"])
    assert result.exit_code == 0, result.output
    c = load_campaign(sample)
    video = next(s for s in c.stories if s.front.video)
    doc = next(s for s in c.stories if s.front.document)
    assert video.attachments["reel"] and doc.attachments["document_pages"] == 2
    from bot.posts import attachments_for, compose_text, images_for
    from bot.store.models import ContentItem

    item = ContentItem(id=doc.id, title=doc.front.title, kind="guide", unit_id=doc.front.unit, body=doc.body,
                       banner=doc.front.banner, banner_data=dict(doc.attachments))
    text = compose_text(item, c)
    assert "📄 Quy trình phê duyệt sáng kiến (2 trang): https://congdoan-ninhthuan.example.vn/media/" in text
    assert text.count(".pdf") == 1
    images = images_for(item, c)
    assert [p.name.split("-")[0] for p in images][-1] == "cover" and len(images) == 2  # banner "guide", then page 1
    vitem = ContentItem(id=video.id, title=video.front.title, kind="guide", unit_id=video.front.unit, body=video.body,
                        banner_data=dict(video.attachments))
    assert attachments_for(vitem, c)["video"]["reel"] is True
    (frame,) = images_for(vitem, c)
    assert frame.name.startswith("frame-")
    json.dumps(video.attachments)  # kept in the store as JSON


# --- Facebook: Page video and Reel against the fake Graph API (tests/fakes/graph_video.py) ------------


PAGE = "100064000000001"


@pytest.fixture
def graph():
    from tests.fakes.graph_server import GraphFake

    with GraphFake() as server:
        server.add_page(PAGE, "Liên đoàn Lao động tỉnh")
        yield server


def fb_channel(graph, tmp_path: Path):  # noqa: ANN201 - FacebookChannel
    from bot.channels import ChannelContext
    from bot.channels.facebook import FacebookChannel
    from bot.store import Channel

    row = Channel(id="u/facebook", unit_id="u", platform="facebook", account_id=PAGE, token_env="FB_TOKEN_U")
    env = {"FB_TOKEN_U": graph.token_for(PAGE), "GRAPH_API_BASE": graph.base_url}
    return FacebookChannel(row, ChannelContext(workspace=tmp_path, store=None, env=env))


def video_post(clip: Path, *, reel: bool = False, progress: dict | None = None, thumb: Path | None = None,
               text: str = "VIDEO GIỚI THIỆU\n\nChương trình “1 triệu sáng kiến”.\n\n#1TrieuSangKien"):  # noqa: ANN201
    from datetime import UTC, datetime

    from bot.channels import Post

    return Post(delivery_id=7, content_id="huong-dan/video", channel_id="u/facebook", unit_id="u", unit_name="LĐLĐ tỉnh",
                platform="facebook", title="Video giới thiệu", text=text, body="…", images=[thumb] if thumb else [],
                first_attempt_at=datetime.now(UTC), progress=progress or {},
                attachments={"video": {"path": clip, "reel": reel, "frame": None, "bytes": clip.stat().st_size,
                                       "duration": 2.0, "orientation": "vertical" if reel else "horizontal"}})


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.channels.facebook.video as fv

    monkeypatch.setattr(fv, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(fv, "POLL_IN_ATTEMPT", 2.0)


def test_page_video_in_chunks_with_thumbnail_then_ready(graph, clips: dict[str, Path], tmp_path: Path, quick) -> None:
    from tests.fakes import graph_video

    graph_video.configure(graph, chunk=20_000, processing=0.3)
    thumb = thumbnail(clips["good"], tmp_path / "c")
    ch = fb_channel(graph, tmp_path)
    published = ch.publish(video_post(clips["good"], thumb=thumb))
    (video,) = graph_video.videos(graph, PAGE)
    data = clips["good"].read_bytes()
    assert video.kind == "video" and video.phase == "ready" and video.received == len(data)
    assert video.digest == __import__("hashlib").sha256(data).hexdigest() and video.chunks >= 2
    assert video.thumb == thumb.read_bytes() and video.description.startswith("VIDEO GIỚI THIỆU")
    assert published.post_id == video.id and published.url.endswith(f"/{PAGE}/videos/{video.id}")
    assert [p.kind for p in graph.posts_for(PAGE)] == ["video"]
    paths = [s.target.split("?")[0] for s in graph.requests]
    assert f"/v24.0/{PAGE}/videos" in paths and not any("access_token" in s.target for s in graph.requests)


def test_reel_goes_through_video_reels_never_videos(graph, clips: dict[str, Path], tmp_path: Path, quick) -> None:
    from tests.fakes import graph_video

    ch = fb_channel(graph, tmp_path)
    published = ch.publish(video_post(clips["reel"], reel=True))
    (video,) = graph_video.videos(graph, PAGE)
    assert video.kind == "reel" and video.phase == "ready" and video.received == clips["reel"].stat().st_size
    assert published.url == f"https://www.facebook.com/reel/{video.id}"
    paths = [s.target.split("?")[0] for s in graph.requests]
    assert not any(p.endswith("/videos") for p in paths)
    assert f"/video-upload/v24.0/{video.id}" in paths
    rupload = next(s for s in graph.requests if "/video-upload/" in s.target)
    assert rupload.headers.get("offset") == "0" and rupload.headers.get("Authorization", "").startswith("OAuth ")


def test_still_processing_is_a_planned_wait_then_published(graph, clips: dict[str, Path], tmp_path: Path, quick) -> None:
    from bot.channels import RetryLater
    from tests.fakes import graph_video

    graph_video.configure(graph, processing=3.0)
    ch = fb_channel(graph, tmp_path)
    post = video_post(clips["good"])
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    assert info.value.wait and info.value.code == "video-processing" and not info.value.maybe_sent
    saved = info.value.progress["fb_video"]
    assert saved["phase"] == "finished" and saved["video_id"]
    import time

    time.sleep(1.2)
    again = ch.publish(video_post(clips["good"], progress=info.value.progress))
    assert again.post_id == saved["video_id"] and len(graph_video.videos(graph, PAGE)) == 1


def test_processing_failure_is_rejected_with_the_fix(graph, clips: dict[str, Path], tmp_path: Path, quick) -> None:
    from bot.channels import Rejected
    from tests.fakes import graph_video

    graph_video.configure(graph, fail_processing=True)
    with pytest.raises(Rejected) as info:
        fb_channel(graph, tmp_path).publish(video_post(clips["good"]))
    assert info.value.code == "video-error" and "H.264" in info.value.message


def test_a_broken_transfer_resumes_the_same_session(graph, clips: dict[str, Path], tmp_path: Path, quick) -> None:
    from bot.channels import RetryLater
    from tests.fakes import graph_video

    graph_video.configure(graph, chunk=20_000)
    ch = fb_channel(graph, tmp_path)
    graph.fail_next(PAGE, code=2, status=500, endpoint="videos", count=1)
    started = []
    original = graph_video.execute

    def spy(g, method, endpoint, seg, info, form, files, query):  # noqa: ANN001, ANN202
        if form.get("upload_phase") == "transfer":
            started.append(form["start_offset"])
            if len(started) == 2:
                raise __import__("tests.fakes.graph_server", fromlist=["GraphError"]).GraphError(2, status=500, is_transient=True)
        return original(g, method, endpoint, seg, info, form, files, query)

    import tests.fakes.graph_server as gs

    gs.graph_video.execute = spy
    try:
        with pytest.raises(RetryLater):  # the start call fails first
            ch.publish(video_post(clips["good"]))
        with pytest.raises(RetryLater) as info:  # the second chunk fails
            ch.publish(video_post(clips["good"]))
    finally:
        gs.graph_video.execute = original
    saved = info.value.progress["fb_video"]
    assert saved["phase"] == "uploading" and saved["start"] == 20_000
    published = ch.publish(video_post(clips["good"], progress=info.value.progress))
    (video,) = graph_video.videos(graph, PAGE)
    assert published.post_id == video.id == saved["video_id"] and video.received == clips["good"].stat().st_size


def test_find_existing_after_a_crash(graph, clips: dict[str, Path], tmp_path: Path, quick) -> None:
    """Killed before anything was saved: the Page's videos are searched by the post text."""
    from tests.fakes import graph_video

    ch = fb_channel(graph, tmp_path)
    assert ch.find_existing(video_post(clips["good"])) is None
    first = ch.publish(video_post(clips["good"]))
    found = ch.find_existing(video_post(clips["good"]))
    assert found is not None and found.post_id == first.post_id
    assert ch.find_existing(video_post(clips["reel"], reel=True)) is None  # Reels are listed apart
    assert len(graph_video.videos(graph, PAGE)) == 1


# --- the whole bot: a video story ends as one ready video per Page, also when killed mid-upload ----------


def _video_workspace(mini: Path, clip: Path, media_base: str) -> Path:
    from tests.conftest import REPO

    shutil.copytree(REPO / "banners", mini / "banners")
    (mini / "content" / "tep").mkdir(exist_ok=True)
    shutil.copy(clip, mini / "content" / "tep" / "clip.mp4")
    text = (mini / "config" / "campaign.yaml").read_text(encoding="utf-8")
    write(mini, "config/campaign.yaml", text + f"  media: {{folder: .campaign/media, base_url: '{media_base}', allow_http: true}}\n")
    for name in ("a", "b", "c", "d", "nhap"):
        (mini / "content" / f"{name}.md").unlink()
    write(mini, "content/video.md", story("initiative_story", "tinh", "own", video="tep/clip.mp4", priority="5"))
    return mini


def _tick(ws: Path, env: dict[str, str], now: str) -> subprocess.Popen[bytes]:
    import sys

    from tests.conftest import REPO

    with (ws.parent / "tick.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "bot", "-v", "--workspace", str(ws), "tick", "--now", now],
                                env=env, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT)


def test_killed_mid_upload_ends_as_one_ready_video_and_one_article(mini: Path, graph, tmp_path: Path) -> None:
    """A tick killed (SIGKILL) while the video is uploading; the next ticks end with one ready video on the
    Page and one video article on the OA, whatever the kill interrupted."""
    import os
    import signal
    import time

    from sqlmodel import select

    from bot.secretbox import generate_key
    from bot.store import Delivery, DeliveryState, open_store
    from tests.fakes import graph_video, zalo_video
    from tests.fakes.zalo_server import DAY, FakeZalo, StaticServer

    big = make_video(tmp_path / "big.mp4", seconds=6, size="640x360")  # a few hundred KB: many chunks
    media = mini / ".campaign" / "media"
    media.mkdir(parents=True)
    with FakeZalo() as zalo, StaticServer(media) as web:
        zalo.clock.set(DAY)
        zalo.add_oa("2001", name="LĐLĐ tỉnh")
        ws = _video_workspace(mini, big, web.base_url)
        graph.add_page("1001", "Trang tỉnh")
        graph_video.configure(graph, chunk=16_000, processing=0.5)
        env = {**os.environ, **zalo.env(ZALO_REFRESH_TINH=zalo.seed_refresh_token("2001"), CAMPAIGN_SECRET_KEY=generate_key(),
                                        ZALO_TIMEOUT="10"),
               "FB_TOKEN_TINH": graph.token_for("1001"), "GRAPH_API_BASE": graph.base_url,
               "CAMPAIGN_LEASE_SECONDS": "60", "CAMPAIGN_BACKOFF_SECONDS": "0.2"}
        env.pop("CAMPAIGN_WORKSPACE", None)
        graph.slow_next(3.0, "1001", endpoint="videos", count=1000)  # every upload call answers late: time to kill
        proc = _tick(ws, env, "2026-11-26T08:00+07:00")
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if any(v.chunks >= 1 for v in graph_video.videos(graph, "1001")):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        graph.clear_faults()
        (partial,) = graph_video.videos(graph, "1001")
        assert partial.phase == "uploading" and partial.received < partial.size  # killed mid-upload
        for minute in ("08:05", "08:06", "08:07", "08:10"):  # the lease (60 s of the bot's clock) has run out by 08:05
            run = _tick(ws, env, f"2026-11-26T{minute}+07:00")
            assert run.wait(timeout=300) == 0
        store = open_store(f"sqlite:///{ws / '.campaign' / 'campaign.db'}")
        try:
            with store.session() as s:
                ds = {d.channel_id: d for d in s.exec(select(Delivery)).all()}
        finally:
            store.close()
        ready = [v for v in graph_video.videos(graph, "1001") if v.phase != "uploading"]
        assert [v.phase for v in ready] == ["ready"], graph_video.videos(graph, "1001")
        assert [p.kind for p in graph.posts_for("1001")] == ["video"]
        assert ds["tinh/facebook"].state == DeliveryState.SENT and ds["tinh/facebook"].platform_post_id == ready[0].id
        assert ready[0].received == big.stat().st_size
        (article,) = zalo.visible_articles("2001")
        assert article.payload["type"] == "video"
        assert article.payload["video_id"] in {u.video_id for u in zalo_video.uploads(zalo, "2001")}
        assert ds["tinh/zalo"].state == DeliveryState.SENT and ds["tinh/zalo"].platform_post_id == article.id


def test_preview_says_what_goes_with_the_sample_video_and_document(sample: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.reports.preview import build_preview
    from bot.store import open_store

    c = load_campaign(sample)
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        preview = build_preview(c, store, {}, datetime(2026, 12, 1, tzinfo=UTC), 30)
    finally:
        store.close()
    video = [card for card in preview.cards if card.content_id == "huong-dan/video-gioi-thieu-chuong-trinh"]
    doc = [card for card in preview.cards if card.content_id == "huong-dan/tai-lieu-quy-trinh-phe-duyet"]
    assert video and doc
    fb = next(card for card in video if card.platform == "facebook")
    assert any("Reel" in n for n in fb.notes) and fb.sources and fb.sources[0].name.startswith("frame-")
    zl = next(card for card in video if card.platform == "zalo")
    assert any("bài video Zalo" in n for n in zl.notes)
    assert any("Tài liệu PDF “Quy trình phê duyệt sáng kiến” (2 trang)" in n for n in doc[0].notes)
    assert [p.name.split("-")[0] for p in doc[0].sources][-1] == "cover"


def test_outbox_record_names_the_video_and_its_thumbnail(mini: Path, clips: dict[str, Path]) -> None:
    """Without tokens a tick writes the video post to outbox/: the record names the video, the image is its thumbnail."""
    from datetime import datetime

    from bot.pipeline import tick
    from bot.store import open_store

    ws = _video_workspace(mini, clips["good"], "https://cd.example.vn/m/")
    c = load_campaign(ws)
    store = open_store(f"sqlite:///{mini.parent / 'o.db'}")
    try:
        tick(c, store, {}, datetime.fromisoformat("2026-11-26T08:00+07:00"))
    finally:
        store.close()
    (record,) = [json.loads(p.read_text(encoding="utf-8")) for p in (ws / "outbox" / "tinh" / "facebook").glob("*.json")]
    assert record["video"] == {"file": "content/tep/clip.mp4", "reel": False, "seconds": record["video"]["seconds"]}
    assert 1.9 < record["video"]["seconds"] < 2.2 and record["image"].endswith(".png")  # the banner is the thumbnail


def test_a_video_post_is_edited_read_back_and_removed_by_its_description(graph, clips: dict[str, Path], tmp_path: Path,
                                                                          quick) -> None:
    """Issue 16 × 18: corrections reach a Page video through ``description``, not ``message``."""
    from dataclasses import replace

    from tests.fakes import graph_video

    ch = fb_channel(graph, tmp_path)
    post = video_post(clips["good"])
    published = ch.publish(post)
    fixed = replace(post, text="VIDEO GIỚI THIỆU (đã sửa)\n\n#1TrieuSangKien")
    assert ch.current(published.post_id, fixed).matches is False
    ch.edit(published.post_id, fixed)
    (video,) = graph_video.videos(graph, PAGE)
    assert video.description == fixed.text and graph.edits == [(video.id, fixed.text)]
    assert ch.current(published.post_id, fixed).matches is True
    assert ch.remove(published.post_id) is True
    assert ch.current(published.post_id, fixed).exists is False and ch.remove(published.post_id) is False
    assert graph.posts_for(PAGE) == []



# --- Zalo: a video article, or a normal one linking to the video on the media store ----------------------


@pytest.fixture
def zrig(sqlite_store, tmp_path: Path):  # noqa: ANN001, ANN201
    from tests.fakes.zalo_server import DAY, FakeZalo, StaticServer, ZaloRig

    folder = tmp_path / "www" / "media"
    folder.mkdir(parents=True)
    (tmp_path / "ws").mkdir()
    with FakeZalo() as fake, StaticServer(folder) as web:
        fake.clock.set(DAY)
        yield ZaloRig(fake, sqlite_store, tmp_path / "ws", folder, web.base_url)


def zalo_video_post(rig, clip: Path, **kw):  # noqa: ANN001, ANN201
    att = {"video": {"path": clip, "reel": False, "frame": None, "bytes": clip.stat().st_size, "duration": 2.0,
                     "orientation": "horizontal"}}
    return rig.post(attachments=att, **kw)


@pytest.fixture
def zquick(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.channels.zalo.video as zv

    monkeypatch.setattr(zv, "VERIFY_DELAYS", (0.01, 0.01))


def test_zalo_video_article_after_processing(zrig, clips: dict[str, Path], zquick) -> None:
    from tests.fakes import zalo_video

    ch = zrig.channel()
    published = ch.publish(zalo_video_post(zrig, clips["good"]))
    (art,) = zrig.fake.created_articles
    (upload,) = zalo_video.uploads(zrig.fake)
    assert art.payload["type"] == "video" and art.payload["video_id"] == upload.video_id
    assert upload.size == clips["good"].stat().st_size and art.payload["avatar"] in zrig.fake.fetched_urls
    assert published.post_id == art.id
    zrig.fake.set_engagement(art.id, views=42, shares=3)
    normal = ch.publish(zrig.post(9, title="Bài thường"))
    readings = ch.engagement([art.id, normal.post_id])  # video articles are listed apart (type=video)
    assert readings[art.id].views == 42 and readings[art.id].shares == 3 and normal.post_id in readings


def test_zalo_still_processing_is_a_planned_wait_and_never_uploads_twice(zrig, clips: dict[str, Path], zquick) -> None:
    from dataclasses import replace

    from bot.channels import RetryLater
    from tests.fakes import zalo_video

    zalo_video.configure(zrig.fake, processing_calls=5)
    ch = zrig.channel()
    post = zalo_video_post(zrig, clips["good"])
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    assert info.value.wait and info.value.code == "video-processing" and info.value.progress["zalo_video_token"]
    published = ch.publish(replace(post, progress=info.value.progress))
    assert len(zalo_video.uploads(zrig.fake)) == 1 and len(zrig.fake.created_articles) == 1
    assert published.post_id == zrig.fake.created_articles[0].id
    found = ch.find_existing(replace(post, progress={}))  # after a crash: found among the video articles
    assert found is not None and found.post_id == published.post_id


def test_zalo_failed_conversion_or_big_file_links_the_video(zrig, clips: dict[str, Path], zquick,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.channels.zalo.video as zv
    from tests.fakes import zalo_video

    zalo_video.configure(zrig.fake, fail_status=4)
    ch = zrig.channel()
    ch.publish(zalo_video_post(zrig, clips["good"]))
    (art,) = zrig.fake.created_articles
    assert art.payload["type"] == "normal"
    texts = " ".join(b.get("content", "") for b in art.payload["body"] if b["type"] == "text")
    link = zrig.media_base + __import__("hashlib").sha256(clips["good"].read_bytes()).hexdigest()[:32] + ".mp4"
    assert f'href="{link}"' in texts and "Xem video" in texts
    assert (zrig.media_folder / link.rsplit("/", 1)[1]).read_bytes() == clips["good"].read_bytes()
    zalo_video.configure(zrig.fake)
    monkeypatch.setattr(zv, "ZALO_VIDEO_BYTES_MAX", 1000)  # a file over Zalo's 50 MB: never uploaded to Zalo
    before = len(zalo_video.uploads(zrig.fake))
    ch.publish(zalo_video_post(zrig, clips["silent"], delivery_id=2, title="Video lớn"))
    assert len(zalo_video.uploads(zrig.fake)) == before and zrig.fake.created_articles[-1].payload["type"] == "normal"


def test_zalo_document_link_in_the_article(zrig, tmp_path: Path) -> None:
    from tests.fakes.video_files import make_pdf

    pdf = make_pdf(tmp_path / "hd.pdf")
    sha = __import__("hashlib").sha256(pdf.read_bytes()).hexdigest()
    url = zrig.media_base + sha[:32] + ".pdf"
    ch = zrig.channel()
    ch.publish(zrig.post(attachments={"document": {"path": pdf, "url": url, "title": "Quy trình", "pages": 2,
                                                    "pages_text": "2 trang"}}))
    (art,) = zrig.fake.created_articles
    texts = " ".join(b.get("content", "") for b in art.payload["body"] if b["type"] == "text")
    assert f'Quy trình (2 trang): <a href="{url}">' in texts
    assert (zrig.media_folder / f"{sha[:32]}.pdf").read_bytes() == pdf.read_bytes()  # published before the article


def test_without_ffmpeg_the_sample_still_loads_with_a_warning(sample: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's demo runs on a fresh machine with only Python: a video that cannot be probed there is a
    warning of `check` (with the fix), and the banner stands in for the chosen frame."""
    from bot.posts import images_for
    from bot.store.models import ContentItem

    monkeypatch.setenv("CAMPAIGN_FFMPEG_DIR", str(tmp_path))  # no ffprobe, no ffmpeg there
    result = CliRunner().invoke(cli, ["--workspace", str(sample), "check"])
    assert result.exit_code == 0, result.output
    assert "chưa được kiểm tra" in result.output and "apt-get install ffmpeg" in result.output
    c = load_campaign(sample)
    video = next(s for s in c.stories if s.front.video)
    item = ContentItem(id=video.id, title=video.front.title, kind="guide", unit_id=video.front.unit, body=video.body,
                       banner_data=dict(video.attachments))
    (thumb,) = images_for(item, c)
    assert thumb.suffix == ".png"  # the banner, not a frame


def test_zalo_video_article_is_corrected_as_a_video_article(zrig, clips: dict[str, Path], zquick) -> None:
    """Issue 16 × 18: an edit keeps the article a video article, on the video it already has."""
    from dataclasses import replace

    from tests.fakes import zalo_video

    ch = zrig.channel()
    post = zalo_video_post(zrig, clips["good"])
    published = ch.publish(post)
    fixed = replace(post, title="Video giới thiệu (đã sửa)")
    assert ch.current(published.post_id, post).matches is True
    assert ch.current(published.post_id, fixed).matches is False
    ch.edit(published.post_id, fixed)
    (art,) = zrig.fake.created_articles
    (upload,) = zalo_video.uploads(zrig.fake)  # not uploaded again
    assert art.updates == 1 and art.payload["type"] == "video" and art.payload["video_id"] == upload.video_id
    assert art.payload["title"] == "Video giới thiệu (đã sửa)"
    assert ch.current(published.post_id, fixed).matches is True


def test_zalo_processing_too_long_links_the_video_instead(zrig, clips: dict[str, Path], zquick) -> None:
    from dataclasses import replace

    from bot.channels import RetryLater
    from tests.fakes import zalo_video

    zalo_video.configure(zrig.fake, processing_calls=1000)
    ch = zrig.channel()
    post = zalo_video_post(zrig, clips["good"])
    with pytest.raises(RetryLater) as info:
        ch.publish(post)
    progress = {**info.value.progress, "zalo_video_since": info.value.progress["zalo_video_since"] - 7 * 3600}
    ch.publish(replace(post, progress=progress))
    (art,) = zrig.fake.created_articles
    assert art.payload["type"] == "normal" and len(zalo_video.uploads(zrig.fake)) == 1


def test_installing_ffmpeg_later_changes_no_story_image(sample: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What ffprobe finds is not kept in the store: a story edited after ffmpeg is installed changes its text
    version only, never its image (which would repost the video everywhere)."""
    from sqlmodel import select

    from bot.store import ContentItem, open_store
    from bot.store.models import ContentVersion
    from bot.store.sync import sync_campaign

    vid = "huong-dan/video-gioi-thieu-chuong-trinh"
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        monkeypatch.setenv("CAMPAIGN_FFMPEG_DIR", str(tmp_path))
        sync_campaign(load_campaign(sample), store)
        with store.session() as s:
            data = dict(s.exec(select(ContentItem).where(ContentItem.id == vid)).one().banner_data)
        monkeypatch.delenv("CAMPAIGN_FFMPEG_DIR")
        md = sample / "content" / f"{vid}.md"
        md.write_text(md.read_text(encoding="utf-8") + "\nThêm một câu.\n", encoding="utf-8")
        sync_campaign(load_campaign(sample), store)
        with store.session() as s:
            after = s.exec(select(ContentItem).where(ContentItem.id == vid)).one()
            versions = s.exec(select(ContentVersion).where(ContentVersion.content_id == vid)).all()
            assert after.banner_data == data and after.version == 2
            assert versions[-1].changed == ["text"]
    finally:
        store.close()
    assert "_video_unchecked" not in data and data["video"].endswith(".mp4")
