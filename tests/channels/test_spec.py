"""The platform registry (bot.channels.spec): declared specs, the outbox rule, the scrubber, describe()."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from bot.channels import RetryLater, spec
from bot.channels.facebook.spec import POLICY_BLOCK_REST


@dataclass
class Row:
    platform: str
    account_id: str | None
    token_env: str | None
    unit_id: str = "ldld-tinh"
    id: str = "ldld-tinh/facebook"


def test_builtin_platforms_are_registered_with_labels() -> None:
    assert spec.names() == ("facebook", "zalo")
    assert spec.labels() == {"facebook": "Trang Facebook", "zalo": "Zalo OA"}
    fb = spec.get("facebook")
    assert fb.account_field == "page_id" and "FB_APP_SECRET" in fb.secret_env
    assert spec.get("zalo").account_field == "oa_id" and spec.get("zalo").limits.images_min == 1


def test_unknown_platform_names_the_choices() -> None:
    with pytest.raises(spec.UnknownPlatform) as info:
        spec.get("tiktok")
    assert "tiktok" in str(info.value) and "facebook, zalo" in str(info.value)


def test_account_fields_are_checked_in_vietnamese() -> None:
    assert spec.get("facebook").validate_account({"page_id": "1001"}).page_id == "1001"  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as info:
        spec.get("facebook").validate_account({"page_id": "trang-ldld"})
    assert "không phải mã Trang" in str(info.value) and "fix:" in str(info.value)
    with pytest.raises(ValidationError) as info:
        spec.get("zalo").validate_account({})
    assert "oa_id" in str(info.value)


def test_outbox_or_live_is_one_rule() -> None:
    env = {"FB_TOKEN_TINH": "EAAB" + "x" * 40, "EMPTY": ""}
    assert spec.is_live("FB_TOKEN_TINH", env)
    assert not spec.is_live("EMPTY", env) and not spec.is_live(None, env) and not spec.is_live("UNSET", env)
    assert spec.uses_outbox(Row("facebook", "1001", "EMPTY"), env)
    assert not spec.uses_outbox(Row("facebook", "1001", "FB_TOKEN_TINH"), env)


def test_scrub_removes_every_known_secret_and_token_like_query_values() -> None:
    token = "EAAB" + "s3cr3t" * 8
    env = {"FB_TOKEN_TINH": token, "FB_APP_SECRET": "appsecret123", "ZALO_SECRET_KEY": "zk", "OTHER": "visible"}
    values = spec.secret_values(env, ["FB_TOKEN_TINH"])
    assert values == [token, "appsecret123"]  # longest first; too short to scrub safely is left out
    text = f"lỗi {token} và appsecret123 tại https://x/?access_token=abcdef&x=1 visible"
    out = spec.scrub(text, values)
    assert token not in out and "appsecret123" not in out and "abcdef" not in out
    assert "access_token=****" in out and "visible" in out
    assert spec.scrub("Authorization: Bearer EAABzzzz1234567890") == "Authorization: Bearer ****"
    assert len(spec.scrub("a" * 5000, [])) == spec.SCRUB_LIMIT


def test_describe_masks_the_token_unless_asked() -> None:
    token = "EAAB" + "q" * 30 + "WXYZ"
    row = Row("facebook", "1001", "FB_TOKEN_TINH")
    shown = spec.describe(row, {"FB_TOKEN_TINH": token})
    assert token not in shown and "…WXYZ" in shown and "facebook://1001" in shown and "Trang Facebook" in shown
    assert token in spec.describe(row, {"FB_TOKEN_TINH": token}, privacy=False)
    assert "outbox" in spec.describe(row, {})


def test_policy_block_rest_comes_from_the_error_table() -> None:
    fb = spec.get("facebook")
    assert fb.rest_after(RetryLater("x", code="368")) == POLICY_BLOCK_REST
    assert fb.rest_after(RetryLater("x", code="506")) is None
    assert fb.errors.lookup(100, None, "Invalid appsecret_proof").outcome is spec.Outcome.HOLD
    assert fb.errors.lookup(100, None, "bad parameter").outcome is spec.Outcome.REJECT


def test_a_plugin_registers_without_touching_bot() -> None:
    from pydantic import BaseModel

    class Acc(BaseModel):
        site_id: str

    fake = spec.PlatformSpec(name="webtest", label="Trang web thử", account=Acc, account_field="site_id",
                             channel=lambda row, ctx: ("opened", row), secret_env=("WEBTEST_SECRET",))
    spec.register(fake)
    try:
        assert "webtest" in spec.names() and "WEBTEST_SECRET" in spec.secret_names()
        assert spec.get("webtest").open(Row("webtest", "s1", "T"), None)[0] == "opened"  # type: ignore[arg-type,index]
        with pytest.raises(ValueError):
            spec.register(spec.PlatformSpec(name="webtest", label="x", account=Acc, account_field="site_id",
                                            channel=lambda r, c: None))
    finally:
        spec.unregister("webtest")
    assert "webtest" not in spec.names()
