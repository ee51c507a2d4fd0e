"""One Jinja2 environment for every text the staff write (banner texts, milestone messages).

Sandboxed, because the templates come from files anyone on the staff can edit; with the
Vietnamese filters ``so`` (1.000.000) and ``ngay`` (24/11/2026).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from bot.vn import nfc, ngay, ngay_gio, so


@cache
def env() -> SandboxedEnvironment:
    e = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    e.filters["so"] = so
    e.filters["ngay"] = ngay
    e.filters["ngay_gio"] = ngay_gio
    return e


def render_text(template: str, context: dict[str, Any]) -> str:
    """Render a staff-written template to NFC text."""
    return nfc(env().from_string(template).render(**context)).strip()
