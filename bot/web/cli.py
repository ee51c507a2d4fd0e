"""`campaign-bot serve` and `campaign-bot users` (issue 19). Registered by bot.cli through ``commands``."""

from __future__ import annotations

import sys
import threading
from typing import Any

import click

from bot.vn import nfc


def build_config(obj: Any, *, secure_cookies: bool = True) -> Any:
    """The web configuration of a workspace; exits with a Vietnamese message when the key is missing."""
    from bot.secretbox import SecretBoxError, from_env
    from bot.web.app import WebConfig
    from bot.web.security import parse_rate

    env = obj.env
    try:
        box = from_env(env)
    except SecretBoxError as exc:
        click.secho(f"✗ {exc.message.replace('bot không thể lưu token Zalo một cách an toàn', 'trang gửi bài cần khoá này để ký phiên đăng nhập và mã hoá liên hệ của người gửi')}", fg="red", err=True)
        click.echo(f"  → cách sửa: {exc.fix}", err=True)
        sys.exit(1)
    obj.campaign  # noqa: B018 - a folder that does not load stops here, with its problems listed
    import hashlib

    secret = hashlib.sha256(("campaign-bot/web/client/" + env["CAMPAIGN_SECRET_KEY"]).encode()).digest()
    return WebConfig(workspace=obj.workspace, store=obj.store, env=env, secure_cookies=secure_cookies, box=box,
                     secret=secret, submit_rate=parse_rate(env.get("CAMPAIGN_SUBMIT_RATE"), (5, 600.0)))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Địa chỉ lắng nghe (mặc định chỉ máy này; đặt nginx phía trước).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Cổng.")
@click.option("--insecure-cookies", is_flag=True,
              help="Cho phép cookie qua http thường (chỉ để thử trên máy này; chạy thật luôn qua HTTPS).")
@click.pass_obj
def serve_cmd(obj: Any, host: str, port: int, insecure_cookies: bool) -> None:
    """Chạy trang gửi bài, hộp thư Zalo OA và trang duyệt bài cho cán bộ."""
    import uvicorn

    from bot.web.app import create_app
    from bot.web.notices import notice_loop

    cfg = build_config(obj, secure_cookies=not insecure_cookies)
    app = create_app(cfg)
    stop = threading.Event()
    threading.Thread(target=notice_loop, args=(cfg, stop), daemon=True, name="thong-bao").start()
    click.echo(f"Trang gửi bài: http://{host}:{port}/submit · duyệt bài: http://{host}:{port}/review")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho("⚠ Đang mở ra ngoài máy này: hãy đặt nginx với HTTPS phía trước (xem README).", fg="yellow")
    try:
        uvicorn.run(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                    server_header=False, date_header=False, timeout_keep_alive=5, limit_concurrency=200,
                    log_level="warning", access_log=False)
    finally:
        stop.set()


@click.group("users")
def users_group() -> None:
    """Tài khoản cán bộ duyệt bài (mật khẩu lưu dạng băm Argon2)."""


@users_group.command("add")
@click.argument("name")
@click.option("--unit", "unit_id", required=True, help="Mã đơn vị: cán bộ thấy bài của đơn vị này và các đơn vị cấp dưới.")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer", show_default=True, help="Vai trò.")
@click.option("--display-name", default=None, help="Tên hiển thị (ghi vào approved_by); mặc định là NAME.")
@click.option("--password-stdin", is_flag=True, help="Đọc mật khẩu từ đầu vào chuẩn (cho script).")
@click.option("--generate", is_flag=True, help="Tạo mật khẩu ngẫu nhiên và in ra một lần.")
@click.pass_obj
def users_add(obj: Any, name: str, unit_id: str, role: str, display_name: str | None, password_stdin: bool,
              generate: bool) -> None:
    """Thêm một cán bộ duyệt bài."""
    from bot.web.security import add_user, generate_password, normalize_name, password_problem

    key = normalize_name(name)
    if not key or len(key) > 100 or any(c.isspace() for c in key):
        click.secho("✗ Tên đăng nhập phải liền, không dấu cách, tối đa 100 ký tự (ví dụ: hoa.nguyen).", fg="red", err=True)
        sys.exit(2)
    if unit_id not in obj.campaign.unit_by_id:
        from bot.messages import did_you_mean

        hint = did_you_mean(unit_id, list(obj.campaign.unit_by_id))
        click.secho(f"✗ Không có đơn vị '{unit_id}' trong config/units.yaml" + (f"; có phải ý bạn là '{hint}'?" if hint else "."),
                    fg="red", err=True)
        sys.exit(2)
    shown = None
    if generate:
        password = shown = generate_password()
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Mật khẩu", hide_input=True, confirmation_prompt="Nhập lại mật khẩu")
    if (problem := password_problem(password)) is not None:
        click.secho(f"✗ {problem}.", fg="red", err=True)
        sys.exit(2)
    if not add_user(obj.store, name=key, display_name=nfc(display_name or name)[:200], unit_id=unit_id, role=role,
                    password=password):
        click.secho(f"✗ Đã có tài khoản '{key}'.", fg="red", err=True)
        sys.exit(2)
    obj.store.audit("intake.user_add", key, actor="cli", unit=unit_id, role=role)
    click.secho(f"✓ Đã thêm {key} ({role}, đơn vị {unit_id}).", fg="green")
    if shown:
        click.echo(f"  Mật khẩu (chỉ hiện một lần, hãy chuyển cho người dùng): {shown}")


@users_group.command("list")
@click.pass_obj
def users_list(obj: Any) -> None:
    """Danh sách cán bộ duyệt bài."""
    from bot.web.security import list_users

    users = list_users(obj.store)
    if not users:
        click.echo("Chưa có tài khoản nào. Thêm bằng: campaign-bot users add TÊN --unit MÃ_ĐƠN_VỊ")
    for u in users:
        state = "đang dùng" if u.active else "đã khoá"
        click.echo(f"{u.name:<24} {u.role:<9} {u.unit_id:<24} {state}")


commands = [serve_cmd, users_group]
