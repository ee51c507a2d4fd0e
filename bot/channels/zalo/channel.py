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

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import requests

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
)
from bot.channels.spec import describe
from bot.channels.zalo.article import ZaloArticle
from bot.channels.zalo.broadcast import BROADCAST_NOT_VERIFIED, ZaloBroadcast
from bot.channels.zalo.errors import (
    OAUTH_DEFAULT,
    OPENAPI_DEFAULT,
    WAIT_CODES,
    ZaloApiError,
    _int,
    _utcnow,
    classify,
    waiting,
)
from bot.channels.zalo.tokens import ZaloTokens, _never_connected
from bot.store import Channel as ChannelRow
from bot.vn import nfc

log = logging.getLogger("bot.channels.zalo")


@dataclass
class _OAInfo:
    oa_id: str | None
    name: str | None
    verified: bool
    followers: int | None
    package: str | None
    read_at: float



class ZaloChannel(ZaloArticle, ZaloBroadcast):
    platform: ClassVar[str] = "zalo"

    def __init__(self, row: ChannelRow, ctx: ChannelContext) -> None:
        self.row = row
        self.ctx = ctx
        self.hooks = ctx.hooks
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
            hooks=ctx.hooks,
        )
        self._oa: _OAInfo | None = None
        self._media_store: Any = None

    def __str__(self) -> str:
        return describe(self.row, self.env)

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
            if post.attachments.get("video"):  # issue 18: a video article, or one linking to the video (video.py)
                from bot.channels.zalo.video import article_payload

                payload = article_payload(self, post, progress)
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
            self.hooks.reached("zalo.publish.after_create")
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
        from bot.channels.zalo.video import edit_payload  # issue 18: a video article stays one

        payload = (edit_payload(self, post_id, post) if post.attachments.get("video") else None) \
            or {**self.article_payload(post, self._publish_images(post)), "id": post_id}
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
        from bot.channels.zalo.video import shows  # issue 18: a video article has no body

        if (video := shows(self, data, post)) is not None:
            return PostState(exists=True, matches=video)
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
        pages = [("normal", n) for n in range(30)] + [("video", n) for n in range(30)]  # issue 18: video articles too
        for kind, n in pages:
            if not wanted:
                break
            if n == 0:
                offset = 0
            elif offset < 0:
                continue  # this kind's list is read to its end
            try:
                data = self._call(
                    "GET", "/v2.0/article/getslice", params={"offset": offset, "limit": 10, "type": kind}
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
                offset = -1
        return out

    def keep_alive(self) -> None:
        """Renew the tokens if due (call daily): an OA that posts rarely must not let its refresh token age out."""
        self.tokens.access_token()

    def close(self) -> None:
        if self._media_store is not None:
            self._media_store.close()
        if self._own_session:
            self.session.close()

