"""`campaign-bot channels`: each channel's token checked on its platform (which Page or OA, which
permissions, when it expires), the held and paused channels, and their release (``--release``)."""

from __future__ import annotations

from typing import Any

import click

from bot import channel_admin
from bot.channels import spec
from bot.cli.common import Ctx, emit_json
from bot.messages import yes_no
from bot.store import utcnow
from bot.vn import ngay_gio

DETAIL_LABELS = {
    "page_name": "Trang",
    "token_type": "loại token",
    "permissions": "quyền",
    "missing_permissions": "THIẾU quyền",
    "expires": "hết hạn",
    "data_access_expires_at": "quyền đọc dữ liệu hết hạn",
    "can_read_posts": "đọc được bài đã đăng (để đối soát)",
    "note": "ghi chú",
    "outbox": "thư mục outbox",
    "oa_name": "OA",
    "verified": "đã xác thực",
    "broadcast": "gửi tới người quan tâm",
    "access_expires_at": "access token hết hạn",
    "token_state": "trạng thái token",
}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.option("--release", metavar="KÊNH", multiple=True, help="Mở lại một kênh đang bị tạm giữ (sau khi đã sửa).")
@click.option("--offline", is_flag=True, help="Không gọi nền tảng; chỉ in trạng thái lưu trong dữ liệu.")
@click.pass_obj
def channels(obj: Ctx, as_json: bool, release: tuple[str, ...], offline: bool) -> None:
    """Kiểm tra token từng kênh (Trang nào, quyền gì, hết hạn khi nào) và các kênh bị tạm giữ."""
    from bot.channels import ChannelContext
    from bot.files import env_warning
    from bot.store.sync import sync_campaign

    if warning := env_warning(obj.workspace):
        click.secho(warning, fg="yellow", err=True)
    sync_campaign(obj.campaign, obj.store)
    if release:
        unknown = channel_admin.release(obj.store, release)
        if unknown:
            raise click.BadParameter(f"không có kênh '{unknown[0]}' (dạng: <mã đơn vị>/<{'|'.join(spec.names())}>)")
        for cid in release:
            click.echo(f"Đã mở lại kênh {cid}.")
    ctx = ChannelContext(obj.workspace, obj.store, obj.env, obj.campaign)
    now = utcnow()
    out = [channel_admin.check_channel(row, ctx, obj.env, now, offline=offline)
           for row in channel_admin.active_channels(obj.store)]
    if as_json:
        emit_json(out)
        return
    for e in out:
        print_channel(e, obj.campaign.tz)


def print_channel(e: dict[str, Any], tz: Any) -> None:
    """One channel for people: the account, the token's details, a hold or a pause, and the fix."""
    mark = "⚠" if e["held"] or e.get("ok") is False else "✓"
    line = f"{mark} {e['channel']:<32} {e.get('mode', e['platform']):<9}"
    if e.get("account_name"):
        line += f" {e['account_name']}"
    click.echo(line)
    click.echo(f"    {e['describe']}")
    for key, value in (e.get("details") or {}).items():
        if value not in (None, "", [], {}):
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
            click.echo(f"    {DETAIL_LABELS.get(key, key)}: {yes_no(shown)}")
    if e["held"]:
        click.secho(f"    TẠM GIỮ từ {ngay_gio(e.get('held_at'), tz)}: {e.get('reason')}", fg="yellow")
    elif e.get("problem"):
        click.echo(f"    {e['problem']}")
    if e.get("fix") and (e["held"] or e.get("ok") is False):
        click.echo(f"    → cách sửa: {e['fix']}")
    if e.get("paused_until"):
        click.echo(f"    tạm dừng đến {ngay_gio(e['paused_until'], tz)}: {e.get('pause_reason')}")

commands = [channels]
