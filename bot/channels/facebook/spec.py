"""Facebook Page: what the platform is, declared once (see :mod:`bot.channels.spec`).

Imported by the registry without the HTTP client, so the loader can validate ``page_id`` cheaply.
The error table below is what :mod:`bot.channels.facebook.errors` applies; the facts behind each row
are in that module's header and in docs/api-facts.md.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from bot.channels.spec import ErrorRule, ErrorTable, Limits, Outcome, PlatformSpec, register

# A Page rests this long after a real policy block (#368 that is neither "too fast" nor a duplicate):
# posting again at once would deepen the block, and a person must look at the Page first.
POLICY_BLOCK_REST = 6 * 3600.0
# 368/1390008 "posting too fast": the Page pauses this long, then goes on (no person needed).
TOO_FAST_PAUSE = 900.0
TEXT_MAX = 63206
# ChannelError codes that mean "the platform already has this": the Page is searched, and the post counted once.
DUPLICATE_KEYS = frozenset({"506", "368/duplicate"})


class FacebookAccount(BaseModel):
    """The account fields of a ``platform: facebook`` channel in config/units.yaml."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    page_id: str

    @field_validator("page_id", mode="before")
    @classmethod
    def _page_id(cls, value: object) -> str:
        if value is None or value == "":
            raise ValueError('kênh facebook thiếu page_id | fix: thêm page_id: "<mã Trang>" (ghi trong dấu ngoặc kép)')
        if not isinstance(value, str):
            raise ValueError('page_id phải là chuỗi | fix: ghi mã Trang trong dấu ngoặc kép, ví dụ page_id: "1000642873"')
        if not re.fullmatch(r"[0-9]{1,64}", value):
            raise ValueError(
                f"page_id '{value[:64]}' không phải mã Trang (chỉ gồm chữ số) | fix: mở Trang → Giới thiệu → "
                "Minh bạch Trang, chép 'ID Trang' (ví dụ \"1000642873\")"
            )
        return value


R, P, H, J, D = Outcome.RETRY, Outcome.PAUSE, Outcome.HOLD, Outcome.REJECT, Outcome.DUPLICATE

ERRORS = ErrorTable((
    ErrorRule(1, R, note="lỗi tạm thời của API"),
    ErrorRule(2, R, note="dịch vụ tạm không dùng được"),
    ErrorRule(4, P, scope="app", wait=900.0, note="ứng dụng chạm giới hạn số lần gọi"),
    ErrorRule(341, P, scope="app", wait=900.0, note="ứng dụng chạm giới hạn"),
    ErrorRule(17, P, scope="channel", wait=900.0, note="người dùng chạm giới hạn số lần gọi"),
    ErrorRule(32, P, scope="channel", wait=3600.0, note="Trang chạm giới hạn số lần gọi"),
    ErrorRule(613, P, scope="channel", wait=3600.0, note="gọi quá nhanh"),
    *(ErrorRule(c, P, scope="channel", wait=3600.0, note="giới hạn Business Use Case")
      for c in range(80000, 80015)),
    ErrorRule(190, H, note="token hết hạn, bị thu hồi hoặc không hợp lệ"),
    ErrorRule(102, H, note="phiên không hợp lệ"),
    ErrorRule(104, H, note="thiếu hoặc sai chữ ký truy cập"),
    ErrorRule(3, H, note="ứng dụng thiếu quyền"),
    ErrorRule(10, H, note="thiếu quyền"),
    *(ErrorRule(c, H, note="thiếu quyền") for c in range(200, 300)),
    ErrorRule(2635, H, key="2635", note="phiên bản Graph API đã ngừng"),
    ErrorRule(100, J, note="tham số không hợp lệ"),
    ErrorRule(100, H, match="appsecret_proof", key="appsecret_proof", note="appsecret_proof sai"),
    ErrorRule(324, J, note="ảnh thiếu hoặc không hợp lệ"),
    ErrorRule(1609005, J, note="liên kết không đăng được"),
    ErrorRule(506, D, key="506", note="trùng nội dung một bài vừa đăng"),
    ErrorRule(368, J, rest=POLICY_BLOCK_REST, key="368", note="Trang bị chặn tạm vì nghi vi phạm chính sách"),
    ErrorRule(368, P, subcode=1390008, scope="channel", wait=TOO_FAST_PAUSE, key="368/1390008",
              note="đăng quá nhanh: tạm dừng Trang rồi đăng tiếp"),
    ErrorRule(368, D, match="already posted", key="368/duplicate",
              note="“You've already posted this”: tìm bài trên Trang như #506"),
))


SPEC = register(PlatformSpec(
    name="facebook",
    label="Trang Facebook",
    account=FacebookAccount,
    account_field="page_id",
    account_label="Trang",
    channel="bot.channels.facebook.channel:FacebookChannel",
    secret_env=("FB_APP_SECRET", "FB_APP_TOKEN"),
    limits=Limits(
        text_max=TEXT_MAX,
        in_flight=1,
        edit=frozenset({"text"}),
        remove=True,
        engagement=frozenset({"reactions", "comments", "shares"}),
    ),
    errors=ERRORS,
    url_scheme="facebook",
    notes="Graph API, Page access token trong biến token_env; FB_APP_SECRET tuỳ chọn (appsecret_proof).",
), replace=True)
