"""Zalo Official Account: what the platform is, declared once (see :mod:`bot.channels.spec`).

The error table is built from the same dictionaries :func:`bot.channels.zalo.errors.classify` applies,
so the registry and the channel cannot disagree.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from bot.channels.spec import ErrorRule, ErrorTable, Limits, Outcome, PlatformSpec, register
from bot.channels.zalo.errors import (
    ARTICLE_QUOTA_WAIT,
    DESCRIPTION_MAX,
    HOLD_ERRORS,
    REJECT_ERRORS,
    RETRY_ERRORS,
    TITLE_MAX,
)


class ZaloAccount(BaseModel):
    """The account fields of a ``platform: zalo`` channel in config/units.yaml."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    oa_id: str
    broadcast: bool = False

    @field_validator("oa_id", mode="before")
    @classmethod
    def _oa_id(cls, value: object) -> str:
        if value is None or value == "":
            raise ValueError('kênh zalo thiếu oa_id | fix: thêm oa_id: "<mã OA>" (ghi trong dấu ngoặc kép)')
        if not isinstance(value, str):
            raise ValueError('oa_id phải là chuỗi | fix: ghi mã OA trong dấu ngoặc kép, ví dụ oa_id: "4318527600000000001"')
        if not re.fullmatch(r"[0-9]{1,64}", value):
            raise ValueError(
                f"oa_id '{value[:64]}' không phải mã OA (chỉ gồm chữ số) | fix: mở oa.zalo.me → Quản lý → "
                "Thông tin OA, chép 'OA ID'"
            )
        return value


def _rules() -> tuple[ErrorRule, ...]:
    rules: list[ErrorRule] = [
        ErrorRule(code, Outcome.HOLD, note=problem) for code, (problem, _fix) in HOLD_ERRORS.items()
    ]
    rules += [ErrorRule(-216, Outcome.HOLD, note="access token không hợp lệ (đã thử gia hạn một lần)"),
              ErrorRule(-220, Outcome.HOLD, note="access token hết hạn (đã thử gia hạn một lần)"),
              ErrorRule(-223, Outcome.PAUSE, match="quota", scope="channel", wait=ARTICLE_QUOTA_WAIT,
                        note="hết lượt đăng bài của gói tháng")]
    rules += [ErrorRule(code, Outcome.REJECT, note="Zalo từ chối bài") for code in sorted(REJECT_ERRORS)]
    rules += [ErrorRule(code, Outcome.PAUSE if scope != "delivery" or wait >= 3600 else Outcome.RETRY,
                        scope=scope, wait=wait, note="thử lại sau")
              for code, (scope, wait) in RETRY_ERRORS.items()]
    return tuple(rules)


ERRORS = ErrorTable(_rules())

SPEC = register(PlatformSpec(
    name="zalo",
    label="Zalo OA",
    account=ZaloAccount,
    account_field="oa_id",
    account_label="OA",
    channel="bot.channels.zalo.channel:ZaloChannel",
    secret_env=("ZALO_SECRET_KEY",),
    limits=Limits(
        title_max=TITLE_MAX,
        text_max=None,  # the article body has no documented limit; the description is cut to DESCRIPTION_MAX
        images_min=1,  # the cover
        in_flight=1,
        edit=frozenset({"text", "images"}),
        remove=True,
        engagement=frozenset({"views", "shares"}),
    ),
    errors=ERRORS,
    url_scheme="zalo",
    notes=f"Open API v2.0; refresh token đầu tiên trong token_env, ZALO_APP_ID và ZALO_SECRET_KEY; "
          f"mô tả bài ≤ {DESCRIPTION_MAX} ký tự.",
), replace=True)
