"""A guide's PDF (issue 18): checked at load, page 1 rendered as the cover, published on the media store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from bot.documents import DocumentInfo, DocumentProblem, check_document, render_cover
from bot.load import LoadError, load_campaign
from bot.media import FolderMediaStore, file_url, publish_file
from tests.conftest import story, write
from tests.fakes.video_files import make_pdf


def test_a_pdf_is_read_and_its_cover_rendered(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "hd.pdf", pages=3, title="Hướng dẫn đăng ký")
    info = check_document(pdf)
    assert isinstance(info, DocumentInfo), info
    assert (info.pages, info.title) == (3, "Hướng dẫn đăng ký")
    assert info.sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()
    cover = render_cover(pdf, tmp_path / "cache")
    with Image.open(cover) as im:
        assert im.format == "JPEG" and im.width == 1200 and 1600 < im.height < 1720  # A4 proportions
        # page 1 has black text on white: not a blank render
        assert im.convert("L").getextrema()[0] < 80
    assert render_cover(pdf, tmp_path / "cache") == cover


@pytest.mark.parametrize(("data", "needle"), [
    (b"", "0 byte"),
    (b"<html><body>Trang web</body></html>", "không phải PDF"),
    (b"%PDF-1.7\n" + b"rac " * 500, "hỏng"),
])
def test_bad_documents_are_refused(tmp_path: Path, data: bytes, needle: str) -> None:
    path = tmp_path / "x.pdf"
    path.write_bytes(data)
    got = check_document(path)
    assert isinstance(got, DocumentProblem) and needle in got.message and got.fix


def test_load_names_file_line_and_fix_for_a_bad_document(mini: Path, tmp_path: Path) -> None:
    write(mini, "content/tep/sai.pdf", "không phải pdf")
    write(mini, "content/tl.md", story("guide", document="tep/sai.pdf"))
    with pytest.raises(LoadError) as info:
        load_campaign(mini)
    (p,) = [p for p in info.value.problems if p.file == "content/tl.md"]
    assert p.line == 9 and "không phải PDF" in p.message and "PDF" in (p.fix or "")


def test_a_document_needs_the_media_store(mini: Path) -> None:
    make_pdf(mini / "content" / "tl.pdf")
    write(mini, "content/tl.md", story("guide", document="tl.pdf"))
    with pytest.raises(LoadError) as info:
        load_campaign(mini)
    (p,) = [p for p in info.value.problems if p.file == "content/tl.md"]
    assert "media:" in p.message and "config/campaign.yaml" in (p.fix or "")


def test_document_story_loads_with_banner_data(mini: Path) -> None:
    text = (mini / "config" / "campaign.yaml").read_text(encoding="utf-8")
    write(mini, "config/campaign.yaml", text + "  media: {folder: .campaign/media, base_url: https://cd.example.vn/m/}\n")
    make_pdf(mini / "content" / "tl.pdf", pages=2, title="Quy trình")
    write(mini, "content/tl.md", story("guide", document="tl.pdf"))
    c = load_campaign(mini)
    att = next(s for s in c.stories if s.id == "tl").attachments
    assert att["document_pages"] == 2 and att["document_title"] == "Quy trình" and att["document_pages_text"] == "2 trang"
    url = file_url(c.media, att["document_sha256"], ".pdf")
    assert url == "https://cd.example.vn/m/" + att["document_sha256"][:32] + ".pdf"


def test_publish_file_streams_once_under_its_content_name(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf")
    store = FolderMediaStore(tmp_path / "media", "https://cd.example.vn/m/")
    url = publish_file(store, pdf)
    name = url.rsplit("/", 1)[1]
    assert (tmp_path / "media" / name).read_bytes() == pdf.read_bytes()
    assert publish_file(store, pdf) == url  # idempotent
    assert url == file_url({"folder": "x", "base_url": "https://cd.example.vn/m/"},
                           hashlib.sha256(pdf.read_bytes()).hexdigest(), ".pdf")


def test_publish_file_to_s3(tmp_path: Path) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    from bot.media import S3MediaStore, S3Settings

    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="media")
        store = S3MediaStore(S3Settings(bucket="media", prefix="cd/"), "https://cd.example.vn/m/",
                             env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
        pdf = make_pdf(tmp_path / "a.pdf")
        url = publish_file(store, pdf)
        key = "cd/" + url.rsplit("/", 1)[1]
        obj = store.client.get_object(Bucket="media", Key=key)
        assert obj["Body"].read() == pdf.read_bytes() and obj["ContentType"] == "application/pdf"
        assert publish_file(store, pdf) == url


def test_facebook_document_post_publishes_the_pdf_first_then_cover_and_link(tmp_path: Path) -> None:
    """The PDF is on the media store before the post that links to it; the post is the cover with the text."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from bot.channels import ChannelContext, Post
    from bot.channels.facebook import FacebookChannel
    from bot.store import Channel
    from tests.fakes.graph_server import GraphFake

    pdf = make_pdf(tmp_path / "hd.pdf", pages=2, title="Quy trình")
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    media = {"folder": str(tmp_path / "media"), "base_url": "https://cd.example.vn/m/"}
    url = file_url(media, sha, ".pdf")
    cover = render_cover(pdf, tmp_path / "cache")
    with GraphFake() as fake:
        fake.add_page("1001", "Trang tỉnh")
        row = Channel(id="u/facebook", unit_id="u", platform="facebook", account_id="1001", token_env="FB_TOKEN_U")
        env = {"FB_TOKEN_U": fake.token_for("1001"), "GRAPH_API_BASE": fake.base_url}
        ch = FacebookChannel(row, ChannelContext(workspace=tmp_path, store=None, env=env,
                                                 campaign=SimpleNamespace(media=media)))
        text = f"TÀI LIỆU\n\n📄 Quy trình (2 trang): {url}"
        post = Post(delivery_id=1, content_id="huong-dan/tl", channel_id="u/facebook", unit_id="u", unit_name="LĐLĐ",
                    platform="facebook", title="Tài liệu", text=text, body="…", images=[cover],
                    first_attempt_at=datetime.now(UTC),
                    attachments={"document": {"path": pdf, "url": url, "title": "Quy trình", "pages": 2,
                                              "pages_text": "2 trang"}})
        ch.publish(post)
        (photo,) = fake.photos("1001")
        assert photo.data == cover.read_bytes() and url in photo.caption
        assert (tmp_path / "media" / f"{sha[:32]}.pdf").read_bytes() == pdf.read_bytes()


def test_facebook_link_post_carries_the_link_and_no_banner(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.channels import ChannelContext, Post
    from bot.channels.facebook import FacebookChannel
    from bot.store import Channel
    from tests.fakes.graph_server import GraphFake

    banner = tmp_path / "b.png"
    Image.new("RGB", (120, 63), "red").save(banner)
    with GraphFake() as fake:
        fake.add_page("1001", "Trang tỉnh")
        row = Channel(id="u/facebook", unit_id="u", platform="facebook", account_id="1001", token_env="FB_TOKEN_U")
        ch = FacebookChannel(row, ChannelContext(workspace=tmp_path, store=None,
                                                 env={"FB_TOKEN_U": fake.token_for("1001"), "GRAPH_API_BASE": fake.base_url}))
        base = dict(channel_id="u/facebook", unit_id="u", unit_name="LĐLĐ", platform="facebook", title="Tin",
                    body="…", link="https://congdoan.example.vn/tin/1", first_attempt_at=datetime.now(UTC))
        ch.publish(Post(delivery_id=1, content_id="tin/1", text="TIN MỘT", attachments={"link_post": True}, **base))
        ch.publish(Post(delivery_id=2, content_id="tin/2", text="TIN HAI", images=[banner], **base))
        first, second = fake.posts_for("1001")
        assert first.kind == "feed" and first.link == "https://congdoan.example.vn/tin/1" and not first.images
        assert second.kind == "photo" and second.link is None  # with the banner: a photo post, the link in the text


def test_link_post_story_has_no_images(mini: Path) -> None:
    from bot.posts import images_for
    from bot.store.models import ContentItem

    write(mini, "content/lk.md", story(link="https://congdoan.example.vn/a", link_post="true"))
    c = load_campaign(mini)
    s = next(s for s in c.stories if s.id == "lk")
    assert s.attachments == {"link_post": True}
    item = ContentItem(id=s.id, title=s.front.title, kind=s.front.kind, unit_id=s.front.unit, body=s.body,
                       link=s.front.link, banner_data=dict(s.attachments))
    assert images_for(item, c) == []
