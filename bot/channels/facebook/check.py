"""Facebook: `campaign-bot channels` — which Page a token opens, its permissions and expiry."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from bot.channels import ChannelCheck, ChannelError, HoldChannel, RetryLater, mask
from bot.channels.facebook.http import REQUIRED_PERMISSIONS, _int, _iso


class GraphCheck:
    """The check of :class:`~bot.channels.facebook.FacebookChannel` (a mixin)."""

    def check(self) -> ChannelCheck:
        """Which Page the token opens, its permissions and expiry. Never raises for an auth error."""
        details: dict[str, Any] = {
            "page_id": self.page_id,
            "token_env": self.token_env,
            "token": mask(self._token),
            "api": f"{self.base}/{self.version}",
            "verified": False,
        }

        def result(ok: bool, problem: str | None = None, fix: str | None = None, name: str | None = None):
            return ChannelCheck(
                channel_id=self.row.id, platform=self.platform, ok=ok, account_name=name,
                details=details, problem=problem, fix=fix,
            )

        if not self._token:
            return result(False, f"biến {self.token_env} chưa đặt: kênh dùng outbox, không đăng thật",
                          f"Đặt Page access token của Trang {self.page_id} vào {self.token_env} trong tệp .env.")
        try:
            me = self._call("GET", "me", params={"fields": "id,name"}, need="pages_show_list").body or {}
        except HoldChannel as exc:
            return result(False, exc.message, exc.fix)
        except ChannelError as exc:
            return result(False, f"Không kiểm tra được token: {exc.message}",
                          "Thử lại sau; nếu lỗi còn, kiểm tra mạng và GRAPH_API_BASE.")
        name = me.get("name")
        details["token_owner_id"] = me.get("id")
        if str(me.get("id")) != self.page_id:
            return result(
                False,
                f"Token trong {self.token_env} thuộc về '{name}' (id {me.get('id')}), không phải Trang {self.page_id}"
                " — có thể là token người dùng hoặc token của Trang khác.",
                f"Lấy Page access token của đúng Trang {self.page_id} (GET /{self.page_id}?fields=access_token bằng "
                f"token người dùng dài hạn của quản trị viên Trang) và đặt vào {self.token_env}.",
                name,
            )
        details["page_name"] = name
        problems: list[str] = []
        fixes: list[str] = []
        ok = True

        if self._app_token:
            info = self._debug_token()
            if isinstance(info, ChannelError):
                problems.append(f"debug_token không dùng được: {info.message}")
                fixes.append("Kiểm tra FB_APP_TOKEN (hoặc FB_APP_ID và FB_APP_SECRET) trong tệp .env.")
            else:
                ok, more_problems, more_fixes = self._read_debug_info(info, details)
                problems += more_problems
                fixes += more_fixes
        else:
            details["permissions"] = None
            details["expires"] = "không kiểm tra được"
            details["note"] = ("Đặt FB_APP_TOKEN (hoặc FB_APP_ID và FB_APP_SECRET) để kiểm tra quyền và hạn dùng "
                               "của token qua debug_token.")
        # Reconcile reads published_posts: make sure that works (needs pages_read_engagement).
        try:
            self._call("GET", f"{self.page_id}/published_posts", params={"fields": "id", "limit": 1},
                       need="pages_read_engagement")
            details["can_read_posts"] = True
        except HoldChannel as exc:
            ok = False
            details["can_read_posts"] = False
            problems.append(exc.message)
            fixes.append(exc.fix)
        except ChannelError as exc:
            details["can_read_posts"] = None
            problems.append(f"Chưa đọc thử được bài của Trang: {exc.message}")
        details["verified"] = True
        return result(ok, "; ".join(problems) or None, " ".join(fixes) or None, name)

    def _debug_token(self) -> dict[str, Any] | ChannelError:
        """debug_token of the Page token with the app token, sent in a batch so no token is in a URL."""
        batch = [{"method": "GET", "relative_url": "debug_token?" + urlencode({"input_token": self._token})}]
        try:
            answer = self._call("POST", "", data={"batch": json.dumps(batch), "include_headers": "false"},
                                token=self._app_token)
        except ChannelError as exc:
            return exc
        items = answer.body if isinstance(answer.body, list) else []
        item = items[0] if items else None
        if not isinstance(item, dict):
            return RetryLater("debug_token không trả lời.")
        try:
            body = json.loads(item.get("body") or "null")
        except ValueError:
            body = None
        if item.get("code") != 200:
            return self._classify(int(item.get("code") or 500), body, {}, creates=False, need="pages_show_list")
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else RetryLater("debug_token trả lời không đọc được.")

    def _read_debug_info(self, info: dict[str, Any], details: dict[str, Any]) -> tuple[bool, list[str], list[str]]:
        ok = True
        problems: list[str] = []
        fixes: list[str] = []
        details["token_type"] = info.get("type")
        details["is_valid"] = info.get("is_valid")
        scopes = [str(s) for s in info.get("scopes") or []]
        details["permissions"] = scopes
        missing = [p for p in REQUIRED_PERMISSIONS if p not in scopes]
        details["missing_permissions"] = missing
        expires = _int(info.get("expires_at"))
        details["expires_at"] = _iso(expires) if expires else None
        details["expires"] = "không hết hạn" if not expires else _iso(expires)
        data_expires = _int(info.get("data_access_expires_at"))
        details["data_access_expires_at"] = _iso(data_expires) if data_expires else None
        if info.get("is_valid") is False:
            err = info.get("error") if isinstance(info.get("error"), dict) else {}
            hold = self._token_hold(190, _int(err.get("subcode")), self._scrub(str(err.get("message") or "")))
            return False, [hold.message], [hold.fix]
        if info.get("type") and str(info.get("type")).upper() != "PAGE":
            ok = False
            problems.append(f"Token trong {self.token_env} là token loại {info.get('type')}, không phải Page token.")
            fixes.append(f"Đặt Page access token của Trang {self.page_id} vào {self.token_env}.")
        if info.get("profile_id") and str(info.get("profile_id")) != self.page_id:
            ok = False
            problems.append(f"Token là của Trang {info.get('profile_id')}, không phải Trang {self.page_id}.")
            fixes.append(f"Đặt Page access token của Trang {self.page_id} vào {self.token_env}.")
        if missing:
            ok = False
            problems.append(f"Token thiếu quyền: {', '.join(missing)}.")
            fixes.append(
                f"Cấp quyền {', '.join(missing)} cho ứng dụng, tạo lại Page access token của Trang {self.page_id} "
                f"và đặt vào {self.token_env}."
            )
        soon = time.time() + 7 * 86400
        for label, when in (("token", expires), ("quyền truy cập dữ liệu", data_expires)):
            if when and when < soon:
                problems.append(f"Hạn dùng {label} sắp hết: {_iso(when)}.")
                fixes.append(self._renew_fix(None))
        return ok, problems, fixes

