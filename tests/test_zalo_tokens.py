"""Zalo tokens: renewal before expiry, single-use refresh tokens, one renewer per OA, crash windows.

The kill tests run the renewal in a separate process (``python -c``) against the fake Zalo and end
that process at each step of the renewal, then let a fresh process carry on from what the store holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from bot.channels import HoldChannel, RetryLater, fingerprint
from bot.secretbox import SecretBox, generate_key
from bot.store import AuditLog, ChannelToken, Store
from tests.failpoints import FAILPOINT_ENV, FAILPOINT_EXIT
from tests.fakes.zalo_server import DAY, OA_ID, FakeZalo, StaticServer, ZaloRig

REPO = Path(__file__).resolve().parent.parent
CHANNEL = "cd-kcn/zalo"
TOKEN_PATH = "/v4/oa/access_token"


@pytest.fixture
def fake() -> Iterator[FakeZalo]:
    with FakeZalo() as f:
        f.clock.set(DAY)
        yield f


@pytest.fixture
def rig(fake: FakeZalo, any_store: Store, tmp_path: Path) -> Iterator[ZaloRig]:
    folder = tmp_path / "www"
    folder.mkdir()
    (tmp_path / "ws").mkdir()
    with StaticServer(folder) as web:
        r = ZaloRig(fake, any_store, tmp_path / "ws", folder, web.base_url)
        r.seed()
        yield r


def token_row(store: Store) -> ChannelToken:
    with store.session() as s:
        row = s.get(ChannelToken, CHANNEL)
    assert row is not None
    return row


def oauth_calls(fake: FakeZalo) -> int:
    return len(fake.calls(TOKEN_PATH))


def wait_for(cond: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- basics


def test_first_use_takes_the_seed_and_stores_only_ciphertext(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    seed = rig.seeds["ZALO_REFRESH_KCN"]
    token, _stamp = ch.tokens.access_token()
    assert token in fake.access_tokens and len(fake.token_grants) == 1
    assert fake.token_grants[0]["old"] == seed and seed not in fake.live_refresh_tokens(OA_ID)
    row = token_row(rig.store)
    box = SecretBox(rig.key)
    assert row.status == "ok" and row.seed_fingerprint == fingerprint(seed)
    assert box.decrypt(row.access_token_enc or "") == token
    assert box.decrypt(row.refresh_token_enc or "") == fake.token_grants[0]["new"]
    assert token not in (row.access_token_enc or "") and fake.token_grants[0]["new"] not in (
        row.refresh_token_enc or ""
    )
    assert row.access_expires_at is not None
    assert abs((row.access_expires_at - (DAY + timedelta(hours=25))).total_seconds()) < 60
    # a second call uses the stored token: no renewal
    assert ch.tokens.access_token()[0] == token and len(fake.token_grants) == 1
    # a fresh channel (another process) reads it from the store
    assert rig.channel().tokens.access_token()[0] == token and len(fake.token_grants) == 1


def test_the_access_token_is_renewed_before_it_expires(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    first, _ = ch.tokens.access_token()
    fake.clock.advance(19 * 3600)
    assert ch.tokens.access_token()[0] == first  # 6 h left: still fresh
    fake.clock.advance(2 * 3600 + 60)  # under 5 h left: renew now, while it still works
    second, _ = ch.tokens.access_token()
    assert second != first and len(fake.token_grants) == 2
    assert fake.token_grants[1]["old"] == fake.token_grants[0]["new"]  # the stored refresh token was used
    assert fake.live_refresh_tokens(OA_ID) == [fake.token_grants[1]["new"]]  # exactly one live refresh token


def test_an_ageing_refresh_token_is_rotated_early(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.tokens.access_token()
    with rig.store.session() as s:
        s.exec(update(ChannelToken).values(refresh_expires_at=fake.clock.now() + timedelta(days=10)))
    ch.tokens.access_token()
    assert len(fake.token_grants) == 2
    assert token_row(rig.store).refresh_expires_at > fake.clock.now() + timedelta(days=80)  # type: ignore[operator]


def test_a_refused_refresh_token_holds_the_channel_and_is_never_sent_again(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.tokens.access_token()
    fake.revoke_all(OA_ID)  # e.g. the admin removed the app's permission
    fake.clock.advance(21 * 3600)
    with pytest.raises(HoldChannel) as info:
        ch.tokens.access_token()
    exc = info.value
    assert "Zalo từ chối refresh token" in exc.message and "-14014" in exc.message
    assert "ZALO_REFRESH_KCN" in exc.fix and "campaign-bot channels" in exc.fix and "cấp quyền lại" in exc.fix
    assert token_row(rig.store).status == "lost"
    calls = oauth_calls(fake)
    for fresh in (ch, rig.channel()):
        with pytest.raises(HoldChannel) as again:
            fresh.tokens.access_token()
        assert "ZALO_REFRESH_KCN" in again.value.fix
    assert oauth_calls(fake) == calls  # the dead token is not tried again


def test_a_new_seed_in_the_environment_replaces_the_lost_chain(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.tokens.access_token()
    fake.revoke_all(OA_ID)
    fake.clock.advance(21 * 3600)
    with pytest.raises(HoldChannel):
        ch.tokens.access_token()
    rig.seed()  # the admin authorized again and put the new refresh token in ZALO_REFRESH_KCN
    fresh = rig.channel()
    token, _ = fresh.tokens.access_token()
    assert token in fake.access_tokens and not fake.access_tokens[token].revoked
    row = token_row(rig.store)
    assert row.status == "ok" and row.seed_fingerprint == fingerprint(rig.seeds["ZALO_REFRESH_KCN"])
    with rig.store.session() as s:
        actions = [a.action for a in s.exec(select(AuditLog).where(AuditLog.subject == CHANNEL)).all()]
    assert "zalo.token.lost" in actions and "zalo.token.reseeded" in actions


def test_an_older_seed_on_another_machine_does_not_replace_the_newer_chain(rig: ZaloRig, fake: FakeZalo) -> None:
    old_seed = rig.seeds["ZALO_REFRESH_KCN"]
    rig.channel().tokens.access_token()
    new_seed = rig.seed()  # re-authorized: machine A has the new seed
    a = rig.channel()
    token_a, _ = a.tokens.access_token()
    b = rig.channel(env={"ZALO_REFRESH_KCN": old_seed})  # machine B still has the first one in its .env
    token_b, _ = b.tokens.access_token()
    assert token_b == token_a and len(fake.token_grants) == 2
    assert token_row(rig.store).seed_fingerprint == fingerprint(new_seed)


@pytest.mark.parametrize("answer", ["json", "empty", "string-code"])
def test_every_shape_of_refusal_is_understood(rig: ZaloRig, fake: FakeZalo, answer: str) -> None:
    ch = rig.channel()
    ch.tokens.access_token()
    fake.reused_refresh_answer = "empty" if answer == "empty" else "json"
    fake.string_error_codes = answer == "string-code"
    fake.revoke_all(OA_ID)
    fake.clock.advance(21 * 3600)
    with pytest.raises(HoldChannel) as info:
        ch.tokens.access_token()
    assert ("câu trả lời rỗng" if answer == "empty" else "-14014") in info.value.message
    assert token_row(rig.store).status == "lost"


def test_an_answer_without_a_new_refresh_token_keeps_the_old_one(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.tokens.access_token()
    fake.rotate_refresh = False
    kept = fake.token_grants[0]["new"]
    fake.clock.advance(21 * 3600)
    ch.tokens.access_token()
    assert SecretBox(rig.key).decrypt(token_row(rig.store).refresh_token_enc or "") == kept
    fake.clock.advance(21 * 3600)
    ch.tokens.access_token()
    assert len(fake.token_grants) == 3 and fake.token_grants[2]["old"] == kept


def test_rate_limit_at_the_token_endpoint_keeps_the_refresh_token(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    fake.fail_next(TOKEN_PATH, error=-32)
    with pytest.raises(RetryLater) as info:
        ch.tokens.access_token()
    assert info.value.scope == "app" and token_row(rig.store).status == "ok"
    assert rig.seeds["ZALO_REFRESH_KCN"] in fake.live_refresh_tokens(OA_ID)
    assert ch.tokens.access_token()[0] in fake.access_tokens


def test_wrong_app_secret_holds_without_losing_the_chain(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel(env={"ZALO_SECRET_KEY": "sai-khoa-bi-mat-cua-ung-dung"})
    with pytest.raises(HoldChannel) as info:
        ch.tokens.access_token()
    assert "-14002" in info.value.message and "ZALO_SECRET_KEY" in info.value.fix
    assert "sai-khoa" not in info.value.message
    assert token_row(rig.store).status == "ok"
    assert rig.channel().tokens.access_token()[0] in fake.access_tokens


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"CAMPAIGN_SECRET_KEY": ""}, "CAMPAIGN_SECRET_KEY"),
        ({"ZALO_APP_ID": ""}, "ZALO_APP_ID"),
        ({"ZALO_SECRET_KEY": ""}, "ZALO_SECRET_KEY"),
        ({"ZALO_REFRESH_KCN": ""}, "ZALO_REFRESH_KCN"),
    ],
)
def test_missing_settings_hold_the_channel(rig: ZaloRig, fake: FakeZalo, env: dict[str, str], needle: str) -> None:
    with pytest.raises(HoldChannel) as info:
        rig.channel(env=env).tokens.access_token()
    assert needle in info.value.message or needle in info.value.fix
    assert not fake.calls(TOKEN_PATH)
    with rig.store.session() as s:
        row = s.get(ChannelToken, CHANNEL)
    assert row is None or row.status == "ok"  # nothing claimed: fixing the setting is enough
    assert rig.channel().tokens.access_token()[0] in fake.access_tokens


def test_a_changed_secret_key_cannot_decrypt_and_says_what_to_do(rig: ZaloRig, fake: FakeZalo) -> None:
    rig.channel().tokens.access_token()
    with pytest.raises(HoldChannel) as info:
        rig.channel(env={"CAMPAIGN_SECRET_KEY": generate_key()}).tokens.access_token()
    assert "CAMPAIGN_SECRET_KEY" in info.value.message and "refresh token mới" in info.value.fix


# ---------------------------------------------------------------------------------------------- outcome unknown


def test_gateway_error_is_unknown_then_one_probe_continues(rig: ZaloRig, fake: FakeZalo) -> None:
    ch = rig.channel()
    ch.tokens.wait_for_other = 0
    fake.fail_next(
        TOKEN_PATH, http_status=504, body=b"<html><body>504 Gateway Timeout</body></html>", content_type="text/html"
    )
    with pytest.raises(RetryLater) as info:
        ch.tokens.access_token()
    assert info.value.code == "token-unknown" and info.value.scope == "channel"
    assert token_row(rig.store).status == "renewing"
    calls = oauth_calls(fake)
    other = rig.channel()
    other.tokens.wait_for_other = 0.5
    with pytest.raises(RetryLater) as waiting:
        other.tokens.access_token()  # inside the lease nobody sends the refresh token again
    assert waiting.value.code == "token-renewing" and oauth_calls(fake) == calls
    fake.clock.advance(121)  # the lease ran out: one probe, and Zalo had not rotated
    token, _ = rig.channel().tokens.access_token()
    assert token in fake.access_tokens and token_row(rig.store).status == "ok"


@pytest.mark.parametrize("fault", [{"drop": "after"}, {"delay": 1.2}], ids=["dropped-after-rotation", "slow-answer"])
def test_rotated_but_answer_lost_is_the_unclosable_window(rig: ZaloRig, fake: FakeZalo, fault: dict) -> None:
    ch = rig.channel(env={"ZALO_TIMEOUT": "0.5"})
    fake.fail_next(TOKEN_PATH, **fault)
    with pytest.raises(RetryLater) as info:
        ch.tokens.access_token()
    assert info.value.code == "token-unknown"
    wait_for(lambda: len(fake.token_grants) == 1)  # Zalo did rotate
    fake.clock.advance(121)
    with pytest.raises(HoldChannel) as held:
        rig.channel().tokens.access_token()
    assert "câu trả lời bị mất" in held.value.message and "ZALO_REFRESH_KCN" in held.value.fix
    assert token_row(rig.store).status == "lost"
    calls = oauth_calls(fake)
    with pytest.raises(HoldChannel):
        rig.channel().tokens.access_token()
    assert oauth_calls(fake) == calls  # held, never retried blindly


def test_connection_refused_is_not_an_unknown_outcome(rig: ZaloRig, fake: FakeZalo) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ch = rig.channel(env={"ZALO_OAUTH_BASE": f"http://127.0.0.1:{port}"})
    with pytest.raises(RetryLater) as info:
        ch.tokens.access_token()
    assert info.value.code == "token-network" and token_row(rig.store).status == "ok"


# ---------------------------------------------------------------------------------------------- one renewer


def test_threads_renew_once(rig: ZaloRig, fake: FakeZalo) -> None:
    channels = [rig.channel() for _ in range(6)]
    results: list[str] = []
    errors: list[BaseException] = []

    def work(ch: Any) -> None:
        try:
            results.append(ch.tokens.access_token()[0])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in channels]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(set(results)) == 1 and len(fake.token_grants) == 1


CHILD = r"""
import json, os, sys
from datetime import datetime
from pathlib import Path
from bot.channels import ChannelContext, ChannelError, fingerprint
from bot.channels.zalo import ZaloChannel
from bot.store import Channel, ChannelToken, open_store
from tests.failpoints import from_env

cfg = json.loads(os.environ["ZALO_CHILD"])
store = open_store(cfg["url"])
row = Channel(id=cfg["channel"], unit_id="cd-kcn", platform="zalo", account_id=cfg["oa"],
              token_env="ZALO_REFRESH_KCN", broadcast=False)
ch = ZaloChannel(row, ChannelContext(Path(cfg["workspace"]), store, cfg["env"], None, hooks=from_env()))
now = datetime.fromisoformat(cfg["now"])
ch.now = lambda: now
try:
    refused = None
    if cfg["action"] == "renew":
        with store.session() as s:
            t = s.get(ChannelToken, cfg["channel"])
            refused = t.access_token_enc if t is not None else None
    print("started", flush=True)
    token, _stamp = ch.tokens.access_token(refused=refused)
    info = ch._oa_info(fresh=True)
    print(json.dumps({"ok": True, "token": fingerprint(token), "oa": info.name}), flush=True)
except ChannelError as exc:
    print(json.dumps({"ok": False, "kind": type(exc).__name__, "message": exc.message,
                      "fix": getattr(exc, "fix", None), "code": exc.code}), flush=True)
"""


def child(rig: ZaloRig, action: str, *, now: datetime, failpoint: str | None = None) -> subprocess.Popen[str]:
    cfg = {
        "url": rig.store.url,
        "channel": CHANNEL,
        "oa": OA_ID,
        "workspace": str(rig.workspace),
        "env": rig.fake.env(CAMPAIGN_SECRET_KEY=rig.key, ZALO_TIMEOUT="5", **rig.seeds),
        "now": now.isoformat(),
        "action": action,
    }
    env = {**os.environ, "ZALO_CHILD": json.dumps(cfg), "PYTHONPATH": str(REPO)}
    env.pop(FAILPOINT_ENV, None)
    if failpoint:
        env[FAILPOINT_ENV] = failpoint
    return subprocess.Popen(
        [sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )


def result(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, f"rc={proc.returncode}\n{out}\n{err}"
    return json.loads(lines[-1])


def test_processes_renew_one_at_a_time(rig: ZaloRig, fake: FakeZalo) -> None:
    """Several processes need a token at once: the lock lets one renew; the others read its result."""
    now = fake.clock.now()
    procs = [child(rig, "token", now=now) for _ in range(4)]
    results = [result(p) for p in procs]
    assert all(r["ok"] for r in results), results
    assert len({r["token"] for r in results}) == 1
    assert len(fake.token_grants) == 1 and token_row(rig.store).status == "ok"


def _prime(rig: ZaloRig, fake: FakeZalo) -> datetime:
    """A channel that already renewed once; returns the time its next renewal is due."""
    rig.channel().tokens.access_token()
    return fake.clock.now() + timedelta(hours=21)


def test_killed_before_the_call_a_fresh_process_continues(rig: ZaloRig, fake: FakeZalo) -> None:
    due = _prime(rig, fake)
    proc = child(rig, "token", now=due, failpoint="zalo.renew.before_call")
    proc.communicate(timeout=60)
    assert proc.returncode == FAILPOINT_EXIT
    assert len(fake.token_grants) == 1 and token_row(rig.store).status == "renewing"
    # a fresh process after the dead one's lease: one probe with the stored token, which Zalo never saw
    fake.clock.set(due + timedelta(seconds=130))
    r = result(child(rig, "token", now=due + timedelta(seconds=130)))
    assert r["ok"] and r["oa"] == "Công đoàn các Khu công nghiệp"
    assert len(fake.token_grants) == 2 and token_row(rig.store).status == "ok"


def test_killed_while_the_platform_answers_the_channel_is_held(rig: ZaloRig, fake: FakeZalo) -> None:
    due = _prime(rig, fake)
    fake.fail_next(TOKEN_PATH, hold=True)  # Zalo rotates, then the answer is on its way…
    proc = child(rig, "token", now=due)
    assert fake.held.wait(30)
    assert len(fake.token_grants) == 2  # rotated on the platform
    proc.send_signal(signal.SIGKILL)  # …when the process dies
    proc.wait(30)
    fake.release.set()
    assert token_row(rig.store).status == "renewing"
    later = due + timedelta(seconds=130)
    fake.clock.set(later)
    r = result(child(rig, "token", now=later))
    assert not r["ok"] and r["kind"] == "HoldChannel"
    assert "câu trả lời bị mất" in r["message"] and "ZALO_REFRESH_KCN" in r["fix"]
    calls = oauth_calls(fake)
    r2 = result(child(rig, "token", now=later))
    assert r2["kind"] == "HoldChannel" and oauth_calls(fake) == calls  # never retried with the dead token


def test_killed_after_the_answer_before_storing_the_channel_is_held(rig: ZaloRig, fake: FakeZalo) -> None:
    due = _prime(rig, fake)
    proc = child(rig, "token", now=due, failpoint="zalo.renew.after_answer")
    proc.communicate(timeout=60)
    assert proc.returncode == FAILPOINT_EXIT and len(fake.token_grants) == 2
    later = due + timedelta(seconds=130)
    fake.clock.set(later)
    r = result(child(rig, "token", now=later))
    assert r["kind"] == "HoldChannel" and "câu trả lời bị mất" in r["message"]
    assert token_row(rig.store).status == "lost"
    # the staff put a new seed token: the channel works again
    rig.seed()
    r = result(child(rig, "token", now=later))
    assert r["ok"]


def test_killed_after_storing_a_fresh_process_uses_the_new_pair(rig: ZaloRig, fake: FakeZalo) -> None:
    due = _prime(rig, fake)
    proc = child(rig, "token", now=due, failpoint="zalo.renew.after_store")
    proc.communicate(timeout=60)
    assert proc.returncode == FAILPOINT_EXIT and len(fake.token_grants) == 2
    assert token_row(rig.store).status == "ok"
    fake.clock.set(due)
    r = result(child(rig, "token", now=due))
    assert r["ok"] and r["token"] == fingerprint(fake.token_grants[1]["access"])
    assert len(fake.token_grants) == 2  # no renewal needed
    r = result(child(rig, "renew", now=due))  # and the stored refresh token is the live one
    assert r["ok"] and len(fake.token_grants) == 3
    assert fake.token_grants[2]["old"] == fake.token_grants[1]["new"]
