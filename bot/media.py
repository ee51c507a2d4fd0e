"""The media store: images at a public address, for platforms that take image URLs (Zalo articles).

Zalo articles reference their cover and body images by URL; the platform fetches them. So each
banner or photo is published once, under a name derived from its content (SHA-256), to one of two
backends chosen by the ``media:`` block of config/campaign.yaml:

* ``folder`` + ``base_url``: a folder that the federation's own web server publishes;
* ``s3: {bucket, endpoint_url, prefix}`` + ``base_url``: an S3-compatible bucket (the object stores
  of Vietnamese clouds speak S3), through boto3; credentials from the usual ``AWS_*`` variables.

Rules: an image over :data:`MAX_IMAGE_BYTES` (1 MB) is re-encoded, then scaled down, until it fits;
formats other than JPEG/PNG become JPEG; a name is never reused for different bytes (content-hash
names, and a file that somehow differs is never overwritten); files stay (nothing is deleted).
``base_url`` must be https; ``allow_http: true`` accepts http, for local tests and demos only.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bot.errors import BotError

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 1_000_000  # Zalo's "1 MB" for article images; the decimal reading is the safe one
_JPEG_QUALITIES = (90, 85, 80, 75, 70, 65, 60)
_MIN_SIDE = 320
_CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


class MediaError(BotError):
    """A media problem, in Vietnamese for the staff. ``fix`` says what a person must do."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class MediaConfigError(MediaError):
    """The media store is misconfigured or refuses us (permissions, credentials): a person must act."""


class MediaUnavailable(MediaError):
    """A passing problem (network, server busy): try again later."""


class BadImage(MediaError):
    """This file is not an image we can publish."""


# ---------------------------------------------------------------------------------------------
# Settings (the loader validates the `media:` block of config/campaign.yaml with these)


class S3Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str
    endpoint_url: str | None = None
    prefix: str = ""
    region: str | None = None
    acl: str | None = None  # e.g. "public-read" where the bucket is not public by policy

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        v = v.strip().lstrip("/")
        return v if not v or v.endswith("/") else v + "/"


class MediaSettings(BaseModel):
    """``media:`` in config/campaign.yaml: exactly one of ``folder`` or ``s3``, plus ``base_url``."""

    model_config = ConfigDict(extra="forbid")

    folder: str | None = None
    s3: S3Settings | None = None
    base_url: str
    allow_http: bool = False  # accept an http base_url (tests and local demos only)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        v = v.strip()
        parts = urlsplit(v)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("base_url phải là một địa chỉ https://… đầy đủ")
        if parts.query or parts.fragment:
            raise ValueError("base_url không được có ?… hoặc #…")
        return v if v.endswith("/") else v + "/"

    @model_validator(mode="after")
    def _one_backend(self) -> MediaSettings:
        if (self.folder is None) == (self.s3 is None):
            raise ValueError("media cần đúng một trong hai: folder hoặc s3")
        if urlsplit(self.base_url).scheme != "https" and not self.allow_http:
            raise ValueError("base_url phải dùng https (Zalo chỉ lấy ảnh từ địa chỉ công khai an toàn)")
        return self


def coerce_settings(settings: Any) -> MediaSettings:
    """Accept a :class:`MediaSettings`, another pydantic model, an object with attributes, or a dict."""
    if isinstance(settings, MediaSettings):
        return settings
    if settings is None:
        raise MediaConfigError(
            "chưa cấu hình nơi đăng ảnh (media:) nên không đăng được bài Zalo",
            fix="thêm khối media: (folder + base_url, hoặc s3 + base_url) vào config/campaign.yaml",
        )
    if hasattr(settings, "model_dump"):
        data = settings.model_dump(exclude_none=True)
    elif isinstance(settings, Mapping):
        data = dict(settings)
    else:
        data = {k: getattr(settings, k) for k in ("folder", "s3", "base_url", "allow_http") if hasattr(settings, k)}
        if hasattr(data.get("s3"), "model_dump"):
            data["s3"] = data["s3"].model_dump(exclude_none=True)
        data = {k: v for k, v in data.items() if v is not None}
    try:
        return MediaSettings.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError: says which field
        raise MediaConfigError(
            f"khối media: trong config/campaign.yaml không hợp lệ: {exc}",
            fix="sửa khối media: theo mẫu trong tài liệu (folder + base_url, hoặc s3 + base_url)",
        ) from None


# ---------------------------------------------------------------------------------------------
# Preparing the bytes


def prepare_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """The bytes to publish and their extension (``.jpg`` or ``.png``).

    A JPEG or PNG that fits is kept byte for byte. Anything else is decoded (EXIF orientation
    applied), re-encoded as JPEG at falling quality, then scaled down step by step until it fits.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from bot.images import ImageProblem, inspect_bytes

    checked = inspect_bytes(data)  # the real format, verify, decompression-bomb and size bounds (bot.images)
    if isinstance(checked, ImageProblem):
        raise BadImage(checked.message)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
    except (UnidentifiedImageError, OSError) as exc:
        raise BadImage(f"tệp không phải là ảnh đọc được ({type(exc).__name__})") from None
    if fmt in ("JPEG", "PNG") and len(data) <= max_bytes:
        return data, ".jpg" if fmt == "JPEG" else ".png"

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "P") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            img = flat
        elif img.mode != "RGB":
            img = img.convert("RGB")

    def encode(im: Any, quality: int) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        return buf.getvalue()

    scale = 1.0
    while True:
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        current = img if scale == 1.0 else img.resize((w, h), Image.Resampling.LANCZOS)
        for q in _JPEG_QUALITIES:
            out = encode(current, q)
            if len(out) <= max_bytes:
                log.info("image re-encoded: %d -> %d bytes (%dx%d, quality %d)", len(data), len(out), w, h, q)
                return out, ".jpg"
        if min(w, h) <= _MIN_SIDE:
            raise BadImage(f"không thu nhỏ được ảnh xuống dưới {max_bytes // 1000} KB")
        scale *= 0.8


def content_name(data: bytes, ext: str) -> str:
    return hashlib.sha256(data).hexdigest()[:32] + ext


# ---------------------------------------------------------------------------------------------
# Backends


class MediaStore(Protocol):
    base_url: str

    def publish(self, local_path: Path | str) -> str:
        """Publish one image; returns its public URL. Idempotent: the same bytes give the same URL."""
        ...

    def close(self) -> None: ...


class _Base:
    base_url: str

    def publish(self, local_path: Path | str) -> str:
        path = Path(local_path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BadImage(f"không đọc được ảnh {path.name}: {exc.strerror or type(exc).__name__}") from None
        data, ext = prepare_image(raw)
        name = self._put(content_name(data, ext), data, ext)
        return self.base_url + name

    def _put(self, name: str, data: bytes, ext: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


class FolderMediaStore(_Base):
    """Files in a folder that a web server publishes under ``base_url``."""

    def __init__(self, folder: Path, base_url: str, root: Path | None = None) -> None:
        self.folder = folder
        self.base_url = base_url
        # Writes never leave ``root``: the workspace for a relative folder, the folder itself when absolute.
        self.root = root if root is not None else folder

    def __repr__(self) -> str:
        return f"FolderMediaStore({self.folder} -> {self.base_url})"

    def _put(self, name: str, data: bytes, ext: str) -> str:
        from bot.files import UnsafePath, ensure_inside

        try:
            ensure_inside(self.folder, self.root)
            self.folder.mkdir(parents=True, exist_ok=True)
            ensure_inside(self.folder, self.root)
            self._reachable()
            stem = name[: -len(ext)]
            for n in range(0, 100):
                candidate = name if n == 0 else f"{stem}-{n}{ext}"
                target = self.folder / candidate
                if target.exists():
                    if target.read_bytes() == data:
                        return candidate
                    log.warning("media: %s exists with other content; not overwriting it", target)
                    continue
                if self._link_new(target, data):
                    return candidate
                if target.read_bytes() == data:  # a concurrent writer put the same bytes first
                    return candidate
            raise MediaConfigError(f"thư mục ảnh {self.folder} có quá nhiều tệp trùng tên khác nội dung")
        except UnsafePath as exc:
            raise MediaConfigError(str(exc).split(" Cách sửa: ")[0],
                                   fix="xóa liên kết và để bot tạo thư mục thật, hoặc ghi media.folder là đường dẫn tuyệt đối") from None
        except PermissionError:
            raise MediaConfigError(
                f"không ghi được vào thư mục ảnh {self.folder} (không có quyền)",
                fix="cấp quyền ghi thư mục media cho người dùng chạy bot, hoặc sửa media.folder",
            ) from None
        except OSError as exc:
            raise MediaUnavailable(f"lỗi ghi thư mục ảnh {self.folder}: {exc.strerror or type(exc).__name__}") from None

    def _reachable(self) -> None:
        """The store's folder ``.campaign`` is 0700 (bot.store.db); with the media folder inside it
        the web server must still reach the images by name: 0711 (no listing, store files 0600)."""
        parent = self.folder.resolve().parent
        if parent.name == ".campaign":
            try:
                if parent.stat().st_mode & 0o777 == 0o700:
                    parent.chmod(0o711)
            except OSError:
                pass

    def _link_new(self, target: Path, data: bytes) -> bool:
        """Write to a temporary file, then link it under the final name, which fails if the name exists."""
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # the web server must read it
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            return True
        finally:
            Path(tmp).unlink(missing_ok=True)


class S3MediaStore(_Base):
    """Objects in an S3-compatible bucket, public under ``base_url`` (which already includes the prefix)."""

    def __init__(self, settings: S3Settings, base_url: str, env: Mapping[str, str] | None = None) -> None:
        import boto3
        from botocore.config import Config

        env = env or {}
        kwargs: dict[str, Any] = {}
        for key, arg in (
            ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
            ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
            ("AWS_SESSION_TOKEN", "aws_session_token"),
        ):
            if env.get(key):
                kwargs[arg] = env[key]
        region = settings.region or env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1"
        self.settings = settings
        self.base_url = base_url
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=region,
            config=Config(
                connect_timeout=10,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"} if settings.endpoint_url else {},
            ),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"S3MediaStore(s3://{self.settings.bucket}/{self.settings.prefix} -> {self.base_url})"

    def _put(self, name: str, data: bytes, ext: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        sha = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        bucket = self.settings.bucket
        stem = name[: -len(ext)]
        try:
            for n in range(0, 100):
                candidate = name if n == 0 else f"{stem}-{n}{ext}"
                key = self.settings.prefix + candidate
                try:
                    head = self.client.head_object(Bucket=bucket, Key=key)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                        raise
                else:
                    same = head.get("Metadata", {}).get("sha256") == sha or head.get("ETag", "").strip('"') == md5
                    if same:
                        return candidate  # content-addressed: already there
                    log.warning("media: s3://%s/%s exists with other content; not overwriting it", bucket, key)
                    continue
                extra: dict[str, Any] = {"ACL": self.settings.acl} if self.settings.acl else {}
                self.client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=data,
                    ContentType=_CONTENT_TYPES[ext],
                    CacheControl="public, max-age=31536000, immutable",
                    Metadata={"sha256": sha},
                    **extra,
                )
                return candidate
            raise MediaConfigError(f"bucket {bucket} có quá nhiều tệp trùng tên khác nội dung")
        except NoCredentialsError:
            raise MediaConfigError(
                "chưa có thông tin đăng nhập kho ảnh S3",
                fix="đặt AWS_ACCESS_KEY_ID và AWS_SECRET_ACCESS_KEY trong tệp .env",
            ) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket") or status in (
                401,
                403,
            ):
                raise MediaConfigError(
                    f"kho ảnh S3 từ chối ghi ({code or status}) vào bucket {bucket}",
                    fix="kiểm tra tên bucket, quyền ghi và AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY trong .env",
                ) from None
            raise MediaUnavailable(f"kho ảnh S3 tạm thời lỗi ({code or status})") from None
        except BotoCoreError as exc:
            raise MediaUnavailable(f"không kết nối được kho ảnh S3 ({type(exc).__name__})") from None


def open_media_store(
    media_settings: Any, workspace: Path | str, *, env: Mapping[str, str] | None = None
) -> FolderMediaStore | S3MediaStore:
    """The media store the campaign configures. ``media_settings`` may be a dict or a pydantic model."""
    settings = coerce_settings(media_settings)
    if settings.folder is not None:
        folder = Path(settings.folder).expanduser()
        if not folder.is_absolute():
            return FolderMediaStore(Path(workspace) / folder, settings.base_url, root=Path(workspace))
        return FolderMediaStore(folder, settings.base_url)
    assert settings.s3 is not None
    return S3MediaStore(settings.s3, settings.base_url, env=env)


def check_media(store: FolderMediaStore | S3MediaStore, session: Any = None, timeout: float = 10) -> str | None:
    """Publish a tiny probe image and fetch it back through ``base_url``. None if it works, else the problem."""
    import requests
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (183, 28, 28)).save(buf, "PNG")
    data = buf.getvalue()
    tmp = Path(tempfile.mkdtemp(prefix="media-probe-")) / "probe.png"
    try:
        tmp.write_bytes(data)
        url = store.publish(tmp)
    except MediaError as exc:
        return exc.message
    finally:
        tmp.unlink(missing_ok=True)
        tmp.parent.rmdir()
    try:
        resp = (session or requests).get(url, timeout=timeout)
    except requests.RequestException as exc:
        return f"không tải lại được ảnh thử từ {url} ({type(exc).__name__})"
    if resp.status_code != 200 or resp.content != data:
        return f"ảnh thử {url} trả về HTTP {resp.status_code}: web server chưa phục vụ thư mục media"
    return None


# ---------------------------------------------------------------------------------------------
# Files other than images (issue 18): a guide's PDF, a video linked from a Zalo article


FILE_TYPES = {".pdf": "application/pdf", ".mp4": "video/mp4"}


def file_url(media_settings: Any, sha256: str, ext: str) -> str:
    """Where :func:`publish_file` puts a file with this content: known before it is published, so the
    post's text (and the outbox, the preview) can show the link. ``(chưa cấu hình media:)`` without a store."""
    if media_settings is None or not sha256:
        return "(chưa cấu hình media:)"
    return coerce_settings(media_settings).base_url + sha256[:32] + ext


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def publish_file(store: FolderMediaStore | S3MediaStore, local_path: Path | str) -> str:
    """Publish a PDF or an MP4 as it is (no re-encoding), streamed from disk, under its content-hash name;
    returns its public URL. Idempotent like :meth:`MediaStore.publish`."""
    path = Path(local_path)
    ext = path.suffix.lower()
    if ext not in FILE_TYPES:
        raise BadImage(f"không đăng được tệp {path.name}: chỉ nhận {', '.join(FILE_TYPES)}")
    try:
        sha = file_sha256(path)
    except OSError as exc:
        raise MediaUnavailable(f"không đọc được tệp {path.name}: {exc.strerror or type(exc).__name__}") from None
    name = sha[:32] + ext
    if isinstance(store, S3MediaStore):
        return store.base_url + _s3_put_file(store, name, path, sha, ext)
    return store.base_url + _folder_put_file(store, name, path, sha)


def _folder_put_file(store: FolderMediaStore, name: str, path: Path, sha: str) -> str:
    from bot.files import UnsafePath, ensure_inside

    try:
        ensure_inside(store.folder, store.root)
        store.folder.mkdir(parents=True, exist_ok=True)
        ensure_inside(store.folder, store.root)
        store._reachable()
        target = store.folder / name
        if target.exists() and file_sha256(target) == sha:
            return name
        fd, tmp = tempfile.mkstemp(dir=store.folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # the name is the content's hash: a concurrent writer wrote the same bytes
        finally:
            Path(tmp).unlink(missing_ok=True)
        return name
    except UnsafePath as exc:
        raise MediaConfigError(str(exc).split(" Cách sửa: ")[0], fix="sửa media.folder") from None
    except PermissionError:
        raise MediaConfigError(f"không ghi được vào thư mục media {store.folder} (không có quyền)",
                               fix="cấp quyền ghi thư mục media cho người dùng chạy bot, hoặc sửa media.folder") from None
    except OSError as exc:
        raise MediaUnavailable(f"lỗi ghi thư mục media {store.folder}: {exc.strerror or type(exc).__name__}") from None


def _s3_put_file(store: S3MediaStore, name: str, path: Path, sha: str, ext: str) -> str:
    """boto3's managed transfer streams the file in parts (multipart above 8 MB): never all in memory."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, key = store.settings.bucket, store.settings.prefix + name
    try:
        try:
            head = store.client.head_object(Bucket=bucket, Key=key)
            if head.get("Metadata", {}).get("sha256") == sha:
                return name
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        extra: dict[str, Any] = {"ContentType": FILE_TYPES[ext], "CacheControl": "public, max-age=31536000, immutable",
                                 "Metadata": {"sha256": sha}}
        if store.settings.acl:
            extra["ACL"] = store.settings.acl
        store.client.upload_file(str(path), bucket, key, ExtraArgs=extra)
        return name
    except NoCredentialsError:
        raise MediaConfigError("chưa có thông tin đăng nhập kho S3",
                               fix="đặt AWS_ACCESS_KEY_ID và AWS_SECRET_ACCESS_KEY trong tệp .env") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket") or status in (401, 403):
            raise MediaConfigError(f"kho S3 từ chối ghi ({code or status}) vào bucket {bucket}",
                                   fix="kiểm tra tên bucket, quyền ghi và khóa truy cập trong .env") from None
        raise MediaUnavailable(f"kho S3 tạm thời lỗi ({code or status})") from None
    except (BotoCoreError, OSError) as exc:
        raise MediaUnavailable(f"không tải được tệp lên kho S3 ({type(exc).__name__})") from None


def ensure_document(ctx: Any, post: Any) -> str:
    """Publish the post's PDF on the campaign's media store before a channel posts its link (issue 18).
    Media problems become the worker's decisions: a person must act (HoldChannel) or try later."""
    from bot.channels import HoldChannel, RetryLater

    doc = post.attachments["document"]
    campaign = ctx.campaign
    settings = campaign.get("media") if isinstance(campaign, dict) else getattr(campaign, "media", None)
    try:
        store = open_media_store(settings, ctx.workspace, env=ctx.env)
        try:
            url = publish_file(store, Path(doc["path"]))
        finally:
            store.close()
    except MediaConfigError as exc:
        raise HoldChannel(exc.message, fix=exc.fix or "sửa khối media: trong config/campaign.yaml", code="media") from None
    except MediaError as exc:
        raise RetryLater(f"chưa đăng được tài liệu lên nơi đăng tệp: {exc.message}", retry_after=300, code="media") from None
    if url != doc["url"]:
        log.warning("media: %s published as %s, the post links %s", doc["path"], url, doc["url"])
    return url
