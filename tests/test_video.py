"""Videos (issue 18): probed at load with ffprobe, refused with file:line and the fix; thumbnails by ffmpeg."""

from __future__ import annotations

import json
import shutil
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
    assert first.attachments["video_orientation"] == "vertical" and first.attachments["video_frame"] == 1.5
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
