"""The preview written as a static site: ``index.html``, ``data.json``, the images beside the page
(``anh/``) and the stylesheet; or, when the folder does not load, a page that lists its problems."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from bot.files import OutputFolder
from bot.load import Problem
from bot.reports import STATIC, atomic_write_text, copy_static, environment, level_label, script_hash
from bot.vn import ngay_gio

if TYPE_CHECKING:
    from bot.reports.preview import Card, Preview


PREVIEW_SCRIPT = "preview.js"


def _copy_images(cards: list[Card], out: Path) -> None:
    # Only files an earlier preview wrote (its manifest) are ever deleted, and nothing is written
    # through a symlink out of ``out`` (bot.files.OutputFolder).
    output = OutputFolder(out, out)
    output.check()
    copied: dict[Path, str] = {}
    for c in cards:
        c.images = []
        for src in c.sources:
            if src not in copied:
                data = src.read_bytes()
                name = f"anh/{hashlib.sha256(data).hexdigest()[:16]}{src.suffix.lower()}"
                if name not in output.written:
                    output.write(name, data)
                copied[src] = name
            c.images.append(copied[src])
    output.remove_old("anh", keep=output.written)
    output.save_manifest()


def _until(ends: list[datetime], tz: Any) -> str:
    """"06:30 24/11/2026" or "06:30 24/11/2026, 06:30 25/11/2026 …": when the posts held by quiet hours go."""
    if not ends:
        return ""
    shown = ", ".join(ngay_gio(e, tz) for e in ends[:3])
    return shown + (" …" if len(ends) > 3 else "")


def write_preview(p: Preview, out: Path, notice: list[str] | None = None) -> Path:
    """Write ``index.html`` (and ``data.json``, ``anh/``, ``static/``) into ``out``. ``notice``: the folder's
    errors when the preview runs on the last good version kept in the store (issue 11)."""
    out.mkdir(parents=True, exist_ok=True)
    copy_static(out)
    _copy_images(p.cards, out)
    script = (STATIC / PREVIEW_SCRIPT).read_text(encoding="utf-8")
    tz = p.campaign.tz
    units = [(u.id, u.short_name or u.name) for u in p.campaign.units if u.channels]
    reasons = Counter(e.reason for e in p.empties)
    html = environment(tz).get_template("preview.html").render(
        p=p,
        c=p.campaign.config,
        units=units,
        levels={u.id: level_label(u.level) for u in p.campaign.units},
        reasons=reasons.most_common(),
        delayed=sum(1 for c in p.cards if c.quiet_wait is not None),
        delayed_until=_until(sorted({c.quiet_wait for c in p.cards if c.quiet_wait is not None}), tz),
        milestone_cards=sum(1 for c in p.cards if c.kind == "milestone"),
        script=Markup(script),
        csp_script=script_hash(script),
        quiet=p.campaign.settings.quiet_hours,
        cap=p.campaign.settings.daily_cap,
        folder_notice=notice or [],
    )
    atomic_write_text(out / "index.html", html)
    atomic_write_text(out / "data.json", json.dumps(p.summary(), ensure_ascii=False, indent=2))
    return out / "index.html"


def write_problems(problems: list[Problem], workspace: Path, out: Path) -> Path:
    """The folder does not load: the preview page lists the problems instead."""
    out.mkdir(parents=True, exist_ok=True)
    copy_static(out)
    html = environment().get_template("problems.html").render(
        problems=problems, workspace=str(workspace), generated_at=datetime.now(UTC)
    )
    atomic_write_text(out / "index.html", html)
    atomic_write_text(
        out / "data.json",
        json.dumps({"problems": [str(pr) for pr in problems], "posts": []}, ensure_ascii=False, indent=2),
    )
    return out / "index.html"
