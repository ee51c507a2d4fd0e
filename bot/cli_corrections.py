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
from typing import TYPE_CHECKING, Any

import click
from sqlmodel import Session

from bot.corrections import ACTION_LABELS, Planned, history, plan_corrections, withdraw_in_store, write_withdrawn
from bot.store import utcnow
from bot.vn import ngay_gio

if TYPE_CHECKING:  # bot.cli imports this module to register its commands
    from bot.cli import Ctx

LABELS = {**ACTION_LABELS, "cancel": "huỷ lượt chưa đăng", "check": "kiểm tra trên nền tảng rồi huỷ hoặc gỡ"}
PLATFORMS = {"facebook": "Facebook", "zalo": "Zalo"}


def _unit(obj: Ctx, uid: str) -> str:
    u = obj.campaign.unit_by_id.get(uid)
    return (u.short_name or u.name) if u else uid


def _print_plan(obj: Ctx, planned: list[Planned], dry_run: bool) -> None:
    tz = obj.campaign.tz
    if not planned:
        click.echo("Không có bài nào cần sửa hay gỡ.")
        return
    verb = "Sẽ" if dry_run else "Đã xếp lịch"
    click.echo(f"{verb} thay đổi {len(planned)} lượt đăng:")
    for p in planned:
        where = f"{_unit(obj, p.unit_id)} · {PLATFORMS.get(p.platform, p.platform)}"
        when = f"đăng lúc {ngay_gio(p.posted_at, tz)}" if p.posted_at else "chưa đăng"
        click.echo(f"  • {p.content_id} — {where} — {p.url or p.post_id or '(chưa có bài)'} — {when}")
        click.echo(f"      → {LABELS.get(p.action, p.action)} ({p.why})")
        for note in p.notes:
            click.echo(f"      ! {note}")
    if dry_run:
        click.echo("Chạy thử (--dry-run): chưa thay đổi gì, không ghi tệp nào.")
    else:
        click.echo("Bot sẽ thực hiện ở lượt chạy tới (campaign-bot run, tick hoặc worker); xem kết quả bằng "
                   "`campaign-bot history MÃ_BÀI`.")


def _dry(obj: Ctx, work: Any) -> list[Planned]:
    """Run ``work(session)`` on the store and roll everything back."""
    from bot.store.sync import sync_session

    with Session(obj.store.engine) as s:
        try:
            sync_session(s, obj.campaign, actor="dry-run")
            return work(s)
        finally:
            s.rollback()


@click.command()
@click.argument("content_id")
@click.option("--reason", required=True, metavar="LÝ_DO", help="Vì sao rút bài (ghi vào tệp và lịch sử).")
@click.option("--dry-run", is_flag=True, help="Chỉ liệt kê những bài sẽ bị gỡ; không thay đổi gì.")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def withdraw(obj: Ctx, content_id: str, reason: str, dry_run: bool, as_json: bool) -> None:
    """Rút một bài: gỡ khỏi mọi Trang/OA đã đăng và huỷ các lượt chưa đăng."""
    from bot.store.models import ContentItem
    from bot.store.sync import sync_campaign

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

    if dry_run:
        def work(s: Session) -> list[Planned]:
            try:
                withdraw_in_store(s, content_id, reason, now, actor="cli")
            except KeyError:
                missing()
            s.flush()
            return plan_corrections(s, obj.campaign, now, apply=False, only=content_id)

        planned = _dry(obj, work)
    else:
        sync_campaign(obj.campaign, obj.store)
        with obj.store.session() as s:
            row = s.get(ContentItem, content_id)
            if row is None:
                missing()
            assert row is not None
            source = row.source
        if source:
            path = obj.workspace / source
            try:
                write_withdrawn(path, reason)
            except (OSError, ValueError) as exc:
                click.secho(f"Không ghi được vào {source}: {exc}", fg="red", err=True)
                sys.exit(1)
        with obj.store.session() as s:
            withdraw_in_store(s, content_id, reason, now, actor="cli")
            s.flush()
            planned = plan_corrections(s, obj.campaign, now, apply=True, only=content_id, actor="cli")
        if source and not as_json:
            click.echo(f"Đã ghi 'withdrawn: \"{reason}\"' vào {source}.")
    if as_json:
        from bot.cli import emit_json

        emit_json([p.as_dict() for p in planned])
        return
    _print_plan(obj, planned, dry_run)


@click.command()
@click.option("--dry-run", is_flag=True, help="Chỉ liệt kê những bài sẽ được sửa/gỡ; không thay đổi gì.")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def corrections(obj: Ctx, dry_run: bool, as_json: bool) -> None:
    """Sửa hoặc gỡ các bài đã đăng khi tệp bài đổi (theo corrections: trong config/campaign.yaml) hay bị rút."""
    from bot.store.sync import sync_campaign

    now = utcnow()
    if dry_run:
        planned = _dry(obj, lambda s: plan_corrections(s, obj.campaign, now, apply=False))
    else:
        sync_campaign(obj.campaign, obj.store)
        with obj.store.session() as s:
            planned = plan_corrections(s, obj.campaign, now, apply=True, actor="cli")
    if as_json:
        from bot.cli import emit_json

        emit_json([p.as_dict() for p in planned])
        return
    _print_plan(obj, planned, dry_run)


STATE_WORDS = {"pending": "chờ", "retry": "chờ thử lại", "sending": "đang làm", "done": "xong", "failed": "LỖI",
               "skipped": "không làm"}


@click.command(name="history")
@click.argument("content_id")
@click.option("--json", "as_json", is_flag=True, help="In dạng JSON.")
@click.pass_obj
def history_cmd(obj: Ctx, content_id: str, as_json: bool) -> None:
    """Lịch sử mọi bài đăng của một bài: đăng, sửa (khi nào, phiên bản nào), gỡ (khi nào, vì sao)."""
    from bot.store.models import ContentItem

    content_id = content_id.removeprefix("content/").removesuffix(".md")
    with obj.store.session() as s:
        row = s.get(ContentItem, content_id)
        posts = history(s, content_id)
    if row is None:
        click.secho(f"Không có bài '{content_id}' trong dữ liệu | cách sửa: mã bài là đường dẫn tệp trong content/ "
                    "không có đuôi .md.", fg="red", err=True)
        sys.exit(2)
    if as_json:
        from bot.cli import emit_json

        emit_json({"content": content_id, "version": row.version, "withdrawn": row.withdrawn,
                   "withdrawn_at": row.withdrawn_at, "posts": posts})
        return
    tz = obj.campaign.tz
    click.echo(f"{content_id} — {row.title} (phiên bản {row.version})")
    if row.withdrawn:
        click.secho(f"ĐÃ RÚT lúc {ngay_gio(row.withdrawn_at, tz)}: {row.withdrawn}", fg="yellow")
    for p in posts:
        where = f"{_unit(obj, p['unit'])} · {PLATFORMS.get(p['platform'], p['platform'])}"
        if p["posted_at"]:
            line = f"  • {where}: đăng lúc {ngay_gio(p['posted_at'], tz)} — {p['url'] or p['post_id']}"
        else:
            line = f"  • {where}: {p['state']}" + (f" ({p['reason']})" if p["reason"] else "")
        click.echo(line)
        for e in p["events"]:
            text = f"      {LABELS.get(e['action'], e['action'])} (phiên bản {e['version']}): " \
                   f"{STATE_WORDS.get(e['state'], e['state'])}"
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


# --- the part of `campaign-bot status` about corrections and withdrawals -------------------------


def status_section(store: Any) -> dict[str, Any]:
    """Edits, reposts and removals by state; those refused or waiting, with the reason; withdrawn items."""
    from sqlmodel import col, select

    from bot.store.models import ContentItem, PostAction

    with store.session() as s:
        acts = s.exec(select(PostAction).order_by(col(PostAction.id))).all()
        withdrawn = s.exec(select(ContentItem).where(col(ContentItem.withdrawn).is_not(None))).all()
    counts: dict[str, dict[str, int]] = {}
    for a in acts:
        counts.setdefault(a.action, {}).setdefault(a.state, 0)
        counts[a.action][a.state] += 1
    attention = [{"id": a.id, "content": a.content_id, "channel": a.channel_id, "action": a.action,
                  "state": a.state, "reason": a.reason, "why": a.why}
                 for a in acts if a.state in ("failed", "pending", "retry", "sending")]
    return {"counts": counts, "attention": attention,
            "withdrawn": [{"content": c.id, "reason": c.withdrawn, "at": c.withdrawn_at} for c in withdrawn]}


def print_status_section(data: dict[str, Any] | None, campaign: Any) -> None:
    if not data or not (data["counts"] or data["withdrawn"]):
        return
    click.echo("Sửa/gỡ bài đã đăng:")
    for action, states in sorted(data["counts"].items()):
        parts = ", ".join(f"{STATE_WORDS.get(k, k)} {v}" for k, v in sorted(states.items()))
        click.echo(f"  {LABELS.get(action, action)}: {parts}")
    for w in data["withdrawn"]:
        click.echo(f"  đã rút {w['content']} lúc {ngay_gio(w['at'], campaign.tz)}: {w['reason']}")
    for a in data["attention"]:
        mark = "✗" if a["state"] == "failed" else "…"
        click.echo(f"  {mark} {LABELS.get(a['action'], a['action'])} {a['content']} trên {a['channel']}: "
                   f"{STATE_WORDS.get(a['state'], a['state'])}" + (f" — {a['reason']}" if a["reason"] else ""))
