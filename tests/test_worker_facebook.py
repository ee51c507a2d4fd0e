"""The worker against the fake Graph API: every error class ends in the right delivery and channel state.

Nothing is lost, nothing is posted twice, and no token leaks into URLs, logs, the store or reports.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.load import load_campaign
from bot.pipeline import tick
from bot.store import AuditLog, ChannelState, Delivery, DeliveryState, open_store
from tests.conftest import REPO
from tests.fakes.graph_server import GraphFake

PAGES = {"tinh": "1001", "huyen-a": "1002", "huyen-b": "1003", "cs-a1": "1004"}
ENV_NAMES = {"tinh": "FB_TOKEN_TINH", "huyen-a": "FB_TOKEN_A", "huyen-b": "FB_TOKEN_B", "cs-a1": "FB_TOKEN_A1"}
T0 = datetime.fromisoformat("2026-11-26T08:00+07:00").astimezone(UTC)


@pytest.fixture
def fake():
    with GraphFake() as server:
        for unit, page in PAGES.items():
            server.add_page(page, f"Trang {unit}")
        yield server


@pytest.fixture
def setup(mini: Path, fake: GraphFake, tmp_path: Path):
    shutil.copytree(REPO / "banners", mini / "banners")
    campaign = load_campaign(mini)
    store = open_store(f"sqlite:///{tmp_path / 'fb.db'}")
    env = {ENV_NAMES[u]: fake.token_for(p) for u, p in PAGES.items()}
    env["GRAPH_API_BASE"] = fake.base_url
    yield campaign, store, env
    store.close()


def states(store) -> dict[str, Delivery]:
    with store.session() as s:
        return {d.channel_id: d for d in s.exec(select(Delivery)).all()}


def channel_state(store, cid: str) -> ChannelState:
    with store.session() as s:
        return s.get(ChannelState, cid)


def test_tick_posts_each_due_delivery_once_with_banner_and_records_post_id(setup, fake) -> None:
    campaign, store, env = setup
    r = tick(campaign, store, env, T0)
    assert r.worker.outcomes["sent"] == 6  # 4 Pages + 2 Zalo channels in the outbox (no Zalo token)
    assert fake.post_counts() == dict.fromkeys(PAGES.values(), 1)
    for page in PAGES.values():
        (photo,) = fake.photos(page)
        assert photo.filename.endswith(".png") and len(photo.data) > 10_000  # the banner
    ds = states(store)
    assert ds["tinh/facebook"].platform_post_id.startswith("1001_")
    assert ds["tinh/zalo"].platform_post_id.startswith("outbox:")
    again = tick(campaign, store, env, T0 + timedelta(minutes=1))
    assert again.worker.outcomes == {} and sum(fake.post_counts().values()) == 4


def test_transient_error_retries_with_backoff_then_sends_once(setup, fake) -> None:
    campaign, store, env = setup
    fake.fail_next(PAGES["huyen-a"], code=2, status=500, is_transient=True)
    tick(campaign, store, env, T0)
    d = states(store)["huyen-a/facebook"]
    # a 500 on a creating call is unclear: the delivery settles in 'sending' (its channel closed to
    # everybody) until the settle window, counted from the answer, has passed; then it is reconciled
    assert d.state == DeliveryState.SENDING and d.needs_check and d.attempts == 1
    assert d.lease_until > T0 + timedelta(seconds=59) and d.next_attempt_at >= d.lease_until
    assert channel_state(store, "huyen-a/facebook").status == "active"
    tick(campaign, store, env, d.next_attempt_at + timedelta(seconds=1))
    assert states(store)["huyen-a/facebook"].state == DeliveryState.SENT
    assert fake.post_count(PAGES["huyen-a"]) == 1


def test_page_rate_limit_pauses_that_channel_only(setup, fake) -> None:
    campaign, store, env = setup
    fake.fail_next(PAGES["huyen-b"], code=32, estimated_minutes=30, endpoint="photos")
    tick(campaign, store, env, T0)
    st = channel_state(store, "huyen-b/facebook")
    assert st.paused_until is not None and st.paused_until >= T0 + timedelta(minutes=29)
    ds = states(store)
    assert ds["huyen-b/facebook"].state == DeliveryState.RETRY
    assert ds["huyen-b/facebook"].attempts == 0  # a pause does not use up the retry budget
    assert all(ds[f"{u}/facebook"].state == DeliveryState.SENT for u in ("tinh", "huyen-a", "cs-a1"))
    tick(campaign, store, env, T0 + timedelta(minutes=10))
    assert fake.post_count(PAGES["huyen-b"]) == 0
    tick(campaign, store, env, T0 + timedelta(minutes=31))
    assert fake.post_count(PAGES["huyen-b"]) == 1


def test_app_rate_limit_pauses_every_facebook_channel_but_not_zalo(setup, fake) -> None:
    campaign, store, env = setup
    fake.fail_next(code=4, estimated_minutes=15, endpoint="photos")
    r = tick(campaign, store, env, T0)
    assert channel_state(store, "app:facebook").paused_until >= T0 + timedelta(minutes=14)
    ds = states(store)
    assert ds["tinh/zalo"].state == DeliveryState.SENT and ds["huyen-b/zalo"].state == DeliveryState.SENT
    assert r.worker.outcomes["paused"] == 1  # the refused one; posts already in flight on other Pages finished
    waiting = [cid for cid, d in ds.items() if d.platform == "facebook" and d.state != DeliveryState.SENT]
    assert waiting
    before = sum(fake.post_counts().values())
    tick(campaign, store, env, T0 + timedelta(minutes=10))  # nothing goes to Facebook while the app is paused
    assert sum(fake.post_counts().values()) == before
    tick(campaign, store, env, T0 + timedelta(minutes=16))
    assert fake.post_counts() == dict.fromkeys(PAGES.values(), 1)


def test_revoked_token_holds_channel_until_a_new_token_is_set(setup, fake, mini: Path) -> None:
    campaign, store, env = setup
    fake.revoke(env["FB_TOKEN_A"], subcode=460)
    r = tick(campaign, store, env, T0)
    st = channel_state(store, "huyen-a/facebook")
    assert st.status == "held" and "FB_TOKEN_A" in st.fix
    assert "huyen-a/facebook" in r.worker.held
    d = states(store)["huyen-a/facebook"]
    assert d.state == DeliveryState.PENDING and d.attempts == 0  # waiting, not lost
    tick(campaign, store, env, T0 + timedelta(hours=2))
    assert states(store)["huyen-a/facebook"].state == DeliveryState.PENDING
    # the staff see the reason and the fix
    (mini / ".env").write_text("", encoding="utf-8")
    # a new token in the environment releases the hold
    new_token = fake.add_page(PAGES["huyen-a"], "Trang huyen-a", token="EAAnewtoken" + "x" * 30)
    env2 = {**env, "FB_TOKEN_A": new_token}
    tick(campaign, store, env2, T0 + timedelta(hours=3))
    assert channel_state(store, "huyen-a/facebook").status == "active"
    assert states(store)["huyen-a/facebook"].state == DeliveryState.SENT
    assert fake.post_count(PAGES["huyen-a"]) == 1


def test_missing_permission_holds_and_names_the_permission(setup, fake) -> None:
    campaign, store, env = setup
    fake.fail_next(PAGES["tinh"], code=200, message="(#200) Requires pages_manage_posts permission", endpoint="photos")
    tick(campaign, store, env, T0)
    st = channel_state(store, "tinh/facebook")
    assert st.status == "held" and "pages_manage_posts" in (st.fix or "") + (st.reason or "")
    assert states(store)["tinh/facebook"].state == DeliveryState.PENDING


def test_rejected_content_fails_that_delivery_with_platform_message(setup, fake) -> None:
    campaign, store, env = setup
    fake.fail_next(PAGES["cs-a1"], code=100, message="(#100) Invalid parameter", endpoint="photos")
    tick(campaign, store, env, T0)
    d = states(store)["cs-a1/facebook"]
    assert d.state == DeliveryState.FAILED and "Invalid parameter" in d.reason
    assert channel_state(store, "cs-a1/facebook").status == "active"


def test_dropped_connection_after_accept_is_reconciled_not_reposted(setup, fake) -> None:
    campaign, store, env = setup
    fake.drop_next(after_accept=True, page_id=PAGES["tinh"], endpoint="photos")
    tick(campaign, store, env, T0)
    d = states(store)["tinh/facebook"]
    assert d.state == DeliveryState.SENDING and d.needs_check  # settling: nobody calls the Page meanwhile
    assert fake.post_count(PAGES["tinh"]) == 1
    tick(campaign, store, env, d.lease_until - timedelta(seconds=1))  # still settling: no read, no post
    assert states(store)["tinh/facebook"].state == DeliveryState.SENDING
    tick(campaign, store, env, d.next_attempt_at + timedelta(seconds=1))
    d = states(store)["tinh/facebook"]
    assert d.state == DeliveryState.SENT and d.extra.get("reconciled")
    assert fake.post_count(PAGES["tinh"]) == 1


def test_retry_budget_ends_in_failed_never_a_silent_drop(setup, fake) -> None:
    campaign, store, env = setup
    fake.fail_next(PAGES["huyen-b"], code=1, status=500, count=100, endpoint="photos", is_transient=False)
    now = T0
    for _ in range(15):
        tick(campaign, store, env, now)
        d = states(store)["huyen-b/facebook"]
        if d.state == DeliveryState.FAILED:
            break
        now = (d.next_attempt_at or now) + timedelta(seconds=1)
    assert d.state == DeliveryState.FAILED and "lần thử" in d.reason
    assert fake.post_count(PAGES["huyen-b"]) == 0


def test_no_token_anywhere(setup, fake, mini: Path, tmp_path: Path, caplog) -> None:
    campaign, store, env = setup
    caplog.set_level(logging.DEBUG)
    fake.revoke(env["FB_TOKEN_B"])
    fake.fail_next(PAGES["tinh"], code=2, status=500, endpoint="photos")
    fake.drop_next(page_id=PAGES["cs-a1"], endpoint="photos")
    for k in range(3):
        tick(campaign, store, env, T0 + timedelta(hours=k))
    runner = CliRunner()
    status = runner.invoke(cli, ["--workspace", str(mini), "status", "--json"], env={"CAMPAIGN_DB_URL": store.url})
    tokens = [env[n] for n in ENV_NAMES.values()]
    haystacks = {
        "request lines": "\n".join(fake.request_lines()),
        "logs": caplog.text,
        "status": status.output,
        "audit": json.dumps([a.detail for a in _all(store, AuditLog)], default=str),
        "database file": (tmp_path / "fb.db").read_bytes().decode("latin-1"),
    }
    for wal in tmp_path.glob("fb.db-*"):
        haystacks[wal.name] = wal.read_bytes().decode("latin-1")
    for name, text in haystacks.items():
        for token in tokens:
            assert token not in text, f"a token leaked into the {name}"


def _all(store, model):
    with store.session() as s:
        return list(s.exec(select(model)).all())


def test_channels_command_shows_page_and_held_channel_with_fix(setup, fake, mini: Path) -> None:
    campaign, store, env = setup
    fake.revoke(env["FB_TOKEN_B"], subcode=463)
    tick(campaign, store, env, T0)
    result = CliRunner().invoke(
        cli, ["--workspace", str(mini), "channels", "--json"], env={**env, "CAMPAIGN_DB_URL": store.url}
    )
    assert result.exit_code == 0, result.output
    rows = {r["channel"]: r for r in json.loads(result.output)}
    assert rows["tinh/facebook"]["ok"] and rows["tinh/facebook"]["account_name"] == "Trang tinh"
    held = rows["huyen-b/facebook"]
    assert held["held"] and "FB_TOKEN_B" in held["fix"]
    assert rows["tinh/zalo"]["mode"] == "outbox"
    for token in (env[n] for n in ENV_NAMES.values()):
        assert token not in result.output
    text = CliRunner().invoke(cli, ["--workspace", str(mini), "channels"], env={**env, "CAMPAIGN_DB_URL": store.url})
    assert "TẠM GIỮ" in text.output and "cách sửa" in text.output


def test_policy_block_fails_the_post_and_rests_the_page(setup, fake) -> None:
    """#368: the one post fails with the platform's message and the Page gets no more posts for a while."""
    campaign, store, env = setup
    fake.fail_next(PAGES["tinh"], code=368, message="(#368) Temporarily blocked for policy violations",
                   endpoint="photos")
    tick(campaign, store, env, T0)
    d = states(store)["tinh/facebook"]
    assert d.state == DeliveryState.FAILED and "368" in d.reason
    st = channel_state(store, "tinh/facebook")
    assert st.paused_until >= T0 + timedelta(hours=5) and "kiểm tra" in st.pause_reason
    assert states(store)["huyen-a/facebook"].state == DeliveryState.SENT  # other Pages go on


def test_engagement_is_read_back_and_stored_with_its_time(setup, fake) -> None:
    from bot.store import Engagement

    campaign, store, env = setup
    tick(campaign, store, env, T0)
    post_id = states(store)["tinh/facebook"].platform_post_id
    fake.set_engagement(post_id, reactions=42, comments=7, shares=3)
    later = T0 + timedelta(hours=7)
    report = tick(campaign, store, env, later)
    assert report.worker.engagement_read >= 1
    (row,) = [e for e in _all(store, Engagement) if e.delivery_id == states(store)["tinh/facebook"].id]
    assert (row.reactions, row.comments, row.shares) == (42, 7, 3)
    assert later <= row.read_at < later + timedelta(seconds=30)  # when the answer came
    tick(campaign, store, env, later + timedelta(hours=1))  # read at most every few hours
    assert len([e for e in _all(store, Engagement) if e.delivery_id == row.delivery_id]) == 1
