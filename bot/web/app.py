"""The web application of `campaign-bot serve`: Starlette routes, Jinja2 pages, one store.

Pages (Vietnamese, phone first): ``/submit`` and ``/thanks`` (public), ``/login``, ``/review``,
``/review/{id}``, ``/dashboard`` (staff), ``/webhooks/zalo`` (the OA's webhook). Every form carries
the session's CSRF token; every response carries the CSP and the other headers of
:mod:`bot.web.security`; the photos are served only to a reviewer who may see their submission.
Blocking work (the store, Argon2, Pillow, the loader, git) runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.load import KIND_LABELS, KINDS, Campaign, LoadError, load_campaign
from bot.secretbox import SecretBox
from bot.store import Store, utcnow
from bot.store.intake import StaffUser, Submission, SubmissionPhoto, SubmissionState, SubmitterNotice
from bot.vn import nfc, ngay_gio, so
from bot.web import dashboard_pages, security
from bot.web.forms import (
    AUDIENCES,
    BODY_MAX,
    BODY_MIN,
    DUPLICATE_DAYS,
    EMAIL,
    NAME_MAX,
    PHONE,
    PLATFORMS,
    REASON_MAX,
    SESSION_HOURS,
    TITLE_MAX,
    TITLE_MIN,
    client_address,
    fingerprint,
    new_ref,
    parse_unit,
    safe_name,
    subtree,
    text_problem,
    unit_choices,
)
from bot.web.photos import PHOTO_BYTES_MAX, PHOTOS_MAX, PhotoError, photo_path, store_photo_file
from bot.web.photos import POOL as PHOTO_POOL
from bot.web.publish import PublishError, Written, write_story

log = logging.getLogger("bot.web")
HERE = Path(__file__).parent
MAX_BODY = 40_000_000  # the whole submission form, photos included
@dataclass
class WebConfig:
    workspace: Path
    store: Store
    env: dict[str, str]
    secure_cookies: bool = True
    submit_rate: tuple[int, float] = (5, 600.0)
    intake_dir: Path | None = None
    secret: bytes = b""
    box: SecretBox | None = None
    _campaign: Campaign | None = None
    _loaded_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.workspace = self.workspace.resolve()
        if self.intake_dir is None:
            self.intake_dir = self.workspace / ".campaign" / "intake"
        self.intake_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def campaign(self) -> Campaign:
        """The campaign folder, reloaded at most every 30 s; a folder that stops loading keeps the last good one."""
        with self._lock:
            if self._campaign is None or time.monotonic() - self._loaded_at > 30:
                try:
                    self._campaign = load_campaign(self.workspace)
                except LoadError:
                    if self._campaign is None:
                        raise
                self._loaded_at = time.monotonic()
            return self._campaign


def session_secret(key: str) -> str:
    """The cookie-signing secret, derived from CAMPAIGN_SECRET_KEY (one key to keep, not two)."""
    return hmac.new(key.encode("utf-8"), b"campaign-bot/web/session/v1", hashlib.sha256).hexdigest()


# --- the application -----------------------------------------------------------------------------


def create_app(cfg: WebConfig) -> Starlette:
    jinja = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True)
    jinja.filters["so"] = so
    submit_limiter = security.RateLimiter(*cfg.submit_rate)
    tz = cfg.campaign().tz
    jinja.filters["ngay_gio"] = lambda v: ngay_gio(v, tz) if v else ""
    jinja.filters.update(dashboard_pages.template_filters())

    def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("user", getattr(request.state, "user", None))
        html = jinja.get_template(template).render(csrf=security.csrf_token(request.session), **ctx)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def refusal(request: Request, message: str, status: int = 400) -> HTMLResponse:
        return page(request, "error.html", status=status, message=message)

    def current_user(request: Request) -> StaffUser | None:
        uid = request.session.get("uid")
        if not isinstance(uid, int):
            return None
        with cfg.store.session() as s:
            user = s.get(StaffUser, uid)
        if user is None or not user.active or request.session.get("pw") != security.session_stamp(cfg.secret, user.password_hash):
            request.session.clear()
            return None
        return user

    async def staff(request: Request) -> StaffUser | Response:
        user = await run_in_threadpool(current_user, request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        request.state.user = user
        return user

    async def read_form(request: Request, **limits: Any) -> Any:
        try:
            return await request.form(**limits)
        except security.BodyTooLarge:
            raise HTTPException(413, security.TOO_LARGE_TEXT) from None
        except MultiPartException as exc:
            raise HTTPException(400, f"Biểu mẫu gửi lên không đọc được ({str(exc)[:80]}). Hãy tải lại trang và gửi lại.") from None

    # -- public pages

    async def home(request: Request) -> Response:
        return RedirectResponse("/submit", status_code=303)

    def submit_page(request: Request, values: dict[str, Any] | None = None, errors: list[str] | None = None,
                    status: int = 200) -> HTMLResponse:
        campaign = cfg.campaign()
        return page(request, "submit.html", status=status, units=unit_choices(campaign), values=values or {},
                    errors=errors or [], campaign=campaign.config, photos_max=PHOTOS_MAX,
                    photo_mb=PHOTO_BYTES_MAX // 1_000_000)

    async def submit_get(request: Request) -> Response:
        return await run_in_threadpool(submit_page, request)

    async def submit_post(request: Request) -> Response:
        form = await read_form(request, max_files=PHOTOS_MAX + 1, max_fields=20, max_part_size=200_000)
        try:
            if not security.csrf_ok(request.session, form.get("csrf")):
                return refusal(request, "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ (thiếu mã bảo vệ). "
                                        "Hãy tải lại trang gửi bài rồi gửi lại.", 403)
            if form.get("website"):  # the honeypot: people never see this field
                return refusal(request, "Không nhận được bài: biểu mẫu có dữ liệu lạ. Hãy tải lại trang rồi gửi lại.", 400)
            client = security.client_key(cfg.secret, client_address(request))
            if not submit_limiter.allow(client):
                return refusal(request, "Bạn đã gửi nhiều bài trong thời gian ngắn. Hãy đợi khoảng 10 phút rồi gửi tiếp.", 429)
            return await handle_submission(request, form, client)
        finally:
            await form.close()

    async def handle_submission(request: Request, form: Any, client: str) -> Response:
        campaign = cfg.campaign()
        values = {k: nfc(str(form.get(k) or "")).replace("\r\n", "\n").strip()
                  for k in ("title", "body", "unit", "author_name", "author_role", "contact")}
        values["consent"] = form.get("consent") == "yes"
        errors = [e for e in (
            text_problem("Tiêu đề", values["title"], TITLE_MIN, TITLE_MAX),
            text_problem("Nội dung", values["body"], BODY_MIN, BODY_MAX, multiline=True),
            text_problem("Họ tên tác giả", values["author_name"], 2, NAME_MAX),
            text_problem("Chức vụ, nơi làm việc", values["author_role"], 0, NAME_MAX),
            text_problem("Số điện thoại hoặc e-mail", values["contact"], 0, NAME_MAX),
            text_problem("Đơn vị", values["unit"], 1, 300),
        ) if e]
        unit = parse_unit(campaign, values["unit"]) if values["unit"] else None
        if values["unit"] and unit is None and not any(e.startswith("Đơn vị") for e in errors):
            errors.append("Đơn vị: không có trong danh sách — hãy gõ vài chữ của tên đơn vị rồi chọn trong danh sách")
        contact = values["contact"]
        kind = None
        if contact:
            if EMAIL.match(contact):
                kind = "email"
            elif PHONE.match(contact) and 9 <= sum(c.isdigit() for c in contact) <= 15:
                kind = "phone"
            else:
                errors.append("Số điện thoại hoặc e-mail: không đúng dạng (ví dụ 0912 345 678 hoặc ten@example.vn)")
        if not values["consent"]:
            errors.append("Đồng ý đăng bài: hãy đánh dấu ô đồng ý để Công đoàn được đăng câu chuyện")
        uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and (f.filename or f.size)]
        if len(uploads) > PHOTOS_MAX:
            errors.append(f"Ảnh: tối đa {PHOTOS_MAX} ảnh")
        if any(isinstance(v, str) and v for v in form.getlist("photos")):
            errors.append("Ảnh: dữ liệu ảnh không hợp lệ")
        if errors:
            return submit_page(request, values, errors, 400)
        photos = []
        try:
            for i, up in enumerate(uploads, 1):
                if (up.size or 0) > PHOTO_BYTES_MAX:
                    raise PhotoError(f"ảnh lớn quá {PHOTO_BYTES_MAX // 1_000_000} MB: hãy gửi ảnh nhỏ hơn")
                try:  # read from the spooled file on the photo thread: 50 uploads do not hold 50 photos in memory
                    photos.append(await asyncio.wrap_future(PHOTO_POOL.submit(store_photo_file, cfg.intake_dir, up.file)))
                except PhotoError as exc:
                    raise PhotoError(f"Ảnh thứ {i} ({safe_name(up.filename)}): {exc}") from None
        except PhotoError as exc:
            remove_photos(photos)
            message = str(exc) if str(exc).startswith("Ảnh thứ") else f"Ảnh: {exc}"
            return submit_page(request, values, [message], 400)
        try:
            ref = await run_in_threadpool(save_submission, values, unit, kind, client, photos)
        except DuplicateError:
            remove_photos(photos)
            return submit_page(request, values, ["Bài này đã được gửi trước đó (cùng tiêu đề và nội dung); "
                                                 "Ban biên tập đang xem. Không cần gửi lại."], 409)
        except BaseException:
            remove_photos(photos)
            raise
        request.session["thanks"] = ref
        return RedirectResponse("/thanks", status_code=303)

    def remove_photos(photos: list[Any]) -> None:
        for p in photos:
            (cfg.intake_dir / p.stored_name).unlink(missing_ok=True)

    def save_submission(values: dict[str, Any], unit: str, kind: str | None, client: str, photos: list[Any]) -> str:
        fp = fingerprint(values["title"], values["body"])
        with cfg.store.session() as s:
            since = utcnow() - timedelta(days=DUPLICATE_DAYS)
            dup = s.exec(select(Submission.id).where(Submission.fingerprint == fp, Submission.created_at >= since,
                                                     Submission.state != SubmissionState.REJECTED)).first()
            if dup is not None:
                raise DuplicateError()
            ref = new_ref()
            sub = Submission(ref=ref, source="web", state=SubmissionState.NEW, title=values["title"],
                             body=values["body"], unit_id=unit, author_name=values["author_name"],
                             author_role=values["author_role"], contact_kind=kind,
                             contact_enc=cfg.box.encrypt(values["contact"]) if (values["contact"] and cfg.box) else None,
                             consent=True, fingerprint=fp, client=client, platforms=list(PLATFORMS))
            s.add(sub)
            s.flush()
            for i, p in enumerate(photos):
                s.add(SubmissionPhoto(submission_id=sub.id, position=i, stored_name=p.stored_name, width=p.width,
                                      height=p.height, size=p.size))
        return ref

    async def thanks(request: Request) -> Response:
        ref = request.session.get("thanks")
        if not isinstance(ref, str):
            return RedirectResponse("/submit", status_code=303)
        return page(request, "thanks.html", ref=ref)

    # -- staff: login

    async def login_get(request: Request) -> Response:
        return page(request, "login.html", error=None, name="")

    async def login_post(request: Request) -> Response:
        form = await read_form(request, max_files=0, max_fields=5, max_part_size=2_000)
        name = nfc(str(form.get("name") or ""))[:100]
        password = str(form.get("password") or "")[: security.PASSWORD_MAX + 1]
        if not security.csrf_ok(request.session, form.get("csrf")):
            return refusal(request, "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ (thiếu mã bảo vệ). "
                                    "Hãy tải lại trang đăng nhập.", 403)
        client = security.client_key(cfg.secret, client_address(request))
        result, user = await run_in_threadpool(security.check_login, cfg.store, name, password, client)
        if result != security.LoginResult.OK or user is None:
            message = {
                security.LoginResult.BAD: "Tên đăng nhập hoặc mật khẩu không đúng.",
                security.LoginResult.LOCKED: (f"Tài khoản tạm khóa {security.ACCOUNT_LOCK.seconds // 60} phút vì nhập sai "
                                              "mật khẩu nhiều lần. Hãy đợi rồi thử lại, hoặc nhờ quản trị đặt lại mật khẩu."),
                security.LoginResult.CLIENT_BLOCKED: "Có quá nhiều lần đăng nhập sai từ máy này. Hãy đợi 15 phút rồi thử lại.",
            }[result]
            status = 401 if result == security.LoginResult.BAD else 429
            return page(request, "login.html", status=status, error=message, name=name)
        request.session.clear()  # a new session at login: no fixation
        request.session.update(uid=user.id, pw=security.session_stamp(cfg.secret, user.password_hash), at=int(time.time()))
        return RedirectResponse("/review", status_code=303)

    async def logout(request: Request) -> Response:
        form = await read_form(request, max_files=0, max_fields=3, max_part_size=1_000)
        if security.csrf_ok(request.session, form.get("csrf")):
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- staff: review

    async def review_list(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user
        campaign = cfg.campaign()
        scope = subtree(campaign, user.unit_id)
        state = request.query_params.get("state", SubmissionState.NEW)
        if state not in (SubmissionState.NEW, SubmissionState.APPROVED, SubmissionState.REJECTED):
            state = SubmissionState.NEW

        def rows() -> list[Submission]:
            with cfg.store.session() as s:
                return list(s.exec(select(Submission).where(Submission.state == state, Submission.unit_id.in_(scope))
                                   .order_by(Submission.created_at.desc()).limit(200)).all())
        await run_in_threadpool(recover_stale)
        items = await run_in_threadpool(rows)
        return page(request, "review_list.html", items=items, state=state, units=campaign.unit_by_id,
                    unit=campaign.unit_by_id.get(user.unit_id))

    def load_item(user: StaffUser, sub_id: int) -> tuple[Submission, list[SubmissionPhoto]] | None:
        scope = subtree(cfg.campaign(), user.unit_id)
        with cfg.store.session() as s:
            sub = s.get(Submission, sub_id)
            if sub is None or sub.unit_id not in scope or sub.state == SubmissionState.DRAFT:
                return None
            photos = list(s.exec(select(SubmissionPhoto).where(SubmissionPhoto.submission_id == sub_id)
                                 .order_by(SubmissionPhoto.position)).all())
        return sub, photos

    def item_page(request: Request, sub: Submission, photos: list[SubmissionPhoto], errors: list[str] | None = None,
                  status: int = 200, notice: str | None = None) -> HTMLResponse:
        campaign = cfg.campaign()
        return page(request, "review_item.html", status=status, sub=sub, photos=photos, errors=errors or [],
                    notice=notice, kinds=[(k, KIND_LABELS[k]) for k in KINDS], audiences=AUDIENCES,
                    platforms=PLATFORMS, banners=sorted(campaign.banners), units=campaign.unit_by_id,
                    contact_label={"email": "e-mail", "phone": "số điện thoại", "zalo": "Zalo"}.get(sub.contact_kind or ""))

    async def review_item(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user
        found = await run_in_threadpool(load_item, user, request.path_params["sub_id"])
        if found is None:
            return refusal(request, "Không có bài này trong phạm vi đơn vị của bạn.", 404)
        return item_page(request, *found)

    async def review_post(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user
        form = await read_form(request, max_files=0, max_fields=20, max_part_size=200_000)
        if not security.csrf_ok(request.session, form.get("csrf")):
            return refusal(request, "Biểu mẫu không hợp lệ (thiếu mã bảo vệ). Hãy tải lại trang rồi làm lại.", 403)
        found = await run_in_threadpool(load_item, user, request.path_params["sub_id"])
        if found is None:
            return refusal(request, "Không có bài này trong phạm vi đơn vị của bạn: bạn không được duyệt bài của đơn vị khác.", 403)
        sub, photos = found
        if sub.state != SubmissionState.NEW:
            return item_page(request, sub, photos, ["Bài này đã được xử lý rồi."], 409)
        action = form.get("action")
        if action == "reject":
            reason = nfc(str(form.get("reason") or "")).strip()
            problem = text_problem("Lý do không đăng", reason, 5, REASON_MAX, multiline=True)
            if problem:
                return item_page(request, sub, photos, [problem], 400)
            await run_in_threadpool(decide_reject, sub.id, user, reason)
            return RedirectResponse("/review", status_code=303)
        if action != "approve":
            return item_page(request, sub, photos, ["Hãy chọn Duyệt đăng hoặc Không đăng."], 400)
        campaign = cfg.campaign()
        edited = {k: nfc(str(form.get(k) or "")).replace("\r\n", "\n").strip() for k in ("title", "body")}
        kind = str(form.get("kind") or "")
        audience = str(form.get("audience") or "")
        platforms = [p for p in form.getlist("platforms") if p in PLATFORMS]
        banner = str(form.get("banner") or "") or None
        errors = [e for e in (text_problem("Tiêu đề", edited["title"], TITLE_MIN, TITLE_MAX),
                              text_problem("Nội dung", edited["body"], BODY_MIN, BODY_MAX, multiline=True)) if e]
        if kind not in KINDS:
            errors.append("Loại bài: hãy chọn trong danh sách")
        if audience not in AUDIENCES:
            errors.append("Phạm vi đăng: hãy chọn trong danh sách")
        if not platforms:
            errors.append("Nền tảng: chọn ít nhất Facebook hoặc Zalo")
        if banner is not None and banner not in campaign.banners:
            errors.append("Mẫu banner: hãy chọn trong danh sách")
        if errors:
            sub.title, sub.body = edited["title"], edited["body"]
            return item_page(request, sub, photos, errors, 400)
        try:
            written = await run_in_threadpool(decide_approve, campaign, sub, photos, user, edited, kind, audience,
                                              platforms, banner)
        except PublishError as exc:
            return item_page(request, sub, photos, [f"Chưa duyệt được: {exc}"], 400)
        return page(request, "approved.html", sub=sub, written=written)

    def claim(sub_id: int, user: StaffUser, to: str) -> bool:
        from sqlalchemy import update

        with cfg.store.session() as s:
            row = s.execute(update(Submission).where(Submission.id == sub_id, Submission.state == SubmissionState.NEW)
                            .values(state=to, reviewed_by=user.display_name, reviewed_at=utcnow(), updated_at=utcnow())
                            .returning(Submission.id)).first()
            return row is not None

    def recover_stale() -> None:
        """An approval cut off by a crash (state ``approving`` for 10 minutes): approved if its file is in
        content/ (found by its reference number), else back in the queue — never approved twice."""
        from bot.vn import slug
        from bot.web.publish import FOLDER

        cutoff = utcnow() - timedelta(minutes=10)
        with cfg.store.session() as s:
            for row in s.exec(select(Submission).where(Submission.state == "approving", Submission.updated_at < cutoff)):
                found = sorted((cfg.workspace / "content" / FOLDER).glob(f"*-{slug(row.ref, 20)}.md"))
                if found:
                    rel = found[0].relative_to(cfg.workspace / "content").with_suffix("").as_posix()
                    row.state, row.content_id, row.story_path = SubmissionState.APPROVED, rel, f"content/{rel}.md"
                    s.add(SubmitterNotice(submission_id=row.id, kind="published", detail={"content_id": rel}))
                else:
                    row.state, row.reviewed_by, row.reviewed_at = SubmissionState.NEW, None, None
                row.updated_at = utcnow()
                s.add(row)

    def decide_reject(sub_id: int, user: StaffUser, reason: str) -> None:
        if not claim(sub_id, user, SubmissionState.REJECTED):
            return
        with cfg.store.session() as s:
            sub = s.get(Submission, sub_id)
            sub.reason = reason
            s.add(sub)
            s.add(SubmitterNotice(submission_id=sub_id, kind="rejected"))
        cfg.store.audit("intake.reject", sub.ref, actor=user.display_name)

    def decide_approve(campaign: Campaign, sub: Submission, photos: list[SubmissionPhoto], user: StaffUser,
                       edited: dict[str, str], kind: str, audience: str, platforms: list[str],
                       banner: str | None) -> Written:
        if not claim(sub.id, user, "approving"):
            raise PublishError("bài này đang được người khác duyệt hoặc đã được xử lý")
        try:
            body = edited["body"]
            byline = f"Tác giả: {sub.author_name}" + (f", {sub.author_role}" if sub.author_role else "")
            if sub.author_name and byline not in body:
                body = body.rstrip() + "\n\n" + byline
            files = [cfg.intake_dir / p.stored_name for p in photos]
            written = write_story(campaign, ref=sub.ref, title=edited["title"], body=body, kind=kind, unit=sub.unit_id,
                                  audience=audience, platforms=platforms, banner=banner,
                                  approved_by=user.display_name, approved_at=utcnow().astimezone(campaign.tz),
                                  photos=files, git_author=(user.display_name, f"{user.name}@campaign-bot.invalid"))
        except BaseException:
            with cfg.store.session() as s:
                row = s.get(Submission, sub.id)
                row.state, row.reviewed_by, row.reviewed_at = SubmissionState.NEW, None, None
                s.add(row)
            raise
        with cfg.store.session() as s:
            row = s.get(Submission, sub.id)
            row.state = SubmissionState.APPROVED
            row.title, row.body, row.kind, row.audience = edited["title"], edited["body"], kind, audience
            row.platforms, row.banner = platforms, banner
            row.content_id, row.story_path = written.content_id, written.story_path
            s.add(row)
            s.add(SubmitterNotice(submission_id=sub.id, kind="published", detail={"content_id": written.content_id}))
        cfg.store.audit("intake.approve", sub.ref, actor=user.display_name, file=written.story_path,
                        committed=written.committed)
        return written

    async def photo(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user

        def find() -> Path | None:
            with cfg.store.session() as s:
                p = s.get(SubmissionPhoto, request.path_params["photo_id"])
            if p is None or load_item(user, p.submission_id) is None:
                return None
            return photo_path(cfg.intake_dir, p.stored_name)
        path = await run_in_threadpool(find)
        if path is None:
            return refusal(request, "Không có ảnh này trong phạm vi đơn vị của bạn.", 404)
        return FileResponse(path, media_type="image/jpeg", headers={"cache-control": "private, no-store"})

    async def dashboard(request: Request) -> Response:
        user = await staff(request)
        if isinstance(user, Response):
            return user
        from bot.web.dashboard import figures

        campaign = cfg.campaign()
        data = await run_in_threadpool(figures, cfg.store, campaign, subtree(campaign, user.unit_id))
        return page(request, "dashboard.html", data=data, unit=campaign.unit_by_id.get(user.unit_id))

    async def zalo_webhook(request: Request) -> Response:
        from bot.web.zalo_inbox import handle_webhook

        try:
            body = await request.body()
        except security.BodyTooLarge:
            return JSONResponse({"error": "quá lớn"}, status_code=413)
        status, answer = await run_in_threadpool(handle_webhook, cfg, dict(request.headers), body)
        return JSONResponse(answer, status_code=status)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204, headers={"cache-control": "max-age=86400"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", None)
        messages = {404: "Không có trang này.", 405: "Trang này không nhận cách gửi đó."}
        text = detail if isinstance(detail, str) and status in (400, 413) else messages.get(status, "Yêu cầu không hợp lệ.")
        if "session" not in request.scope:
            return HTMLResponse(f"<!doctype html><html lang=\"vi\"><title>Lỗi</title><p>{text}</p></html>", status_code=status)
        return refusal(request, text, status)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("lỗi khi phục vụ %s: %s", request.url.path, type(exc).__name__)
        log.debug("chi tiết", exc_info=exc)  # the traceback only with -vv, never in a page
        return HTMLResponse("<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Lỗi</title></head>"
                            "<body><main><h1>Có lỗi trong máy chủ</h1><p>Bài chưa được lưu. Hãy thử lại sau ít phút; "
                            "nếu vẫn lỗi, báo cho bộ phận kỹ thuật của Liên đoàn.</p></main></body></html>", status_code=500)

    routes = [
        Route("/", home),
        Route("/submit", submit_get, methods=["GET"]),
        Route("/submit", submit_post, methods=["POST"]),
        Route("/thanks", thanks),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/review", review_list),
        Route("/review/{sub_id:int}", review_item, methods=["GET"]),
        Route("/review/{sub_id:int}", review_post, methods=["POST"]),
        Route("/review/photo/{photo_id:int}", photo),
        Route("/dashboard", dashboard),
        *dashboard_pages.routes(cfg, staff, page, subtree),
        Route("/webhooks/zalo", zalo_webhook, methods=["POST"]),
        Route("/healthz", health),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(security.GuardMiddleware, max_body=MAX_BODY, max_small=512_000, hsts=cfg.secure_cookies),
        Middleware(SessionMiddleware, secret_key=session_secret(cfg.env.get("CAMPAIGN_SECRET_KEY", "")),
                   session_cookie="cb_session", max_age=SESSION_HOURS * 3600, same_site="strict",
                   https_only=cfg.secure_cookies),
    ]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: http_error, Exception: server_error})


class DuplicateError(Exception):
    pass

