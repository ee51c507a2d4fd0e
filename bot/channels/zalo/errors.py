"""Zalo: constants, small helpers, and how an Open API error envelope becomes a worker decision.

The table of codes is declared in :mod:`bot.channels.zalo.spec` too (for the registry and the
contract test); :func:`classify` is what the channel applies, including the cases that read the
message (-223 "quota", -201 about a photo URL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels import ChannelError, HoldChannel, Rejected, RetryLater
from bot.errors import BotError

OPENAPI_DEFAULT = "https://openapi.zalo.me"
OAUTH_DEFAULT = "https://oauth.zaloapp.com"
VN = ZoneInfo("Asia/Ho_Chi_Minh")

TITLE_MAX, AUTHOR_MAX, DESCRIPTION_MAX = 150, 50, 300
ACCESS_TTL_DEFAULT = 90000  # 25 h, when the answer has no usable expires_in
REFRESH_TTL = timedelta(days=90)
REFRESH_RENEW_BEFORE = timedelta(days=14)  # renew early so the refresh token never ages out
RENEW_MARGIN_MAX = timedelta(hours=5)
NIGHT_START, NIGHT_END = 22, 6
BROADCASTS_PER_DAY = 1  # each follower receives at most one broadcast a day: a second one reaches nobody


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _int(value: Any, default: int | None = None) -> int | None:
    """Zalo sends some numbers as strings ("90000", "-14014")."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary and ended with … when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head[limit // 2 :]:
        head = head[: head.rfind(" ")]
    return head.rstrip(" ,;:.-–") + "…"


_REAUTHORIZE = (
    "Quản trị viên OA cấp quyền lại cho ứng dụng Zalo của bot (developers.zalo.me → ứng dụng → Official Account "
    "→ cấp quyền, hoặc Công cụ → API Explorer → 'OA Access Token'), lấy refresh token MỚI, đặt vào biến {env} "
    "trong tệp .env rồi chạy `campaign-bot channels` để kiểm tra. Bot nhận ra token mới và tự đăng tiếp; "
    "các bài đang chờ không bị mất."
)


# ---------------------------------------------------------------------------------------------
# Error classification (the envelope: HTTP 200 with a negative `error`)


class ZaloApiError(BotError):
    """An error envelope from the Open API. ``message`` is the platform's text (never holds a token)."""

    def __init__(self, code: int, message: str, path: str) -> None:
        super().__init__(f"Zalo {path}: {code} {message}")
        self.code = code
        self.message = message
        self.path = path


# code -> (problem, fix), in Vietnamese for the staff: a person must act.
HOLD_ERRORS: dict[int, tuple[str, str]] = {
    -204: ("OA đã bị vô hiệu hoá", "quản trị viên OA liên hệ Zalo để mở lại OA"),
    -205: ("OA không tồn tại", "kiểm tra oa_id trong config/units.yaml và refresh token của kênh"),
    -209: ("ứng dụng Zalo chưa được kích hoạt cho API này", "kích hoạt ứng dụng trên developers.zalo.me"),
    -212: (
        "ứng dụng Zalo chưa đăng ký API này",
        "trên developers.zalo.me bật nhóm quyền 'Quản lý bài viết' và 'Gửi tin và thông báo qua OA', rồi cấp quyền lại OA",
    ),
    -219: ("ứng dụng Zalo đã bị gỡ hoặc vô hiệu hoá", "kiểm tra ứng dụng trên developers.zalo.me (ZALO_APP_ID)"),
    -221: ("OA chưa được xác thực nên không dùng được tính năng này", "xác thực OA trên oa.zalo.me"),
    -223: (
        "OA chưa cấp cho ứng dụng quyền dùng API này",
        "quản trị viên OA cấp quyền lại với nhóm quyền 'Quản lý bài viết' (và 'Gửi tin và thông báo qua OA')",
    ),
    -224: ("gói OA hiện tại không có tính năng này", "nâng cấp gói OA trên oa.zalo.me"),
    -235: ("loại OA này không dùng được API này", "kiểm tra loại OA trên oa.zalo.me"),
    -240: ("bot gọi một API Zalo đã ngừng (MessageV2)", "báo lỗi này cho người phát triển bot"),
    -242: ("appsecret_proof không đúng", "kiểm tra ZALO_SECRET_KEY trong tệp .env"),
    -320: (
        "ứng dụng cần liên kết Zalo Cloud Account để dùng tính năng trả phí",
        "liên kết ZCA trên developers.zalo.me",
    ),
    -321: ("Zalo Cloud Account của ứng dụng hết tiền hoặc không thanh toán được", "nạp tiền cho Zalo Cloud Account"),
}
# code -> platform refuses this one post; retrying will not help.
REJECT_ERRORS = {-201, -210, -213, -217, -227, -230, -232, -233, -244, -248}
# code -> (scope, seconds): try again later.
RETRY_ERRORS: dict[int, tuple[str, float]] = {
    -32: ("app", 60.0),
    -100: ("delivery", 300.0),
    -200: ("delivery", 300.0),
    -214: ("delivery", 60.0),
    -211: ("delivery", 12 * 3600.0),
    -218: ("delivery", 12 * 3600.0),
    -234: ("delivery", 3600.0),
}
ARTICLE_QUOTA_WAIT = 12 * 3600.0
UNKNOWN_ERROR_WAIT = 600.0
# Codes that mean "not now" rather than "something failed": the night window, spent quotas, processing.
WAIT_CODES = {"-211", "-214", "-218", "-223", "-234", "night", "broadcast-daily"}


def waiting(exc: RetryLater) -> RetryLater:
    """Mark a RetryLater as a planned wait (night, quota, processing): ``exc.wait = True``.

    A wait is not a failed attempt; a worker that limits attempts should not count it, so that a
    broadcast waiting for next month's quota waits, and never fails.
    """
    exc.wait = True  # type: ignore[attr-defined]
    return exc


def classify(err: ZaloApiError, *, env_name: str, progress: dict[str, Any] | None = None) -> ChannelError:
    """What a Zalo error means for the delivery and the channel (see the notes' error table)."""
    code, msg = err.code, err.message
    tag = f"Zalo {code}: {msg}"
    if code == -223 and "quota" in msg.lower():
        return RetryLater(
            f"OA đã hết lượt đăng bài của gói tháng này ({tag}); bài chờ đến khi gói được làm mới",
            retry_after=ARTICLE_QUOTA_WAIT,
            scope="channel",
            code=str(code),
            progress=progress,
        )
    if code in (-216, -220):
        return HoldChannel(
            f"Zalo không chấp nhận access token vừa gia hạn ({tag})",
            fix=_REAUTHORIZE.format(env=env_name),
            code=str(code),
            progress=progress,
        )
    if code in HOLD_ERRORS:
        problem, fix = HOLD_ERRORS[code]
        return HoldChannel(f"{problem} ({tag})", fix=fix, code=str(code), progress=progress)
    if code == -201 and any(k in msg.lower() for k in ("photo_url", "url is", "cover")):
        return HoldChannel(
            f"Zalo không tải được ảnh của bài từ nơi đăng ảnh (media) ({tag})",
            fix="kiểm tra web server hoặc bucket của media: ảnh phải mở được công khai qua https tại media.base_url",
            code=str(code),
            progress=progress,
        )
    if code in REJECT_ERRORS:
        return Rejected(f"Zalo từ chối bài: {msg} (mã {code})", code=str(code), progress=progress)
    if code in RETRY_ERRORS:
        scope, wait = RETRY_ERRORS[code]
        return RetryLater(f"{tag}; thử lại sau", retry_after=wait, scope=scope, code=str(code), progress=progress)
    return RetryLater(
        f"{tag} (mã lỗi chưa biết); thử lại sau", retry_after=UNKNOWN_ERROR_WAIT, code=str(code), progress=progress
    )
