"""Zalo Official Account: every story becomes an OA article, broadcast to followers where enabled.

Declarative header (what this channel needs, what it may do, what is secret):

    platform     zalo
    config       config/units.yaml: ``oa_id`` (row.account_id), ``token_env``, ``broadcast`` (bool)
    environment  ZALO_APP_ID                 the app's id
                 ZALO_SECRET_KEY        [secret]  the app's secret key (sent only to the OAuth host, header ``secret_key``)
                 <token_env>            [secret]  the OA's FIRST refresh token (a "seed"; a new value replaces the chain)
                 CAMPAIGN_SECRET_KEY    [secret]  encrypts the rotating tokens in the store (bot.secretbox)
                 ZALO_OPENAPI_BASE      default https://openapi.zalo.me
                 ZALO_OAUTH_BASE        default https://oauth.zaloapp.com
                 ZALO_TIMEOUT           seconds per HTTP call, default 30
                 ZALO_RENEW_LEASE       seconds one process may hold a renewal, default 120
    secrets      the refresh token and every access token: header ``access_token`` only, never a URL, a log
                 line, an exception text or a clear-text column (ChannelToken.*_enc are Fernet ciphertexts)
    tokens       access token 25 h, renewed when less than min(5 h, 20 %) of its life is left; refresh token
                 3 months and SINGLE-USE: the new pair is stored (encrypted, one transaction that retires the
                 old) before the new access token is used; one process renews an OA at a time (lease on the
                 ChannelToken row, taken with SELECT … FOR UPDATE on PostgreSQL and an atomic compare-and-set
                 UPDATE everywhere; the row is read again under it)
    limits       title ≤ 150, author ≤ 50, description ≤ 300 characters (NFC); images by public URL, ≤ 1 MB
                 (bot.media publishes them); 4,000 requests/min per app (-32)
    quotas       articles per package month (-223 "limit quota create article": the delivery waits);
                 broadcast only for verified OAs (-221), never 22:00–06:00 Vietnam time (-234), OA monthly
                 allowance (-211), each follower 1 a day and 4–6 a month (-218): all of these WAIT, never fail
    engagement   views and shares per article (article/getslice ``total_view``/``total_share``); no reactions
                 or comments in the API

Publishing is several platform steps (create → verify → broadcast). What is done is handed back to
the worker in ``ChannelError.progress`` and arrives again in ``Post.progress`` (keys ``article_token``,
``article_id``, ``article_url``), so a later attempt resumes where the last stopped and never creates
the article twice. Before creating, publish also looks for the article among the OA's recent ones (same
title, created after the delivery's first attempt), which closes the crash window between "created"
and "progress saved". A RetryLater that is a planned wait (night, quota, still processing) carries
``wait = True``: it is not a failed attempt.

Token renewal and crashes: the lease is written before the refresh call. A process that dies before
the call, or after storing the new pair, leaves an OA that the next process simply uses. A renewal whose
answer was lost (timeout, dropped connection, a process killed while Zalo answered) is "outcome unknown":
nobody sends that refresh token again until the lease ends; then one probe tells. If Zalo had not
rotated, the probe renews and the OA goes on; if it had, the probe is refused and the channel is held
("lost") with instructions to authorize the OA again: no client can close that window, and the dead
token is never sent again. A new seed in <token_env> (a new fingerprint) starts a new chain.
"""

from __future__ import annotations

import html
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.channels import (
    ChannelCheck,
    ChannelContext,
    ChannelError,
    EngagementReading,
    HoldChannel,
    Post,
    PostState,
    Published,
    Rejected,
    RetryLater,
    fingerprint,
    mask,
)
from bot.store import AuditLog, ChannelToken
from bot.store import Channel as ChannelRow
from bot.vn import nfc, ngay_gio

log = logging.getLogger(__name__)

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

# Test hook: a process whose environment names one of these steps ends itself there (os._exit),
# so tests can show what a crash at that point of a token renewal leaves behind.
FAILPOINT_ENV = "CAMPAIGN_BOT_FAILPOINT"
FAILPOINTS = (
    "zalo.renew.before_call",
    "zalo.renew.after_answer",
    "zalo.renew.after_store",
    "zalo.publish.after_create",
)
FAILPOINT_EXIT = 86


def _failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        logging.shutdown()
        os._exit(FAILPOINT_EXIT)


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


class ZaloApiError(Exception):
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


# ---------------------------------------------------------------------------------------------
# Tokens

_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


def _local_lock(key: str) -> threading.Lock:
    with _LOCAL_LOCKS_GUARD:
        return _LOCAL_LOCKS.setdefault(key, threading.Lock())


@dataclass(frozen=True)
class _Row:
    """A snapshot of a ChannelToken row (detached from any session)."""

    access_token_enc: str | None
    refresh_token_enc: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    seed_fingerprint: str | None
    version: int
    status: str
    renewing_since: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, t: ChannelToken) -> _Row:
        return cls(
            t.access_token_enc,
            t.refresh_token_enc,
            _aware(t.access_expires_at),
            _aware(t.refresh_expires_at),
            t.seed_fingerprint,
            t.version,
            t.status,
            _aware(t.renewing_since),
            _aware(t.updated_at),
        )


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

    def _read(self) -> _Row | None:
        with self.store.session() as s:
            t = s.get(ChannelToken, self.channel_id)
            return _Row.of(t) if t is not None else None

    def _load_or_seed(self) -> _Row:
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
        wrote = False
        try:
            with self.store.session() as s:
                if row is None:
                    s.add(ChannelToken(channel_id=self.channel_id, version=1, **values))
                    wrote = True
                else:
                    res = s.exec(
                        update(ChannelToken)
                        .where(ChannelToken.channel_id == self.channel_id, ChannelToken.version == row.version)
                        .values(version=row.version + 1, **values)
                    )
                    wrote = res.rowcount == 1
        except IntegrityError:
            wrote = False  # another process seeded it at the same moment
        if wrote:
            action = "zalo.token.seeded" if row is None else "zalo.token.reseeded"
            self.store.audit(action, subject=self.channel_id, seed=fp)
            log.info(
                "%s: refresh token taken from %s (%s)", self.label, self.token_env, "new" if row is None else "replaced"
            )
        fresh = self._read()
        assert fresh is not None
        return fresh

    def _seen_seeds(self) -> set[str]:
        """Fingerprints of every seed token this channel has taken (from the audit log)."""
        with self.store.session() as s:
            rows = s.exec(
                select(AuditLog).where(
                    AuditLog.subject == self.channel_id,
                    col(AuditLog.action).in_(("zalo.token.seeded", "zalo.token.reseeded")),
                )
            ).all()
        return {str((r.detail or {}).get("seed")) for r in rows if (r.detail or {}).get("seed")}

    def _claim(self, seen: _Row) -> _Row | None:
        """Take the renewal lease: row lock on PostgreSQL, compare-and-set on version everywhere."""
        now = self.now()
        with self.store.session() as s:
            cur = s.exec(
                select(ChannelToken).where(ChannelToken.channel_id == self.channel_id).with_for_update()
            ).first()
            if cur is None or cur.version != seen.version:
                return None
            res = s.exec(
                update(ChannelToken)
                .where(ChannelToken.channel_id == self.channel_id, ChannelToken.version == seen.version)
                .values(status="renewing", renewing_since=now, version=seen.version + 1)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:
                return None
        # read again under the lease: this is the refresh token to use
        row = self._read()
        if row is None or row.version != seen.version + 1 or row.status != "renewing":
            return None
        return row

    def _release(self, claimed: _Row) -> None:
        with self.store.session() as s:
            s.exec(
                update(ChannelToken)
                .where(ChannelToken.channel_id == self.channel_id, ChannelToken.version == claimed.version)
                .values(status="ok", renewing_since=None, version=claimed.version + 1)
            )

    def _mark_lost(self, claimed: _Row, reason: str) -> bool:
        with self.store.session() as s:
            res = s.exec(
                update(ChannelToken)
                .where(ChannelToken.channel_id == self.channel_id, ChannelToken.version == claimed.version)
                .values(status="lost", renewing_since=None, version=claimed.version + 1)
            )
            done = res.rowcount == 1
        if done:
            self.store.audit("zalo.token.lost", subject=self.channel_id, reason=reason)
        return done

    def _store_pair(
        self, claimed: _Row, access: str, refresh: str | None, expires_in: int, refresh_in: int | None
    ) -> bool:
        """Write the new pair, encrypted, in one transaction that retires the old one."""
        now = self.now()
        box = self.box()
        values: dict[str, Any] = dict(
            access_token_enc=box.encrypt(access),
            access_expires_at=now + timedelta(seconds=expires_in),
            status="ok",
            renewing_since=None,
            version=ChannelToken.version + 1,
            updated_at=now,
        )
        if refresh:
            values["refresh_token_enc"] = box.encrypt(refresh)
            values["refresh_expires_at"] = now + (timedelta(seconds=refresh_in) if refresh_in else REFRESH_TTL)
        with self.store.session() as s:
            # Only a new seed from the staff (another fingerprint) outranks the pair we now hold: nobody else can
            # have rotated this chain since our claim, because the platform accepted our refresh token.
            res = s.exec(
                update(ChannelToken)
                .where(
                    ChannelToken.channel_id == self.channel_id,
                    ChannelToken.seed_fingerprint == claimed.seed_fingerprint,
                )
                .values(**values)
            )
            return res.rowcount == 1

    # -- policy

    def _margin(self, row: _Row) -> timedelta:
        if row.access_expires_at and row.updated_at and row.access_expires_at > row.updated_at:
            life = row.access_expires_at - row.updated_at
            return min(RENEW_MARGIN_MAX, life / 5)
        return RENEW_MARGIN_MAX

    def _usable(self, row: _Row, now: datetime) -> bool:
        return bool(
            row.access_token_enc and row.access_expires_at and row.access_expires_at > now + timedelta(seconds=30)
        )

    def _fresh(self, row: _Row, now: datetime) -> bool:
        if not self._usable(row, now):
            return False
        assert row.access_expires_at is not None
        if row.access_expires_at - now <= self._margin(row):
            return False
        return not (row.refresh_expires_at and row.refresh_expires_at - now <= REFRESH_RENEW_BEFORE)

    def _lost_hold(self) -> HoldChannel:
        reason = None
        with self.store.session() as s:
            entry = s.exec(
                select(AuditLog)
                .where(AuditLog.action == "zalo.token.lost", AuditLog.subject == self.channel_id)
                .order_by(AuditLog.id.desc())  # type: ignore[union-attr]
            ).first()
            if entry is not None:
                reason = (entry.detail or {}).get("reason")
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

    def _renew(self, claimed: _Row, *, uncertain: bool) -> tuple[str, str]:
        app_id, secret = self._app()
        refresh = self._decrypt(claimed.refresh_token_enc or "")
        unknown_wait = self.lease.total_seconds() + 5
        _failpoint("zalo.renew.before_call")
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
        _failpoint("zalo.renew.after_answer")
        if not self._store_pair(claimed, access, new_refresh, expires_in, refresh_in):
            log.warning("%s: a new seed token arrived during the renewal; its answer is discarded", self.label)
            raise RetryLater(
                f"{self.label}: token vừa được thay; thử lại", retry_after=1, scope="channel", code="reseeded"
            )
        self.store.audit("zalo.token.renewed", subject=self.channel_id, rotated=bool(new_refresh))
        _failpoint("zalo.renew.after_store")
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


# ---------------------------------------------------------------------------------------------
# The channel


@dataclass
class _OAInfo:
    oa_id: str | None
    name: str | None
    verified: bool
    followers: int | None
    package: str | None
    read_at: float


class ZaloChannel:
    platform: ClassVar[str] = "zalo"

    def __init__(self, row: ChannelRow, ctx: ChannelContext) -> None:
        self.row = row
        self.ctx = ctx
        self.env = ctx.env
        self.oa_id = str(row.account_id or "")
        self.token_env = row.token_env or ""
        self.openapi_base = (self.env.get("ZALO_OPENAPI_BASE") or OPENAPI_DEFAULT).rstrip("/")
        self.oauth_base = (self.env.get("ZALO_OAUTH_BASE") or OAUTH_DEFAULT).rstrip("/")
        seconds = float(self.env.get("ZALO_TIMEOUT") or 30)
        self.timeout = (min(10.0, seconds), seconds)
        self._own_session = ctx.transport is None
        self.session: requests.Session = ctx.transport or requests.Session()
        self.now: Callable[[], datetime] = getattr(ctx, "clock", None) or _utcnow
        self.verify_delays: tuple[float, ...] = (1, 2, 3, 5, 8, 13)  # seconds between verify polls (~30 s in all)
        self.search_pages = 5
        self.label = f"Zalo OA {self.oa_id} ({row.unit_id})"
        self.tokens = ZaloTokens(
            channel_id=row.id,
            token_env=self.token_env,
            env=self.env,
            store=ctx.store,
            session=self.session,
            oauth_base=self.oauth_base,
            timeout=self.timeout,
            now=lambda: self.now(),
            lease=float(self.env.get("ZALO_RENEW_LEASE") or 120),
            label=self.label,
        )
        self._oa: _OAInfo | None = None
        self._media_store: Any = None

    def __str__(self) -> str:
        return f"zalo://{self.oa_id} ({self.row.id}, token {self.token_env}={mask(self.env.get(self.token_env))})"

    __repr__ = __str__

    # -- HTTP

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool = True,
        progress: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Open API call; returns ``data``. Raises ZaloApiError for an error envelope, ChannelError otherwise."""
        refused: str | None = None
        for _attempt in range(2):
            token, stamp = self.tokens.access_token(refused=refused)
            try:
                resp = self.session.request(
                    method,
                    self.openapi_base + path,
                    params=params,
                    json=body,
                    headers={"access_token": token},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                sent = not (isinstance(exc, requests.ConnectTimeout) or _never_connected(exc))
                raise RetryLater(
                    f"Zalo {path}: lỗi mạng ({type(exc).__name__})",
                    retry_after=60,
                    maybe_sent=sent and not idempotent,
                    in_flight=sent,
                    code="network",
                    progress=progress,
                ) from None
            if resp.status_code == 429:
                wait = _int(resp.headers.get("Retry-After"), 60) or 60
                raise RetryLater(f"Zalo {path}: HTTP 429", retry_after=wait, scope="app", code="429", progress=progress)
            try:
                payload = resp.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                if resp.status_code == 404:
                    raise HoldChannel(
                        f"Zalo {path}: HTTP 404 (địa chỉ API không đúng)",
                        fix="kiểm tra ZALO_OPENAPI_BASE (mặc định https://openapi.zalo.me)",
                        code="404",
                        progress=progress,
                    )
                raise RetryLater(
                    f"Zalo {path}: HTTP {resp.status_code}, câu trả lời không phải JSON",
                    retry_after=120,
                    maybe_sent=not idempotent and resp.status_code >= 500,
                    code=str(resp.status_code),
                    progress=progress,
                )
            code = _int(payload.get("error"), 0) or 0
            if code == 0:
                data = payload.get("data")
                return data if isinstance(data, dict) else {}
            message = str(payload.get("message") or payload.get("error_name") or "")
            if code in (-216, -220) and refused is None:
                log.info("%s: access token refused (%s); renewing once", self.label, code)
                refused = stamp
                continue
            raise ZaloApiError(code, message, path)
        raise AssertionError("unreachable")

    def _classified(self, err: ZaloApiError, progress: dict[str, Any] | None = None) -> ChannelError:
        exc = classify(err, env_name=self.token_env, progress=progress)
        exc.message = f"{self.label}: {exc.message}"
        exc.args = (exc.message,)
        return exc

    # -- OA

    def _oa_info(self, *, fresh: bool = False) -> _OAInfo:
        if self._oa is not None and not fresh and time.monotonic() - self._oa.read_at < 3600:
            return self._oa
        try:
            data = self._call("GET", "/v2.0/oa/getoa")
        except ZaloApiError as err:
            raise self._classified(err) from None
        info = _OAInfo(
            oa_id=str(data.get("oa_id") or data.get("oaid") or "") or None,
            name=data.get("name"),
            verified=bool(data.get("is_verified")),
            followers=_int(data.get("num_follower")),
            package=data.get("package_name"),
            read_at=time.monotonic(),
        )
        if info.oa_id and self.oa_id and info.oa_id != self.oa_id:
            raise HoldChannel(
                f"{self.label}: token này thuộc OA khác ({info.oa_id}, {info.name}), không phải OA {self.oa_id}",
                fix=f"đặt vào {self.token_env} refresh token của đúng OA {self.oa_id}, hoặc sửa oa_id trong config/units.yaml",
                code="wrong-oa",
            )
        self._oa = info
        return info

    # -- media

    def _media(self) -> Any:
        if self._media_store is None:
            from bot.media import MediaError, open_media_store

            campaign = self.ctx.campaign
            settings = campaign.get("media") if isinstance(campaign, dict) else getattr(campaign, "media", None)
            try:
                self._media_store = open_media_store(settings, self.ctx.workspace, env=self.env)
            except MediaError as exc:
                raise HoldChannel(
                    f"{self.label}: {exc.message}", fix=exc.fix or "sửa khối media: trong config/campaign.yaml"
                ) from None
        return self._media_store

    def _publish_images(self, post: Post) -> list[str]:
        from bot.media import BadImage, MediaConfigError, MediaError

        store = self._media()
        urls: list[str] = []
        for image in post.images:
            path = Path(image)
            if not path.is_absolute():
                path = self.ctx.workspace / path
            try:
                urls.append(store.publish(path))
            except BadImage as exc:
                raise Rejected(f"{self.label}: ảnh {path.name}: {exc.message}", code="bad-image") from None
            except MediaConfigError as exc:
                raise HoldChannel(
                    f"{self.label}: {exc.message}", fix=exc.fix or "kiểm tra khối media:", code="media"
                ) from None
            except MediaError as exc:
                raise RetryLater(f"{self.label}: {exc.message}", retry_after=300, code="media") from None
        return urls

    # -- the article

    def _title(self, post: Post) -> str:
        return _cut(nfc(post.title).strip(), TITLE_MAX)

    def article_payload(self, post: Post, image_urls: list[str]) -> dict[str, Any]:
        """The body of article/create for a post (NFC, within the platform's limits)."""
        if not image_urls:
            raise Rejected(
                f"{self.label}: bài Zalo cần ít nhất một ảnh (ảnh bìa), bài này không có ảnh", code="no-image"
            )
        title = self._title(post)
        body_text = nfc(post.body or "").strip()
        paragraphs = [p.strip() for p in body_text.split("\n\n") if p.strip()]
        description = _cut(paragraphs[0] if paragraphs else title, DESCRIPTION_MAX)
        blocks: list[dict[str, Any]] = [{"type": "image", "url": image_urls[0], "caption": ""}]
        for para in paragraphs:
            lines = [html.escape(" ".join(line.split()), quote=False) for line in para.splitlines() if line.strip()]
            blocks.append({"type": "text", "content": "<p>" + "<br>".join(lines) + "</p>"})
        blocks += [{"type": "image", "url": url, "caption": ""} for url in image_urls[1:]]
        tail = []
        if post.hashtags:
            tail.append(html.escape(" ".join(nfc(h) for h in post.hashtags), quote=False))
        if post.link:
            link = html.escape(post.link, quote=True)
            tail.append(f'<a href="{link}">{link}</a>')
        from bot.channels.zalo_video import document_block

        if (doc := document_block(post)) is not None:  # issue 18: a guide's PDF
            tail.append(doc)
        if tail:
            blocks.append({"type": "text", "content": "<p>" + "<br>".join(tail) + "</p>"})
        return {
            "type": "normal",
            "title": title,
            "author": _cut(nfc(post.unit_name).strip(), AUTHOR_MAX),
            "cover": {"cover_type": "photo", "photo_url": image_urls[0], "status": "show"},
            "description": description,
            "body": blocks,
            "related_medias": [],
            "status": "show",  # the API hides articles by default
            "comment": "show",
        }

    def _window_start(self, post: Post) -> datetime | None:
        start = _aware(post.first_attempt_at) or _aware(post.created_at)
        return start - timedelta(minutes=10) if start else None

    def _search(self, post: Post, *, article_id: str | None = None) -> dict[str, Any] | None:
        """The OA's recent article that is this post: by id, or by title created inside the delivery's window."""
        start = self._window_start(post)
        if article_id is None and start is None:
            return None
        title = self._title(post)
        offset = 0
        for _page in range(self.search_pages):
            try:
                data = self._call(
                    "GET", "/v2.0/article/getslice",
                    params={"offset": offset, "limit": 10, "type": "video" if is_video_article(post) else "normal"}
                )
            except ZaloApiError as err:
                raise self._classified(err) from None
            medias = data.get("medias") or []
            for m in medias:
                if article_id is not None:
                    if str(m.get("id")) == article_id:
                        return m
                    continue
                created = _parse_create_date(m.get("create_date"))
                if nfc(str(m.get("title") or "")).strip() == title and _not_before(created, start):
                    return m
            if article_id is None and medias:
                oldest = _parse_create_date(medias[-1].get("create_date"))
                if start is not None and isinstance(oldest, datetime) and oldest < start:
                    break
            offset += len(medias)
            if not medias or offset >= (_int(data.get("total"), 0) or 0):
                break
        return None

    def _verify(self, token: str, progress: dict[str, Any], post: Post | None = None) -> str:
        """The article id for a create/update token; polls with back-off while Zalo is still processing."""
        delays = list(self.verify_delays)
        while True:
            try:
                data = self._call("POST", "/v2.0/article/verify", body={"token": token}, progress=progress)
            except ZaloApiError as err:
                if err.code == -214:
                    if delays:
                        time.sleep(delays.pop(0))
                        continue
                    raise RetryLater(
                        f"{self.label}: Zalo vẫn đang xử lý bài; kiểm tra lại sau",
                        retry_after=60,
                        code="-214",
                        progress=progress,
                    ) from None
                if err.code == -201:
                    found = self._search(post) if post is not None else None
                    if found is not None:  # the token aged out, but the article is there
                        return str(found["id"])
                    raise Rejected(
                        f"{self.label}: Zalo không xử lý được bài ({err.code} {err.message})",
                        code=str(err.code),
                        progress=progress,
                    ) from None
                raise self._classified(err, progress) from None
            article_id = str(data.get("id") or "")
            if article_id:
                return article_id
            raise RetryLater(f"{self.label}: verify không trả về mã bài", retry_after=60, progress=progress)

    # -- broadcast bookkeeping (the audit log is the record: "sending" before the call, then the outcome)

    def _broadcast_log(self, article_id: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """This channel's broadcast notes, oldest first; ``at`` is the channel's clock when the note was made."""
        with self.ctx.store.session() as s:
            q = select(AuditLog).where(AuditLog.action == "zalo.broadcast", AuditLog.subject == self.row.id)
            rows = s.exec(q.order_by(AuditLog.id.desc()).limit(1000)).all()  # type: ignore[union-attr]
        out = []
        for r in reversed(rows):
            d = dict(r.detail or {})
            try:
                at = datetime.fromisoformat(d["at"]) if d.get("at") else _aware(r.at)
            except (TypeError, ValueError):
                at = _aware(r.at)
            d["at"] = at
            if article_id is not None and d.get("article_id") != article_id:
                continue
            if since is not None and (at is None or at < since):
                continue
            out.append(d)
        return out

    def _broadcast_state(self, article_id: str) -> dict[str, Any] | None:
        entries = self._broadcast_log(article_id)
        return entries[-1] if entries else None

    def _note(self, step: str, article_id: str, **detail: Any) -> None:
        self.ctx.store.audit(
            "zalo.broadcast", subject=self.row.id, step=step, article_id=article_id, at=self.now().isoformat(), **detail
        )

    def _broadcast(self, post: Post, article_id: str, extra: dict[str, Any], progress: dict[str, Any]) -> Published:
        url = extra.get("article_url")
        last = self._broadcast_state(article_id)
        if last and last.get("step") == "sent":
            return Published(
                article_id, url, {**extra, "broadcast": "sent", "broadcast_message_id": last.get("message_id")}
            )
        if last and last.get("step") == "sending":
            return Published(
                article_id,
                url,
                {
                    **extra,
                    "broadcast": "unknown: lần gửi broadcast trước không rõ kết quả; không gửi lại để tránh trùng",
                },
            )
        oa = self._oa_info()
        if not oa.verified:
            return Published(article_id, url, {**extra, "broadcast": f"not allowed: {BROADCAST_NOT_VERIFIED}"})
        now = self.now()
        local = now.astimezone(VN)
        if local.hour >= NIGHT_START or local.hour < NIGHT_END:
            wait = _seconds_until_morning(local)
            raise RetryLater(
                f"{self.label}: bài đã đăng; broadcast chờ đến sau 06:00 (Zalo không cho gửi ban đêm)",
                retry_after=wait,
                code="night",
                progress=progress,
            )
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        sent_today = [e for e in self._broadcast_log(since=midnight.astimezone(UTC)) if e.get("step") == "sent"]
        if len(sent_today) >= BROADCASTS_PER_DAY:
            raise RetryLater(
                f"{self.label}: bài đã đăng; hôm nay OA đã gửi broadcast (mỗi người theo dõi chỉ nhận 1 tin/ngày), "
                "broadcast chờ đến ngày mai",
                retry_after=_seconds_until_morning(local, next_day=True),
                code="broadcast-daily",
                progress=progress,
            )
        body = {
            "recipient": {"target": {}},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "article", "attachment_id": article_id}],
                    },
                }
            },
        }
        self._note("sending", article_id, delivery_id=post.delivery_id)
        try:
            data = self._call("POST", "/v2.0/oa/message", body=body, idempotent=False, progress=progress)
        except RetryLater as exc:
            if exc.maybe_sent:
                return Published(
                    article_id,
                    url,
                    {**extra, "broadcast": "unknown: mất kết nối khi gửi broadcast; không gửi lại để tránh trùng"},
                )
            self._note("refused", article_id, code=exc.code)
            raise
        except HoldChannel as exc:
            self._note("refused", article_id, code=exc.code)
            raise
        except ZaloApiError as err:
            self._note("refused", article_id, code=err.code)
            if err.code == -211:
                raise RetryLater(
                    f"{self.label}: bài đã đăng; OA hết lượt broadcast của gói, broadcast chờ lượt mới (Zalo {err.code})",
                    retry_after=RETRY_ERRORS[-211][1],
                    code=str(err.code),
                    progress=progress,
                ) from None
            if err.code == -218:
                raise RetryLater(
                    f"{self.label}: bài đã đăng; người theo dõi đã nhận đủ tin trong ngày/tháng, broadcast chờ (Zalo {err.code})",
                    retry_after=_seconds_until_morning(local, next_day=True),
                    code=str(err.code),
                    progress=progress,
                ) from None
            if err.code == -234:
                raise RetryLater(
                    f"{self.label}: bài đã đăng; broadcast chờ đến sau 06:00 (Zalo {err.code})",
                    retry_after=_seconds_until_morning(local),
                    code=str(err.code),
                    progress=progress,
                ) from None
            if err.code in (-221, -224):
                self._oa = None
                return Published(
                    article_id, url, {**extra, "broadcast": f"not allowed: {err.message} (Zalo {err.code})"}
                )
            exc2 = self._classified(err, progress)
            if isinstance(exc2, Rejected):
                return Published(article_id, url, {**extra, "broadcast": f"rejected: {err.message} (Zalo {err.code})"})
            raise exc2 from None
        message_id = str(data.get("message_id") or "")
        self._note("sent", article_id, message_id=message_id, delivery_id=post.delivery_id)
        return Published(
            article_id,
            url,
            {**extra, "broadcast": "sent", "broadcast_message_id": message_id, "broadcast_at": now.isoformat()},
        )

    # -- the interface

    def publish(self, post: Post) -> Published:
        progress: dict[str, Any] = dict(post.progress or {})
        try:
            return self._publish(post, progress)
        except ChannelError as exc:
            # Whatever step failed, hand back what is already done on the platform.
            if progress and not exc.progress:
                exc.progress = dict(progress)
            if isinstance(exc, RetryLater) and exc.code in WAIT_CODES:
                waiting(exc)
            raise

    def _publish(self, post: Post, progress: dict[str, Any]) -> Published:
        self._oa_info()  # also proves the token belongs to this OA
        article_id = progress.get("article_id")
        url = progress.get("article_url")
        if not article_id and progress.get("article_token"):
            article_id = self._verify(str(progress["article_token"]), progress, post)
        if not article_id:
            found = self._search(post)
            if found is not None:
                article_id, url = str(found["id"]), found.get("link_view")
                log.info(
                    "%s: delivery %s already on Zalo as %s; not creating it again",
                    self.label,
                    post.delivery_id,
                    article_id,
                )
        if not article_id:
            if post.attachments.get("document"):  # issue 18: the PDF is online before the article links to it
                from bot.media import ensure_document

                ensure_document(self.ctx, post)
            if post.attachments.get("video"):  # issue 18: a video article, or one linking to the video
                from bot.channels import zalo_video

                payload = zalo_video.article_payload(self, post, progress)
            else:
                payload = self.article_payload(post, self._publish_images(post))
            try:
                data = self._call("POST", "/v2.0/article/create", body=payload, idempotent=False, progress=progress)
            except ZaloApiError as err:
                raise self._classified(err, progress) from None
            token = str(data.get("token") or "")
            if not token:
                raise RetryLater(f"{self.label}: article/create không trả về token", retry_after=60, maybe_sent=True)
            progress["article_token"] = token
            _failpoint("zalo.publish.after_create")
            article_id = self._verify(token, progress, post)
        progress["article_id"] = article_id
        progress.pop("article_token", None)
        if not url:
            found = self._search(post, article_id=article_id)
            url = found.get("link_view") if found else None
        if url:
            progress["article_url"] = url
        extra: dict[str, Any] = {"article_id": article_id, "article_url": url}
        if not self.row.broadcast:
            return Published(article_id, url, {**extra, "broadcast": "off"})
        if not post.broadcast:  # a repost of a correction: followers already had the first broadcast
            return Published(article_id, url, {**extra, "broadcast": "off: bài đăng lại sau khi sửa"})
        return self._broadcast(post, article_id, extra, progress)

    def find_existing(self, post: Post) -> Published | None:
        """The article of this post if it is on the OA and nothing is left to do for it.

        Returns None when the article is missing, and also when it exists but its broadcast is still to be
        sent: publish() then finds the article (by id in ``post.progress`` or by title inside the delivery's
        window) and only sends the broadcast, so nothing is created twice.
        """
        progress = dict(post.progress or {})
        article_id = progress.get("article_id")
        if not article_id and progress.get("article_token"):
            try:
                data = self._call("POST", "/v2.0/article/verify", body={"token": progress["article_token"]})
                article_id = str(data.get("id") or "") or None
            except ZaloApiError:
                article_id = None
        found = self._search(post, article_id=str(article_id) if article_id else None)
        if found is None:
            return None
        article_id = str(found["id"])
        extra: dict[str, Any] = {"article_id": article_id, "article_url": found.get("link_view")}
        if self.row.broadcast:
            last = self._broadcast_state(article_id)
            if last is None or last.get("step") not in ("sent", "sending"):
                return None
            extra["broadcast"] = (
                "sent" if last.get("step") == "sent" else "unknown: không rõ kết quả broadcast; không gửi lại"
            )
            if last.get("message_id"):
                extra["broadcast_message_id"] = last["message_id"]
        else:
            extra["broadcast"] = "off"
        return Published(article_id, found.get("link_view"), extra)

    # -- corrections (issue 16). Update: POST /v2.0/article/update with the create body plus "id" returns a new
    # token, verified like a new article; remove: POST /v2.0/article/remove {"id"}; an unknown or removed id answers
    # -201 "id is invalid!" (api-notes zalo-oa-api.md §2.3, zaloplatform/zalo-java-sdk UpdateNormalArticle.java and
    # RemoveArticle.java). A broadcast already sent cannot be recalled (no such call exists).

    def edit(self, post_id: str, post: Post) -> Published:
        self._oa_info()
        image_urls = self._publish_images(post)
        payload = {**self.article_payload(post, image_urls), "id": post_id}
        try:
            data = self._call("POST", "/v2.0/article/update", body=payload, idempotent=False)
        except ZaloApiError as err:
            if err.code == -201 and "id" in err.message.lower():
                raise Rejected(f"{self.label}: bài {post_id} không còn trên OA (có thể đã bị gỡ bằng tay): "
                               f"Zalo {err.code} {err.message}", code="gone") from None
            raise self._classified(err) from None
        token = str(data.get("token") or "")
        if not token:
            raise RetryLater(f"{self.label}: article/update không trả về token", retry_after=60, maybe_sent=True)
        try:
            self._verify(token, {})
        except RetryLater as exc:
            if exc.code in WAIT_CODES:
                waiting(exc)
            raise
        return Published(post_id, None, {"article_id": post_id})

    def remove(self, post_id: str) -> bool:
        try:
            self._call("POST", "/v2.0/article/remove", body={"id": post_id}, idempotent=False)
        except ZaloApiError as err:
            if err.code == -201:
                return False  # already gone (removed by hand on the OA)
            raise self._classified(err) from None
        return True

    def current(self, post_id: str, post: Post | None = None) -> PostState:
        try:
            data = self._call("GET", "/v2.0/article/getdetail", params={"id": post_id})
        except ZaloApiError as err:
            if err.code == -201:
                return PostState(exists=False)
            raise self._classified(err) from None
        if post is None:
            return PostState(exists=True)
        wanted = self.article_payload(post, ["-"])

        def texts(blocks: Any) -> list[str]:
            return [nfc(str(b.get("content") or "")) for b in (blocks or [])
                    if isinstance(b, dict) and b.get("type") == "text"]

        same = (nfc(str(data.get("title") or "")).strip() == wanted["title"]
                and texts(data.get("body")) == texts(wanted["body"]))
        return PostState(exists=True, matches=same)

    def check(self) -> ChannelCheck:
        details: dict[str, Any] = {"oa_id": self.oa_id, "biến token": self.token_env}
        try:
            info = self._oa_info(fresh=True)
        except ChannelError as exc:
            try:
                details["token"] = self.tokens.state()
            except Exception:  # noqa: BLE001 - the store may be unreadable; the problem below says what matters
                pass
            return ChannelCheck(
                channel_id=self.row.id,
                platform=self.platform,
                ok=False,
                details=details,
                problem=exc.message,
                fix=getattr(exc, "fix", None),
            )
        details.update(
            {
                "đã xác thực": "có" if info.verified else "không",
                "người theo dõi": info.followers,
                "gói": info.package,
                "token": self.tokens.state(),
            }
        )
        problems: list[str] = []
        fixes: list[str] = []
        if self.row.broadcast:
            details["broadcast"] = "bật" if info.verified else f"not allowed: {BROADCAST_NOT_VERIFIED}"
            if not info.verified:
                problems.append(f"broadcast không gửi được: {BROADCAST_NOT_VERIFIED}")
                fixes.append("xác thực OA trên oa.zalo.me, hoặc đặt broadcast: false cho kênh này")
        else:
            details["broadcast"] = "tắt"
        ok = True
        try:
            from bot.media import check_media

            media_problem = check_media(self._media(), self.session)
        except HoldChannel as exc:
            media_problem = exc.message
            fixes.append(exc.fix)
        if media_problem:
            ok = False
            problems.append(media_problem)
            details["media"] = "lỗi"
        else:
            details["media"] = "tốt"
        return ChannelCheck(
            channel_id=self.row.id,
            platform=self.platform,
            ok=ok,
            account_name=info.name,
            details=details,
            problem="; ".join(problems) or None,
            fix="; ".join(fixes) or None,
        )

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        """Views and shares of the given articles (the API gives no reactions or comments)."""
        wanted = {str(p) for p in post_ids}
        out: dict[str, EngagementReading] = {}
        offset = 0
        for _page in range(30):
            if not wanted:
                break
            try:
                data = self._call(
                    "GET", "/v2.0/article/getslice", params={"offset": offset, "limit": 10, "type": "normal"}
                )
            except ZaloApiError as err:
                raise self._classified(err) from None
            medias = data.get("medias") or []
            for m in medias:
                mid = str(m.get("id"))
                if mid in wanted:
                    wanted.discard(mid)
                    out[mid] = EngagementReading(
                        post_id=mid,
                        views=_int(m.get("total_view")),
                        shares=_int(m.get("total_share")),
                        extra={"status": m.get("status"), "link_view": m.get("link_view")},
                    )
            offset += len(medias)
            if not medias or offset >= (_int(data.get("total"), 0) or 0):
                break
        return out

    def keep_alive(self) -> None:
        """Renew the tokens if due (call daily): an OA that posts rarely must not let its refresh token age out."""
        self.tokens.access_token()

    def close(self) -> None:
        if self._media_store is not None:
            self._media_store.close()
        if self._own_session:
            self.session.close()


BROADCAST_NOT_VERIFIED = "OA chưa được xác thực; Zalo chỉ cho OA đã xác thực gửi broadcast"


def is_video_article(post: Post) -> bool:
    """Issue 18: a video story's article is listed under type=video (bot.channels.zalo_video)."""
    from bot.channels.zalo_video import is_video_article as video

    return video(post)


def _seconds_until_morning(local: datetime, *, next_day: bool = False) -> float:
    """Seconds until 06:05 Vietnam time (today's if before 06:00, else tomorrow's)."""
    target = local.replace(hour=NIGHT_END, minute=5, second=0, microsecond=0)
    if next_day or local >= target:
        target = target + timedelta(days=1)
    return max(60.0, (target - local).total_seconds())


def _parse_create_date(value: Any) -> datetime | date | None:
    """Zalo's create_date: epoch milliseconds or seconds (number or string), ISO, or dd/mm/yyyy."""
    if value is None or value == "":
        return None
    number = _int(value)
    if number is not None:
        seconds = number / 1000 if number > 10**11 else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.date() if fmt == "%d/%m/%Y" else parsed.replace(tzinfo=VN)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN)


def _not_before(created: datetime | date | None, start: datetime | None) -> bool:
    """Whether an article created at ``created`` may be this delivery's (not older than its window)."""
    if start is None or created is None:
        return start is None or created is None
    if isinstance(created, datetime):
        return created >= start
    return created >= start.astimezone(VN).date()
