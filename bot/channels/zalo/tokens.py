"""Zalo: the OA's token chain (single-use refresh tokens, renewed by one process at a time).

See :mod:`bot.channels.zalo.channel` for the whole story of renewal and crashes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests

from bot.channels import NO_HOOKS, HoldChannel, Hooks, RetryLater, fingerprint
from bot.channels.zalo.errors import (
    _REAUTHORIZE,
    ACCESS_TTL_DEFAULT,
    REFRESH_RENEW_BEFORE,
    REFRESH_TTL,
    RENEW_MARGIN_MAX,
    VN,
    _int,
)
from bot.store import tokens as store_tokens
from bot.store.tokens import TokenRow
from bot.vn import ngay_gio

log = logging.getLogger("bot.channels.zalo")

_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


def _local_lock(key: str) -> threading.Lock:
    with _LOCAL_LOCKS_GUARD:
        return _LOCAL_LOCKS.setdefault(key, threading.Lock())


class ZaloTokens:
    """The token chain of one OA, kept in the store (ChannelToken), encrypted, renewed by one process at a time."""

    def __init__(
        self,
        *,
        channel_id: str,
        token_env: str,
        env: dict[str, str],
        store: Any,
        session: requests.Session,
        oauth_base: str,
        timeout: tuple[float, float],
        now: Callable[[], datetime],
        lease: float,
        label: str,
        hooks: Hooks | None = None,
    ) -> None:
        self.channel_id = channel_id
        self.token_env = token_env
        self.env = env
        self.store = store
        self.session = session
        self.oauth_base = oauth_base.rstrip("/")
        self.timeout = timeout
        self.now = now
        self.lease = timedelta(seconds=lease)
        self.label = label
        self.hooks = hooks or NO_HOOKS
        self._box: Any = None
        self.wait_for_other = 15.0  # seconds to wait for another process's renewal before giving up for now

    def __repr__(self) -> str:
        return f"ZaloTokens({self.channel_id})"

    # -- configuration

    def _seed(self) -> str:
        seed = (self.env.get(self.token_env) or "").strip()
        if not seed:
            raise HoldChannel(
                f"{self.label}: chưa đặt refresh token ({self.token_env})",
                fix=_REAUTHORIZE.format(env=self.token_env),
                code="no-token",
            )
        return seed

    def _app(self) -> tuple[str, str]:
        app_id = (self.env.get("ZALO_APP_ID") or "").strip()
        secret = (self.env.get("ZALO_SECRET_KEY") or "").strip()
        if not app_id or not secret:
            missing = " và ".join(n for n, v in (("ZALO_APP_ID", app_id), ("ZALO_SECRET_KEY", secret)) if not v)
            raise HoldChannel(
                f"{self.label}: chưa đặt {missing}",
                fix=f"đặt {missing} (mã và khoá bí mật của ứng dụng trên developers.zalo.me) trong tệp .env",
                code="no-app",
            )
        return app_id, secret

    def box(self) -> Any:
        if self._box is None:
            from bot.secretbox import SecretBoxError, from_env

            try:
                self._box = from_env(self.env)
            except SecretBoxError as exc:
                raise HoldChannel(f"{self.label}: {exc.message}", fix=exc.fix, code="no-secret-key") from None
        return self._box

    def _decrypt(self, ciphertext: str) -> str:
        from bot.secretbox import SecretBoxError

        try:
            return self.box().decrypt(ciphertext)
        except SecretBoxError as exc:
            raise HoldChannel(f"{self.label}: {exc.message}", fix=exc.fix, code="cannot-decrypt") from None

    # -- store access

    def _read(self) -> TokenRow | None:
        return store_tokens.read_token(self.store, self.channel_id)

    def _load_or_seed(self) -> TokenRow:
        """The stored row; created from the seed token, or replaced when the seed in the environment changed."""
        seed = self._seed()
        fp = fingerprint(seed)
        row = self._read()
        if row is not None and row.seed_fingerprint == fp:
            return row
        if row is not None and fp in self._seen_seeds():
            # An older seed than the one the store holds (e.g. a stale .env on another machine): ignore it,
            # or two machines would take turns replacing each other's chain.
            log.warning(
                "%s: %s holds an older refresh token than the store; using the store's", self.label, self.token_env
            )
            return row
        now = self.now()
        enc = self.box().encrypt(seed)
        values = dict(
            access_token_enc=None,
            refresh_token_enc=enc,
            access_expires_at=None,
            refresh_expires_at=now + REFRESH_TTL,
            seed_fingerprint=fp,
            status="ok",
            renewing_since=None,
            updated_at=now,
        )
        action = "zalo.token.seeded" if row is None else "zalo.token.reseeded"
        wrote = store_tokens.seed_token(self.store, self.channel_id, row, values, audit=action, fingerprint=fp)
        if wrote:
            log.info(
                "%s: refresh token taken from %s (%s)", self.label, self.token_env, "new" if row is None else "replaced"
            )
        fresh = self._read()
        assert fresh is not None
        return fresh

    def _seen_seeds(self) -> set[str]:
        """Fingerprints of every seed token this channel has taken (from the audit log)."""
        return store_tokens.seen_seeds(self.store, self.channel_id)

    def _claim(self, seen: TokenRow) -> TokenRow | None:
        """Take the renewal lease: row lock on PostgreSQL, compare-and-set on version everywhere."""
        if not store_tokens.claim_renewal(self.store, self.channel_id, seen.version, self.now()):
            return None
        # read again under the lease: this is the refresh token to use
        row = self._read()
        if row is None or row.version != seen.version + 1 or row.status != "renewing":
            return None
        return row

    def _release(self, claimed: TokenRow) -> None:
        store_tokens.release_renewal(self.store, self.channel_id, claimed.version)

    def _mark_lost(self, claimed: TokenRow, reason: str) -> bool:
        return store_tokens.mark_lost(self.store, self.channel_id, claimed.version, reason)

    def _store_pair(
        self, claimed: TokenRow, access: str, refresh: str | None, expires_in: int, refresh_in: int | None
    ) -> bool:
        """Write the new pair, encrypted, in one transaction that retires the old one."""
        now = self.now()
        box = self.box()
        values: dict[str, Any] = dict(
            access_token_enc=box.encrypt(access),
            access_expires_at=now + timedelta(seconds=expires_in),
            status="ok",
            renewing_since=None,
            updated_at=now,
        )
        if refresh:
            values["refresh_token_enc"] = box.encrypt(refresh)
            values["refresh_expires_at"] = now + (timedelta(seconds=refresh_in) if refresh_in else REFRESH_TTL)
        return store_tokens.store_pair(self.store, self.channel_id, claimed.seed_fingerprint, values)

    # -- policy

    def _margin(self, row: TokenRow) -> timedelta:
        if row.access_expires_at and row.updated_at and row.access_expires_at > row.updated_at:
            life = row.access_expires_at - row.updated_at
            return min(RENEW_MARGIN_MAX, life / 5)
        return RENEW_MARGIN_MAX

    def _usable(self, row: TokenRow, now: datetime) -> bool:
        return bool(
            row.access_token_enc and row.access_expires_at and row.access_expires_at > now + timedelta(seconds=30)
        )

    def _fresh(self, row: TokenRow, now: datetime) -> bool:
        if not self._usable(row, now):
            return False
        assert row.access_expires_at is not None
        if row.access_expires_at - now <= self._margin(row):
            return False
        return not (row.refresh_expires_at and row.refresh_expires_at - now <= REFRESH_RENEW_BEFORE)

    def _lost_hold(self) -> HoldChannel:
        reason = store_tokens.lost_reason(self.store, self.channel_id)
        return HoldChannel(
            f"{self.label}: mất quyền đăng, refresh token không còn dùng được" + (f" ({reason})" if reason else ""),
            fix=_REAUTHORIZE.format(env=self.token_env),
            code="token-lost",
        )

    # -- the one entry point

    def access_token(self, *, refused: str | None = None) -> tuple[str, str]:
        """A valid access token and its stamp (its stored ciphertext); renews it first when needed.

        ``refused``: the stamp of an access token the platform refused (-216/-220): that token is not
        returned again; unless another process already replaced it, it is renewed now.
        """
        with _local_lock(self.channel_id):
            waited = 0.0
            contention = 0
            while contention < 20:
                row = self._load_or_seed()
                now = self.now()
                if row.status == "lost":
                    raise self._lost_hold()
                must_renew = refused is not None and row.access_token_enc == refused
                if not must_renew and self._fresh(row, now):
                    return self._decrypt(row.access_token_enc or ""), row.access_token_enc or ""
                if row.status == "renewing" and row.renewing_since and now - row.renewing_since < self.lease:
                    # Another process renews this OA right now.
                    if not must_renew and self._usable(row, now):
                        return self._decrypt(row.access_token_enc or ""), row.access_token_enc or ""
                    if waited >= self.wait_for_other:
                        left = (row.renewing_since + self.lease - now).total_seconds()
                        raise RetryLater(
                            f"{self.label}: một tiến trình khác đang gia hạn token; thử lại sau",
                            retry_after=max(5.0, left),
                            scope="channel",
                            code="token-renewing",
                        )
                    time.sleep(0.25)
                    waited += 0.25
                    continue
                # A "renewing" row whose lease ran out: the renewer died or lost its answer. Our renewal
                # is then a single probe with the stored refresh token, whose refusal means the chain is lost.
                uncertain = row.status == "renewing"
                self._app()  # configuration problems hold the channel before anything is claimed
                self._decrypt(row.refresh_token_enc or "")
                claimed = self._claim(row)
                if claimed is None:
                    contention += 1
                    continue
                try:
                    return self._renew(claimed, uncertain=uncertain)
                except RetryLater:
                    if not must_renew and self._usable(row, self.now()):
                        log.warning("%s: early renewal postponed; the current access token is still valid", self.label)
                        return self._decrypt(row.access_token_enc or ""), row.access_token_enc or ""
                    raise
            raise RetryLater(
                f"{self.label}: không lấy được token (tranh chấp kéo dài)", retry_after=30, scope="channel"
            )

    def _renew(self, claimed: TokenRow, *, uncertain: bool) -> tuple[str, str]:
        app_id, secret = self._app()
        refresh = self._decrypt(claimed.refresh_token_enc or "")
        unknown_wait = self.lease.total_seconds() + 5
        self.hooks.reached("zalo.renew.before_call")
        log.info("%s: renewing the access token%s", self.label, " (after an interrupted renewal)" if uncertain else "")
        try:
            resp = self.session.post(
                self.oauth_base + "/v4/oa/access_token",
                data={"refresh_token": refresh, "app_id": app_id, "grant_type": "refresh_token"},
                headers={"secret_key": secret, "Content-Type": "application/x-www-form-urlencoded"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
                self._release(claimed)
                raise RetryLater(
                    f"{self.label}: không kết nối được máy chủ cấp token Zalo ({type(exc).__name__})",
                    retry_after=60,
                    scope="channel",
                    code="token-network",
                ) from None
            # The request may have reached Zalo and rotated the token: keep the lease; after it runs out
            # one probe tells whether the stored refresh token still works.
            log.warning(
                "%s: token renewal outcome unknown (%s); not retrying before the lease ends",
                self.label,
                type(exc).__name__,
            )
            raise RetryLater(
                f"{self.label}: không rõ kết quả gia hạn token ({type(exc).__name__}); kiểm tra lại sau",
                retry_after=unknown_wait,
                scope="channel",
                code="token-unknown",
            ) from None
        if resp.status_code == 429:
            self._release(claimed)
            raise RetryLater(
                f"{self.label}: Zalo giới hạn tốc độ khi gia hạn token", retry_after=60, scope="app", code="429"
            )
        body: Any = None
        if resp.content.strip():
            try:
                body = resp.json()
            except ValueError:
                body = None
            if body is None or resp.status_code >= 500:
                log.warning(
                    "%s: token endpoint answered HTTP %s without JSON; outcome unknown", self.label, resp.status_code
                )
                raise RetryLater(
                    f"{self.label}: máy chủ token Zalo lỗi (HTTP {resp.status_code}); kiểm tra lại sau",
                    retry_after=unknown_wait,
                    scope="channel",
                    code="token-unknown",
                )
        if not isinstance(body, dict):
            body = {}
        error = _int(body.get("error"), 0) or 0
        access = body.get("access_token") or ""
        if error == -32:
            self._release(claimed)
            raise RetryLater(
                f"{self.label}: Zalo giới hạn tốc độ (-32) khi gia hạn token", retry_after=60, scope="app", code="-32"
            )
        if error == -14002:
            self._release(claimed)
            raise HoldChannel(
                f"{self.label}: Zalo không nhận ứng dụng (-14002 {body.get('error_name') or ''})".rstrip(),
                fix="kiểm tra ZALO_APP_ID và ZALO_SECRET_KEY trong tệp .env (ứng dụng phải đang hoạt động)",
                code="-14002",
            )
        if error != 0 or not access:
            name = body.get("error_name") or body.get("message") or ("câu trả lời rỗng" if not body else "")
            what = f"{error} {name}".strip() if error else (name or "không có access token")
            if uncertain:
                reason = (
                    "lần gia hạn trước bị gián đoạn sau khi gửi đi: Zalo đã đổi token nhưng câu trả lời bị mất, "
                    f"nên token mới không được lưu; Zalo từ chối token cũ ({what})"
                )
            else:
                reason = f"Zalo từ chối refresh token ({what}): token đã dùng, quá 3 tháng hoặc bị thu hồi"
            self._mark_lost(claimed, reason)
            raise HoldChannel(
                f"{self.label}: {reason}", fix=_REAUTHORIZE.format(env=self.token_env), code=str(error or "empty")
            )
        new_refresh = body.get("refresh_token") or None
        expires_in = _int(body.get("expires_in"), ACCESS_TTL_DEFAULT) or ACCESS_TTL_DEFAULT
        refresh_in = _int(body.get("refresh_token_expires_in"))
        if not new_refresh:
            log.warning(
                "%s: Zalo renewed the access token without a new refresh token; keeping the old one", self.label
            )
        self.hooks.reached("zalo.renew.after_answer")
        if not self._store_pair(claimed, access, new_refresh, expires_in, refresh_in):
            log.warning("%s: a new seed token arrived during the renewal; its answer is discarded", self.label)
            raise RetryLater(
                f"{self.label}: token vừa được thay; thử lại", retry_after=1, scope="channel", code="reseeded"
            )
        self.store.audit("zalo.token.renewed", subject=self.channel_id, rotated=bool(new_refresh))
        self.hooks.reached("zalo.renew.after_store")
        stored = self._read()
        log.info("%s: access token renewed (valid %d h)", self.label, expires_in // 3600)
        return access, (stored.access_token_enc if stored else None) or ""

    def state(self) -> dict[str, Any]:
        """What `campaign-bot channels` shows about the token (never a token)."""
        row = self._read()
        if row is None:
            return {"trạng thái": "chưa dùng lần nào"}
        out: dict[str, Any] = {
            "trạng thái": {"ok": "tốt", "renewing": "đang gia hạn", "lost": "mất, cần cấp quyền lại"}.get(
                row.status, row.status
            )
        }
        if row.access_expires_at:
            out["access token hết hạn"] = ngay_gio(row.access_expires_at, VN)
        if row.refresh_expires_at:
            out["refresh token hết hạn (ước tính)"] = ngay_gio(row.refresh_expires_at, VN)
        out["phiên bản"] = row.version
        return out


def _never_connected(exc: Exception) -> bool:
    """Whether a requests error happened before anything was sent (connection refused, DNS)."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "NameResolutionError", "Connection refused", "ConnectTimeout"))

