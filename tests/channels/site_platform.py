"""A third platform defined only in the test suite: a website CMS (tests/fakes/site_server.py).

It is one module: the spec (account fields, secrets, limits, error table) registered through
:func:`bot.channels.spec.register`, and the channel. Nothing under ``bot/`` knows about it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests
from pydantic import BaseModel, field_validator

from bot.channels import (
    ChannelCheck,
    ChannelContext,
    EngagementReading,
    HoldChannel,
    Post,
    PostState,
    Published,
    Rejected,
    RetryLater,
    spec,
)


class SiteAccount(BaseModel):
    site_id: str

    @field_validator("site_id")
    @classmethod
    def _site(cls, value: str) -> str:
        if not value.isascii() or not value:
            raise ValueError("site_id không hợp lệ | fix: ghi tên miền của trang, ví dụ congdoan.example.vn")
        return value


Out = spec.Outcome
ERRORS = spec.ErrorTable((
    spec.ErrorRule(401, Out.HOLD, key="401", note="token không còn dùng được"),
    spec.ErrorRule(403, Out.HOLD, key="403", note="thiếu quyền ghi"),
    spec.ErrorRule(409, Out.DUPLICATE, key="409", note="bài đã có"),
    spec.ErrorRule(422, Out.REJECT, key="422", note="nội dung không hợp lệ"),
    spec.ErrorRule(429, Out.PAUSE, scope="channel", wait=60.0, key="429", note="gọi quá nhanh"),
    spec.ErrorRule(500, Out.RETRY, key="500", note="lỗi tạm thời"),
))


class SiteChannel:
    platform: ClassVar[str] = "site"

    def __init__(self, row: Any, ctx: ChannelContext) -> None:
        self.row = row
        self.env = ctx.env
        self.base = ctx.env["SITE_BASE"].rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {ctx.env.get(row.token_env, '')}"

    def __str__(self) -> str:
        return spec.describe(self.row, self.env)

    def _call(self, method: str, path: str, *, creates: bool = False, **kw: Any) -> Any:
        try:
            resp = self.http.request(method, self.base + path, timeout=(3, 10), **kw)
        except requests.ConnectionError as exc:
            raise RetryLater(f"mất kết nối tới trang web ({type(exc).__name__})", maybe_sent=creates,
                             in_flight=True, code="connection") from None
        if resp.status_code < 400:
            return resp.json()
        rule = ERRORS.lookup(resp.status_code) or ERRORS.lookup(500)
        assert rule is not None
        said = f"trang web trả lời HTTP {resp.status_code}"
        if rule.outcome is Out.HOLD:
            raise HoldChannel(said, fix=f"đặt token mới có quyền ghi vào {self.row.token_env}", code=rule.key)
        if rule.outcome is Out.PAUSE:
            wait = float(resp.headers.get("Retry-After") or rule.wait or 60)
            raise RetryLater(said, scope=rule.scope, retry_after=wait, code=rule.key)
        if rule.outcome is Out.REJECT:
            raise Rejected(said, code=rule.key)
        if rule.outcome is Out.DUPLICATE:
            raise Rejected(said, code="409")
        raise RetryLater(said, maybe_sent=creates, code=rule.key)

    def _key(self, post: Post) -> str:
        return f"{post.content_id}#{post.delivery_id}"

    def publish(self, post: Post) -> Published:
        try:
            answer = self._call("POST", "/api/posts", creates=True,
                                json={"title": post.title, "text": post.text, "key": self._key(post)})
        except Rejected as exc:
            if exc.code != "409":
                raise
            found = self.find_existing(post)
            if found is None:
                raise
            return found
        return Published(post_id=str(answer["id"]))

    def find_existing(self, post: Post) -> Published | None:
        data = self._call("GET", "/api/posts", params={"key": self._key(post)})["data"]
        return Published(post_id=str(data[0]["id"])) if data else None

    def edit(self, post_id: str, post: Post) -> Published:
        self._call("PATCH", f"/api/posts/{post_id}", json={"title": post.title, "text": post.text})
        return Published(post_id=post_id)

    def remove(self, post_id: str) -> bool:
        self._call("DELETE", f"/api/posts/{post_id}")
        return True

    def current(self, post_id: str, post: Post | None = None) -> PostState:
        data = self._call("GET", f"/api/posts/{post_id}")
        return PostState(exists=True, matches=None if post is None else data["text"] == post.text)

    def check(self) -> ChannelCheck:
        return ChannelCheck(channel_id=self.row.id, platform=self.platform, ok=True)

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        return {}

    def close(self) -> None:
        self.http.close()


SPEC = spec.PlatformSpec(
    name="site",
    label="Trang web",
    account=SiteAccount,
    account_field="site_id",
    account_label="trang web",
    channel=SiteChannel,
    secret_env=(),
    limits=spec.Limits(text_max=50_000, in_flight=1, edit=frozenset({"text"}), remove=True),
    errors=ERRORS,
    url_scheme="site",
)
