"""Facebook: how a Graph API error answer becomes a worker decision (the table is in ``spec.py``)."""

from __future__ import annotations

from typing import Any

from bot.channels import ChannelError, HoldChannel, Rejected, RetryLater
from bot.channels.facebook.http import (
    DEFAULT_APP_PAUSE,
    DEFAULT_PAGE_PAUSE,
    DEFAULT_USER_PAUSE,
    REQUIRED_PERMISSIONS,
    Usage,
    _int,
)
from bot.channels.facebook.spec import ERRORS
from bot.channels.spec import Outcome

APP_LIMIT_CODES = {4, 341}
CHANNEL_LIMIT_CODES = {17, 32, 613} | set(range(80000, 80015))
TOKEN_CODES = {190, 102, 104}
PERMISSION_CODES = {3, 10} | set(range(200, 300))
REJECT_CODES = {100, 324, 1609005}
TRANSIENT_CODES = {1, 2}

TOKEN_SUBCODES = {
    458: "ứng dụng đã bị gỡ khỏi tài khoản của người cấp token",
    459: "tài khoản Facebook của người cấp token đang bị kiểm tra bảo mật (checkpoint)",
    460: "người cấp token đã đổi mật khẩu Facebook",
    463: "token đã hết hạn",
    464: "tài khoản của người cấp token chưa được xác minh",
    467: "token không còn hợp lệ (đã bị thu hồi hoặc đăng xuất)",
    492: "phiên không còn hiệu lực (người cấp token có thể đã mất vai trò quản trị Trang)",
}
SUBCODE_ACTION = {
    459: "Người cấp token đăng nhập https://www.facebook.com để hoàn tất kiểm tra bảo mật, rồi ",
    464: "Người cấp token xác minh tài khoản Facebook, rồi ",
    492: "Kiểm tra người cấp token vẫn là quản trị viên Trang, rồi ",
}


class GraphErrors:
    """The classification half of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def _classify(self, status: int, body: Any, headers: Any, *, creates: bool, need: str) -> ChannelError:
        """Turn an error answer into what the worker must do (see the table at the top)."""
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            return RetryLater(
                f"Facebook trả lời HTTP {status} không có mô tả lỗi"
                + (": bài có thể đã được đăng." if creates and status >= 500 else "."),
                maybe_sent=creates and status >= 500, code=f"http-{status}",
            )
        code = _int(err.get("code"))
        sub = _int(err.get("error_subcode"))
        text = self._scrub(str(err.get("message") or "").strip())
        user_msg = self._scrub(str(err.get("error_user_msg") or "").strip())
        trace = err.get("fbtrace_id")
        label = f"#{code}" + (f"/{sub}" if sub else "")
        said = f"Facebook báo lỗi {label}: {text}" + (f" — {user_msg}" if user_msg else "")
        if trace:
            said += f" (fbtrace_id {trace})"
        usage = Usage.from_headers(headers, self.page_id)

        if code in APP_LIMIT_CODES:
            return RetryLater(
                f"Ứng dụng Facebook đã chạm giới hạn số lần gọi; tạm dừng mọi Trang. {said}",
                scope="app", retry_after=usage.regain_seconds or DEFAULT_APP_PAUSE, code=str(code),
            )
        if code in CHANNEL_LIMIT_CODES:
            default = DEFAULT_USER_PAUSE if code == 17 else DEFAULT_PAGE_PAUSE
            return RetryLater(
                f"Trang {self.page_id} đã chạm giới hạn số lần gọi; tạm dừng Trang này. {said}",
                scope="channel", retry_after=usage.regain_seconds or default, code=str(code),
            )
        if code in TOKEN_CODES:
            return self._token_hold(code, sub, said)
        if code == 100 and "appsecret_proof" in text.lower():
            return HoldChannel(
                f"Facebook không chấp nhận appsecret_proof của Trang {self.page_id}. {said}",
                fix=(
                    "Đặt FB_APP_SECRET trong tệp .env bằng khoá bí mật (App secret) của đúng ứng dụng đã cấp "
                    f"token trong {self.token_env}; nếu ứng dụng không bật 'Require App Secret' thì có thể bỏ trống."
                ),
                code="appsecret_proof",
            )
        if code in PERMISSION_CODES:
            return self._permission_hold(code, text, said, need)
        if code == 2635:
            return HoldChannel(
                f"Phiên bản Graph API {self.version} đã ngừng hỗ trợ. {said}",
                fix="Đặt GRAPH_API_VERSION trong tệp .env thành một phiên bản còn hỗ trợ (ví dụ v24.0).",
                code="2635",
            )
        if code == 506:
            return Rejected(f"Facebook báo trùng nội dung với một bài vừa đăng trên Trang. {said}", code="506")
        if code == 368:
            return self._classify_368(sub, text, said, usage)
        if code in REJECT_CODES:
            reason = "ảnh thiếu hoặc không hợp lệ" if code == 324 else "nội dung hoặc tham số không hợp lệ"
            return Rejected(f"Facebook từ chối bài ({reason}). {said}", code=str(code))
        if code in TRANSIENT_CODES or err.get("is_transient") is True or status >= 500:
            return RetryLater(
                f"Facebook đang lỗi tạm thời; sẽ thử lại. {said}"
                + (" Bài có thể đã được đăng: sẽ kiểm tra Trang trước khi gửi lại." if creates else ""),
                maybe_sent=creates, code=str(code) if code is not None else f"http-{status}",
            )
        # Unknown: retry within the worker's budget (which ends in `failed`), checking the Page first.
        return RetryLater(
            f"Lỗi Facebook chưa phân loại; sẽ thử lại. {said}",
            maybe_sent=creates, code=str(code) if code is not None else f"http-{status}",
        )

    def _classify_368(self, sub: int | None, text: str, said: str, usage: Usage) -> ChannelError:
        """368 means three things today (see spec.ERRORS): too fast, a repeat, or a real policy block."""
        rule = ERRORS.lookup(368, sub, text)
        if rule is not None and rule.outcome is Outcome.PAUSE:
            return RetryLater(
                f"Facebook báo Trang {self.page_id} đăng quá nhanh; tạm dừng Trang rồi đăng lại. {said}",
                scope="channel", retry_after=usage.regain_seconds or rule.wait, code=rule.key,
            )
        if rule is not None and rule.outcome is Outcome.DUPLICATE:
            return Rejected(f"Facebook báo bài này đã được đăng trên Trang (nội dung lặp lại). {said}", code=rule.key)
        return Rejected(
            f"Facebook tạm chặn Trang {self.page_id} vì nghi vi phạm chính sách; bài này không gửi lại. "
            f"Cần một người kiểm tra Trang (Hộp thư hỗ trợ / Chất lượng Trang). {said}",
            code="368",
        )

    def _renew_fix(self, sub: int | None) -> str:
        lead = SUBCODE_ACTION.get(sub or 0, "")
        step = (
            f"tạo Page access token mới cho Trang {self.page_id} (từ token người dùng dài hạn của một quản trị viên "
            f"Trang, với các quyền {', '.join(REQUIRED_PERMISSIONS)}) và đặt vào biến {self.token_env} trong tệp .env. "
            "Kênh tự mở lại khi token đổi."
        )
        return (lead + step) if lead else step[0].upper() + step[1:]

    def _token_hold(self, code: int | None, sub: int | None, said: str) -> HoldChannel:
        why = TOKEN_SUBCODES.get(sub or 0) or (
            "phiên làm việc không hợp lệ" if code == 102 else "token không hợp lệ, đã hết hạn hoặc bị thu hồi"
        )
        return HoldChannel(
            f"Token của Trang {self.page_id} (biến {self.token_env}) không dùng được: {why}. {said}",
            fix=self._renew_fix(sub),
            code=f"{code}/{sub}" if sub else str(code),
        )

    def _permission_hold(self, code: int | None, text: str, said: str, need: str) -> HoldChannel:
        named = [p for p in (*REQUIRED_PERMISSIONS, "pages_read_user_content") if p in text]
        perms = named or [need]
        user_token = code == 200 and "page" in text.lower() and "token" in text.lower()
        fix = (
            f"Cấp quyền {', '.join(perms)} cho ứng dụng (người cấp phải là quản trị viên Trang {self.page_id} có quyền "
            f"tạo nội dung), rồi tạo lại Page access token và đặt vào biến {self.token_env} trong tệp .env."
        )
        if user_token or code == 200:
            fix += (
                f" Lưu ý: {self.token_env} phải là Page access token (lấy qua /me/accounts hoặc /{self.page_id}"
                "?fields=access_token), không phải token người dùng."
            )
        return HoldChannel(
            f"Thiếu quyền để dùng Trang {self.page_id}: {', '.join(perms)}. {said}",
            fix=fix,
            code=str(code),
        )

