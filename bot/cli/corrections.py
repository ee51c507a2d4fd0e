"""`campaign-bot withdraw`, `campaign-bot corrections` and `campaign-bot history` (issue 16).

* ``withdraw CONTENT_ID --reason "…"`` writes ``withdrawn: "…"`` into the story's front matter (a
  milestone announcement, which has no file, is withdrawn in the store by its id), cancels its pending
  deliveries and queues the removal of every post; the worker removes them (``run``/``tick``/``worker``).
* ``corrections`` lists (and queues) every post that must be edited, reposted or removed because its
  item changed or was withdrawn.
* ``--dry-run`` on both lists every post that would change (unit, platform, link, when it was posted)
  and changes nothing: the sync and the plan run in a transaction that is rolled back, no file is written.
* ``history CONTENT_ID`` shows every post of an item: posted, edited (when, which version), removed
  (when, why, by whom), refused (the platform's words and the link).
"""

from __future__ import annotations

import sys

import click

from bot import corrections as corrections_api
from bot.cli.common import Ctx, emit_json
from bot.corrections import Planned, write_withdrawn
from bot.messages import CORRECTION_LABELS, CORRECTION_STATES
from bot.reports import platform_label
from bot.store import utcnow
from bot.vn import ngay_gio


def _print_plan(obj: Ctx, planned: list[Planned], dry_run: bool) -> None:
    tz = obj.campaign.tz
    if not planned:
        click.echo("Không có bài nào cần sửa hay gỡ.")
        return
    verb = "Sẽ" if dry_run else "Đã xếp lịch"
    click.echo(f"{verb} thay đổi {len(planned)} lượt đăng:")
    for p in planned:
        where = f"{obj.unit_name(p.unit_id)} · {platform_label(p.platform)}"
        when = f"đăng lúc {ngay_gio(p.posted_at, tz)}" if p.posted_at else "chưa đăng"
        click.echo(f"  • {p.content_id} — {where} — {p.url or p.post_id or '(chưa có bài)'} — {when}")
        click.echo(f"      → {CORRECTION_LABELS.get(p.action, p.action)} ({p.why})")
        for note in p.notes:
            click.echo(f"      ! {note}")
    if dry_run:
        click.echo("Chạy thử (--dry-run): chưa thay đổi gì, không ghi tệp nào.")
    else:
        click.echo("Bot sẽ thực hiện ở lượt chạy tới (campaign-bot run, tick hoặc worker); xem kết quả bằng "
                   "`campaign-bot history MÃ_BÀI`.")


@click.command()
@click.argument("content_id")
@click.option("--reason", required=True, metavar="LÝ_DO", help="Vì sao rút bài (ghi vào tệp và lịch sử).")
@click.option("--dry-run", is_flag=True, help="Chỉ liệt kê những bài sẽ bị gỡ; không thay đổi gì.")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def withdraw(obj: Ctx, content_id: str, reason: str, dry_run: bool, as_json: bool) -> None:
    """Rút một bài: gỡ khỏi mọi Trang/OA đã đăng và huỷ các lượt chưa đăng."""
    reason = " ".join(reason.split())
    if not reason:
        click.secho("Lý do rút bài không được để trống | cách sửa: thêm --reason \"…\"", fg="red", err=True)
        sys.exit(2)
    content_id = content_id.removeprefix("content/").removesuffix(".md")
    now = utcnow()

    def missing() -> None:
        click.secho(f"Không có bài '{content_id}' trong dữ liệu | cách sửa: mã bài là đường dẫn tệp trong content/ "
                    "không có đuôi .md (ví dụ: huyen-a/2026-11-sang-kien), hoặc mã thông báo cột mốc "
                    "(milestone/…) như trong `campaign-bot status`.", fg="red", err=True)
        sys.exit(2)

    try:
        if dry_run:
            planned = corrections_api.withdraw(obj.store, obj.campaign, content_id, reason, now, apply=False)
        else:
            source = corrections_api.content_source(obj.store, obj.campaign, content_id)
            if source:
                try:
                    write_withdrawn(obj.workspace / source, reason)
                except (OSError, ValueError) as exc:
                    click.secho(f"Không ghi được vào {source}: {exc}", fg="red", err=True)
                    sys.exit(1)
            planned = corrections_api.withdraw(obj.store, obj.campaign, content_id, reason, now, apply=True)
            if source and not as_json:
                click.echo(f"Đã ghi 'withdrawn: \"{reason}\"' vào {source}.")
    except corrections_api.UnknownContent:
        missing()
        return
    if as_json:
        emit_json([p.as_dict() for p in planned])
        return
    _print_plan(obj, planned, dry_run)


@click.command()
@click.option("--dry-run", is_flag=True, help="Chỉ liệt kê những bài sẽ được sửa/gỡ; không thay đổi gì.")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def corrections(obj: Ctx, dry_run: bool, as_json: bool) -> None:
    """Sửa hoặc gỡ các bài đã đăng khi tệp bài đổi (theo corrections: trong config/campaign.yaml) hay bị rút."""
    planned = corrections_api.corrections_due(obj.store, obj.campaign, utcnow(), apply=not dry_run)
    if as_json:
        emit_json([p.as_dict() for p in planned])
        return
    _print_plan(obj, planned, dry_run)


@click.command(name="history")
@click.argument("content_id")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def history_cmd(obj: Ctx, content_id: str, as_json: bool) -> None:
    """Lịch sử mọi bài đăng của một bài: đăng, sửa (khi nào, phiên bản nào), gỡ (khi nào, vì sao)."""
    content_id = content_id.removeprefix("content/").removesuffix(".md")
    try:
        row, posts = corrections_api.content_history(obj.store, content_id)
    except corrections_api.UnknownContent:
        click.secho(f"Không có bài '{content_id}' trong dữ liệu | cách sửa: mã bài là đường dẫn tệp trong content/ "
                    "không có đuôi .md.", fg="red", err=True)
        sys.exit(2)
    if as_json:
        emit_json({"content": content_id, "version": row["version"], "withdrawn": row["withdrawn"],
                   "withdrawn_at": row["withdrawn_at"], "posts": posts})
        return
    tz = obj.campaign.tz
    click.echo(f"{content_id} — {row['title']} (phiên bản {row['version']})")
    if row["withdrawn"]:
        click.secho(f"ĐÃ RÚT lúc {ngay_gio(row['withdrawn_at'], tz)}: {row['withdrawn']}", fg="yellow")
    for p in posts:
        where = f"{obj.unit_name(p['unit'])} · {platform_label(p['platform'])}"
        if p["posted_at"]:
            line = f"  • {where}: đăng lúc {ngay_gio(p['posted_at'], tz)} — {p['url'] or p['post_id']}"
        else:
            line = f"  • {where}: {p['state']}" + (f" ({p['reason']})" if p["reason"] else "")
        click.echo(line)
        for e in p["events"]:
            text = f"      {CORRECTION_LABELS.get(e['action'], e['action'])} (phiên bản {e['version']}): " \
                   f"{CORRECTION_STATES.get(e['state'], e['state'])}"
            if e["state"] in ("done", "failed"):
                text += f" lúc {ngay_gio(e['at'], tz)}"
            if e["why"]:
                text += f" — {e['why']}"
            if e["by"] and e["by"] != "bot":
                text += f" (lệnh của {e['by']})"
            click.echo(text)
            if e["reason"]:
                click.echo(f"        {e['reason']}")
            for note in e["notes"]:
                click.echo(f"        ! {note}")
        if p["removed_at"] and not any(e["action"] == "remove" for e in p["events"]):
            click.echo(f"      đã gỡ lúc {ngay_gio(p['removed_at'], tz)}")


commands = [withdraw, corrections, history_cmd]
