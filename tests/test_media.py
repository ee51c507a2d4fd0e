"""bot.media: images at a public address (folder served by a web server, or an S3-compatible bucket)."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from PIL import Image

from bot.media import (
    MAX_IMAGE_BYTES,
    BadImage,
    FolderMediaStore,
    MediaConfigError,
    MediaSettings,
    MediaUnavailable,
    S3MediaStore,
    check_media,
    coerce_settings,
    open_media_store,
    prepare_image,
)
from tests.fakes.zalo_server import StaticServer

BUCKET = "congdoan-media"


def png(
    path: Path, size: tuple[int, int] = (1200, 630), color: tuple[int, ...] = (183, 28, 28), mode: str = "RGB"
) -> Path:
    Image.new(mode, size, color).save(path, "PNG")
    return path


def noise(path: Path, size: tuple[int, int] = (1400, 1400), mode: str = "RGB", fmt: str = "PNG") -> Path:
    channels = len(mode)
    Image.frombytes(mode, size, os.urandom(size[0] * size[1] * channels)).save(path, fmt)
    return path


# ---------------------------------------------------------------------------------------------- settings


def test_settings_folder_and_s3_forms() -> None:
    a = MediaSettings.model_validate({"folder": "media", "base_url": "https://cd.example.vn/media"})
    assert a.base_url == "https://cd.example.vn/media/" and a.s3 is None
    b = MediaSettings.model_validate(
        {
            "s3": {"bucket": BUCKET, "endpoint_url": "https://s3.example.vn", "prefix": "banners"},
            "base_url": "https://x.vn/b/",
        }
    )
    assert b.s3 is not None and b.s3.prefix == "banners/" and b.folder is None


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"base_url": "https://x.vn/"}, "folder hoặc s3"),
        ({"folder": "m", "s3": {"bucket": BUCKET}, "base_url": "https://x.vn/"}, "folder hoặc s3"),
        ({"folder": "m", "base_url": "http://x.vn/"}, "https"),
        ({"folder": "m", "base_url": "x.vn/media"}, "https"),
        ({"folder": "m", "base_url": "https://x.vn/", "bse_url": "typo"}, "bse_url"),
        ({"s3": {"bucket": BUCKET, "endpoint": "https://s3"}, "base_url": "https://x.vn/"}, "endpoint"),
    ],
)
def test_settings_errors_are_explicit(data: dict, needle: str) -> None:
    with pytest.raises(Exception) as info:
        MediaSettings.model_validate(data)
    assert needle in str(info.value)


def test_http_base_url_only_with_allow_http() -> None:
    s = MediaSettings.model_validate({"folder": "m", "base_url": "http://127.0.0.1:8000/", "allow_http": True})
    assert s.base_url.startswith("http://")


def test_coerce_accepts_dicts_models_and_objects(tmp_path: Path) -> None:
    raw = {"folder": "m", "base_url": "https://x.vn/"}
    assert coerce_settings(raw).folder == "m"
    assert coerce_settings(MediaSettings.model_validate(raw)).folder == "m"
    assert (
        coerce_settings(SimpleNamespace(folder="m", s3=None, base_url="https://x.vn/", allow_http=False)).folder == "m"
    )
    with pytest.raises(MediaConfigError) as info:
        coerce_settings(None)
    assert "media:" in info.value.message and info.value.fix
    with pytest.raises(MediaConfigError):
        coerce_settings({"folder": "m"})


# ---------------------------------------------------------------------------------------------- bytes


def test_small_jpeg_and_png_are_kept_byte_for_byte(tmp_path: Path) -> None:
    p = png(tmp_path / "a.png")
    assert prepare_image(p.read_bytes()) == (p.read_bytes(), ".png")
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(buf, "JPEG")
    assert prepare_image(buf.getvalue()) == (buf.getvalue(), ".jpg")


def test_an_image_over_1_mb_is_reencoded_and_scaled_until_it_fits(tmp_path: Path) -> None:
    big = noise(tmp_path / "big.png")
    assert big.stat().st_size > MAX_IMAGE_BYTES
    data, ext = prepare_image(big.read_bytes())
    assert ext == ".jpg" and len(data) <= MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.width <= 1400


def test_transparent_png_over_the_limit_is_flattened(tmp_path: Path) -> None:
    big = noise(tmp_path / "rgba.png", size=(900, 900), mode="RGBA")
    data, ext = prepare_image(big.read_bytes())
    assert ext == ".jpg" and len(data) <= MAX_IMAGE_BYTES


def test_other_formats_become_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, "WEBP")
    data, ext = prepare_image(buf.getvalue())
    assert ext == ".jpg" and data[:3] == b"\xff\xd8\xff"


def test_not_an_image_is_refused() -> None:
    with pytest.raises(BadImage):
        prepare_image(b"%PDF-1.4 not an image")


# ---------------------------------------------------------------------------------------------- folder


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "www" / "media"
    folder.mkdir(parents=True)
    with StaticServer(folder) as web:
        yield folder, web.base_url


def test_folder_store_publishes_under_a_content_hash_name(tmp_path: Path, served: tuple[Path, str]) -> None:
    folder, base = served
    store = open_media_store({"folder": str(folder), "base_url": base, "allow_http": True}, tmp_path)
    assert isinstance(store, FolderMediaStore)
    a = png(tmp_path / "banner.png")
    url = store.publish(a)
    assert url.startswith(base) and url.endswith(".png")
    name = url[len(base) :]
    assert (folder / name).read_bytes() == a.read_bytes()
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644  # the web server can read it
    assert requests.get(url, timeout=5).content == a.read_bytes()
    # the same bytes again: the same URL, no new file; other bytes under the same file name: another URL
    assert store.publish(a) == url
    (tmp_path / "sub").mkdir()
    b = png(tmp_path / "sub" / "banner.png", color=(0, 0, 200))
    assert store.publish(b) != url
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 2


def test_folder_store_never_overwrites_a_different_file(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    store = FolderMediaStore(folder, "https://x.vn/m/")
    a = png(tmp_path / "a.png")
    url = store.publish(a)
    name = url.rsplit("/", 1)[1]
    (folder / name).write_bytes(b"someone else's file")  # the name is taken by other bytes
    url2 = store.publish(a)
    assert url2 != url and url2.endswith("-1.png")
    assert (folder / name).read_bytes() == b"someone else's file"
    assert (folder / url2.rsplit("/", 1)[1]).read_bytes() == a.read_bytes()


def test_relative_folder_is_inside_the_workspace(tmp_path: Path) -> None:
    store = open_media_store({"folder": ".campaign/media", "base_url": "https://x.vn/m"}, tmp_path)
    url = store.publish(png(tmp_path / "a.png"))
    assert (tmp_path / ".campaign" / "media" / url.rsplit("/", 1)[1]).exists()
    assert url.startswith("https://x.vn/m/")


def test_big_image_is_stored_small(tmp_path: Path) -> None:
    store = FolderMediaStore(tmp_path / "m", "https://x.vn/")
    url = store.publish(noise(tmp_path / "big.png"))
    stored = tmp_path / "m" / url.rsplit("/", 1)[1]
    assert url.endswith(".jpg") and stored.stat().st_size <= MAX_IMAGE_BYTES


def test_unwritable_folder_is_a_configuration_problem(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = tmp_path / "file-not-folder"
        target.write_text("x")
        store = FolderMediaStore(target / "m", "https://x.vn/")  # mkdir under a file fails for root too
        with pytest.raises((MediaConfigError, MediaUnavailable)):
            store.publish(png(tmp_path / "a.png"))
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(MediaConfigError) as info:
        FolderMediaStore(folder, "https://x.vn/").publish(png(tmp_path / "a.png"))
    assert info.value.fix


def test_check_media_fetches_back_through_base_url(tmp_path: Path, served: tuple[Path, str]) -> None:
    folder, base = served
    assert check_media(FolderMediaStore(folder, base)) is None
    problem = check_media(FolderMediaStore(folder, base + "sai/"))
    assert problem and "404" in problem


# ---------------------------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def bucket(moto_server: str, request: pytest.FixtureRequest) -> str:
    import boto3

    name = f"{BUCKET}-{abs(hash(request.node.name)) % 10**8}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name


def s3_settings(endpoint: str, bucket: str, **kw: object) -> dict:
    return {
        "s3": {"bucket": bucket, "endpoint_url": endpoint, "prefix": "banners/", **kw},
        "base_url": f"{endpoint}/{bucket}/banners/",
        "allow_http": True,
    }


def test_s3_object_without_public_acl_is_not_readable(tmp_path: Path, moto_server: str, bucket: str) -> None:
    """The local S3 server checks anonymous reads, as real ones do: `acl: public-read` (or a bucket policy) matters."""
    store = open_media_store(s3_settings(moto_server, bucket), tmp_path, env=S3_ENV)
    url = store.publish(png(tmp_path / "a.png"))
    assert requests.get(url, timeout=5).status_code == 403
    assert check_media(store) is not None


def test_s3_store_publishes_a_public_object(tmp_path: Path, moto_server: str, bucket: str) -> None:
    store = open_media_store(s3_settings(moto_server, bucket, acl="public-read"), tmp_path, env=S3_ENV)
    assert isinstance(store, S3MediaStore)
    a = png(tmp_path / "a.png")
    url = store.publish(a)
    assert url.startswith(f"{moto_server}/{bucket}/banners/") and url.endswith(".png")
    resp = requests.get(url, timeout=5)
    assert resp.status_code == 200 and resp.content == a.read_bytes()
    assert resp.headers["Content-Type"] == "image/png"
    key = "banners/" + url.rsplit("/", 1)[1]
    head = store.client.head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["sha256"] and "immutable" in head["CacheControl"]
    assert store.publish(a) == url  # idempotent
    objects = store.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(objects) == 1


def test_s3_store_never_overwrites_a_different_object(tmp_path: Path, moto_server: str, bucket: str) -> None:
    store = open_media_store(s3_settings(moto_server, bucket, acl="public-read"), tmp_path, env=S3_ENV)
    a = png(tmp_path / "a.png")
    data, ext = prepare_image(a.read_bytes())
    from bot.media import content_name

    key = "banners/" + content_name(data, ext)
    store.client.put_object(Bucket=bucket, Key=key, Body=b"other bytes")
    url = store.publish(a)
    assert url.endswith("-1.png")
    assert store.client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"other bytes"
    assert requests.get(url, timeout=5).content == a.read_bytes()


def test_s3_big_image_is_scaled_before_upload(tmp_path: Path, moto_server: str, bucket: str) -> None:
    store = open_media_store(s3_settings(moto_server, bucket, acl="public-read"), tmp_path, env=S3_ENV)
    url = store.publish(noise(tmp_path / "big.png"))
    assert len(requests.get(url, timeout=10).content) <= MAX_IMAGE_BYTES


def test_s3_missing_bucket_is_a_configuration_problem(tmp_path: Path, moto_server: str) -> None:
    store = open_media_store(s3_settings(moto_server, "khong-co-bucket-nay"), tmp_path, env=S3_ENV)
    with pytest.raises(MediaConfigError) as info:
        store.publish(png(tmp_path / "a.png"))
    assert "bucket" in info.value.message and info.value.fix


def test_s3_unreachable_endpoint_is_passing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_media_store(s3_settings(f"http://127.0.0.1:{port}", BUCKET), tmp_path, env=S3_ENV)
    store.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(MediaUnavailable):
        store.publish(png(tmp_path / "a.png"))
