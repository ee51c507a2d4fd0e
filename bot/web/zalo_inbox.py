"""The Zalo OA inbox: followers send a story to the OA, which lands in the review queue.

Verification (Zalo's documented scheme, checked against several implementations): the header
``X-ZEvent-Signature`` is ``mac=`` + hex SHA-256 of ``app_id + raw body + timestamp + OA secret key``,
where ``app_id`` and ``timestamp`` (milliseconds) are fields of the JSON body. A call is refused —
and nothing stored — when the signature does not match (constant-time compare), the app id is not
ours, or the timestamp is more than :data:`MAX_AGE` from now (an old call replayed). A verified call
is recorded in ``webhookevent`` under a unique key (the message id, else the signature) before it is
processed, so Zalo's retries and replays are processed once.

The conversation: a follower sends the keyword (``GUI BAI``, with or without tones), then the title,
the text and photos in as many messages as they like, then ``XONG``. That makes a submission for the
OA's unit, and the OA acknowledges with the reference number. Sending ``XONG`` is the consent the
instructions ask for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from typing import Any

import requests
from sqlmodel import select

from bot.alerts import insert_ignore
from bot.store import Channel, utcnow
from bot.store.intake import Submission, SubmissionPhoto, SubmissionState, SubmitterNotice, WebhookEvent
from bot.vn import khong_dau, nfc

log = logging.getLogger("bot.web.zalo")
MAX_AGE = timedelta(minutes=5)
START_WORDS = {"gui bai", "#guibai", "guibai"}
END_WORDS = {"xong", "het", "gui"}
HOW_TO = ("Để gửi câu chuyện sáng kiến cho Công đoàn: nhắn “GỬI BÀI”, sau đó nhắn tiêu đề, nội dung và ảnh "
          "(tối đa 5 ảnh), cuối cùng nhắn “XONG”. Nhắn XONG là bạn đồng ý để Công đoàn biên tập và đăng bài.")
DRAFT_TTL = timedelta(days=2)


def expected_signature(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode()).hexdigest()


def verify(env: dict[str, str], headers: dict[str, str], body: bytes, now_ms: int | None = None
           ) -> tuple[dict[str, Any] | None, str]:
    """(payload, "") when the call is Zalo's and fresh, else (None, the reason in Vietnamese)."""
    app_id = (env.get("ZALO_APP_ID") or "").strip()
    secret = (env.get("ZALO_OA_SECRET_KEY") or "").strip()
    if not app_id or not secret:
        return None, "chưa cấu hình ZALO_APP_ID và ZALO_OA_SECRET_KEY"
    sent = (headers.get("x-zevent-signature") or "").strip()
    if sent.lower().startswith("mac="):
        sent = sent[4:].strip()
    if not sent:
        return None, "thiếu chữ ký X-ZEvent-Signature"
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, "nội dung không phải JSON"
    if not isinstance(payload, dict):
        return None, "nội dung không phải JSON"
    stamp = str(payload.get("timestamp") or "")
    mac = expected_signature(str(payload.get("app_id") or ""), body, stamp, secret)
    if not hmac.compare_digest(sent.lower(), mac) or str(payload.get("app_id")) != app_id:
        return None, "chữ ký không đúng"
    try:
        at = int(stamp)
    except ValueError:
        return None, "thời điểm không hợp lệ"
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - at) > MAX_AGE.total_seconds() * 1000:
        return None, "lời gọi quá cũ (hoặc bị gửi lại)"
    return payload, ""


def handle_webhook(cfg: Any, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    payload, why = verify(cfg.env, {k.lower(): v for k, v in headers.items()}, body)
    if payload is None:
        log.warning("từ chối lời gọi webhook Zalo: %s", why)
        return (503 if why.startswith("chưa cấu hình") else 401), {"error": why}
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    msg_id = str(message.get("msg_id") or "")[:200]
    sig = (headers.get("x-zevent-signature") or headers.get("X-ZEvent-Signature") or "").strip()
    key = f"msg:{msg_id}" if msg_id else "sig:" + hashlib.sha256(sig.encode()).hexdigest()
    event = str(payload.get("event_name") or "")[:100]
    with cfg.store.session() as s:
        if not insert_ignore(s, WebhookEvent, {"key": key, "event_name": event, "received_at": utcnow()}):
            return 200, {"ok": True, "note": "đã xử lý trước đó"}
    try:
        replies = process(cfg, payload, event, message)
    except Exception as exc:  # noqa: BLE001 - the event is recorded; a reply failure must not make Zalo retry it
        log.warning("lỗi khi xử lý tin Zalo (%s): %s", event, type(exc).__name__)
        replies = []
    for oa_id, user_id, text in replies:
        try:
            reply(cfg, oa_id, user_id, text)
        except Exception as exc:  # noqa: BLE001
            log.warning("không trả lời được người theo dõi Zalo: %s", type(exc).__name__)
    return 200, {"ok": True}


def _user_key(cfg: Any, user_id: str) -> str:
    return hmac.new(cfg.secret, ("zalo:" + user_id).encode(), hashlib.sha256).hexdigest()[:32]


def _oa_channel(cfg: Any, oa_id: str) -> Channel | None:
    """The OA's channel: from the store once a tick synced it, else from config/units.yaml."""
    with cfg.store.session() as s:
        row = s.exec(select(Channel).where(Channel.platform == "zalo", Channel.account_id == oa_id,
                                           Channel.active == True)).first()  # noqa: E712
    if row is not None:
        return row
    for u in cfg.campaign().units:
        for ch in u.channels:
            if ch.platform == "zalo" and str(ch.account_id) == oa_id:
                return Channel(id=f"{u.id}/zalo", unit_id=u.id, platform="zalo", account_id=oa_id, token_env=ch.token_env)
    return None


def _oa_unit(cfg: Any, oa_id: str) -> str | None:
    row = _oa_channel(cfg, oa_id)
    return row.unit_id if row is not None else None


def process(cfg: Any, payload: dict[str, Any], event: str, message: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Apply one follower message; the replies to send (oa id, user id, text)."""
    if event not in ("user_send_text", "user_send_image"):
        return []
    user_id = str((payload.get("sender") or {}).get("id") or "")[:64]
    oa_id = str((payload.get("recipient") or {}).get("id") or "")[:64]
    if not user_id or not oa_id:
        return []
    unit = _oa_unit(cfg, oa_id)
    if unit is None:
        return []
    text = nfc(str(message.get("text") or ""))[:5_000].strip()
    word = khong_dau(text).lower().strip(" .!")
    who = _user_key(cfg, user_id)
    now = utcnow()
    with cfg.store.session() as s:
        draft = s.exec(select(Submission).where(Submission.zalo_user == who, Submission.state == SubmissionState.DRAFT,
                                                Submission.created_at >= now - DRAFT_TTL)).first()
        if draft is None:
            if word in START_WORDS:
                from bot.web.forms import new_ref

                s.add(Submission(ref=new_ref(), source="zalo", state=SubmissionState.DRAFT, unit_id=unit,
                                 zalo_user=who, oa_id=oa_id, contact_kind="zalo",
                                 contact_enc=cfg.box.encrypt(user_id) if cfg.box else None,
                                 author_name="Người theo dõi Zalo OA", platforms=["facebook", "zalo"]))
                return [(oa_id, user_id, "Mời bạn nhắn tiêu đề câu chuyện, rồi nội dung và ảnh. Nhắn “XONG” khi gửi hết.")]
            return [(oa_id, user_id, HOW_TO)]
        if event == "user_send_text" and word in END_WORDS:
            from bot.web.forms import BODY_MIN, fingerprint

            if len(draft.title) < 5 or len(draft.body) < BODY_MIN:
                return [(oa_id, user_id, "Bài còn thiếu: cần tiêu đề (tin nhắn đầu tiên) và nội dung ít nhất 30 chữ. "
                                         "Hãy nhắn tiếp rồi nhắn “XONG”.")]
            draft.state, draft.consent, draft.updated_at = SubmissionState.NEW, True, now
            draft.fingerprint = fingerprint(draft.title, draft.body)
            s.add(draft)
            s.flush()
            s.add(SubmitterNotice(submission_id=draft.id, kind="received", state="sent", sent_at=now))
            return [(oa_id, user_id, f"Công đoàn đã nhận câu chuyện của bạn, mã số {draft.ref}. "
                                     "Ban biên tập sẽ đọc và báo lại khi bài được đăng.")]
        if text:
            if not draft.title:
                draft.title = text[:300]
            elif len(draft.body) + len(text) < 20_000:
                draft.body = (draft.body + "\n\n" + text).strip()
        if event == "user_send_image":
            count = len(s.exec(select(SubmissionPhoto.id).where(SubmissionPhoto.submission_id == draft.id)).all())
            for att in (message.get("attachments") or [])[:5]:
                url = str(((att or {}).get("payload") or {}).get("url") or "")
                if count >= 5 or (att or {}).get("type") != "image" or not url:
                    continue
                try:
                    photo = _fetch_photo(cfg, url)
                except Exception as exc:  # noqa: BLE001 - a bad photo is skipped with a word to the follower
                    return [(oa_id, user_id, f"Không nhận được ảnh này ({str(exc)[:120]}). Hãy gửi ảnh JPG hoặc PNG khác.")]
                s.add(SubmissionPhoto(submission_id=draft.id, position=count, stored_name=photo.stored_name,
                                      width=photo.width, height=photo.height, size=photo.size))
                count += 1
        draft.updated_at = now
        s.add(draft)
    return []


def _fetch_photo(cfg: Any, url: str) -> Any:
    from bot.web.photos import PHOTO_BYTES_MAX, PhotoError, store_photo

    if not (url.startswith("https://") or (url.startswith("http://") and cfg.env.get("CAMPAIGN_WEB_ALLOW_HTTP_MEDIA") == "1")):
        raise PhotoError("địa chỉ ảnh không phải https")
    with requests.get(url, stream=True, timeout=(5, 20)) as resp:
        resp.raise_for_status()
        data = bytearray()
        for chunk in resp.iter_content(65_536):
            data += chunk
            if len(data) > PHOTO_BYTES_MAX:
                raise PhotoError("ảnh lớn quá 10 MB")
    return store_photo(cfg.intake_dir, bytes(data))


def reply(cfg: Any, oa_id: str, user_id: str, text: str) -> None:
    """A customer-service message from the OA to one follower (allowed within Zalo's reply window)."""
    from bot.channels import ChannelContext
    from bot.channels.zalo import ZaloChannel

    row = _oa_channel(cfg, oa_id)
    if row is None or not (row.token_env and cfg.env.get(row.token_env)):
        raise RuntimeError(f"OA {oa_id} chưa có token trong .env")
    channel = ZaloChannel(row, ChannelContext(workspace=cfg.workspace, store=cfg.store, env=cfg.env,
                                              campaign=cfg.campaign()))
    try:
        channel._call("POST", "/v3.0/oa/message/cs", body={"recipient": {"user_id": user_id},
                                                            "message": {"text": text[:2000]}}, idempotent=False)
    finally:
        channel.close()
