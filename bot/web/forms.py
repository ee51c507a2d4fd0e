"""The submission form's rules: bounds, what a field may hold, units by name, duplicates, reference numbers.

Why refuse markup instead of only escaping it: a story goes on to the Pages, banners and reports, and a
reviewer must see exactly what will be published; text with tags (``<script>``) is refused with a word,
and whatever is shown is escaped anyway (Jinja's autoescape).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from starlette.requests import Request

from bot.load import Campaign
from bot.vn import nfc, so

TITLE_MIN, TITLE_MAX = 5, 300
BODY_MIN, BODY_MAX = 30, 20_000
NAME_MAX = 200
REASON_MAX = 1_000
DUPLICATE_DAYS = 90
SESSION_HOURS = 8
TAG = re.compile(r"<\s*/?\s*[A-Za-z!?]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,190}\.[A-Za-z]{2,24}$")
PHONE = re.compile(r"^\+?[0-9 .\-]{9,20}$")
PLATFORMS = ("facebook", "zalo")
AUDIENCES = {"own": "Chỉ đơn vị này", "cascade": "Đơn vị này và các đơn vị cấp dưới", "all": "Toàn bộ các đơn vị"}


def subtree(campaign: Campaign, root: str) -> set[str]:
    children: dict[str | None, list[str]] = {}
    for u in campaign.units:
        children.setdefault(u.parent, []).append(u.id)
    out, todo = set(), [root]
    while todo:
        uid = todo.pop()
        if uid in out:
            continue
        out.add(uid)
        todo.extend(children.get(uid, []))
    return out


def unit_choices(campaign: Campaign) -> list[tuple[str, str]]:
    """(id, label) of every unit, in tree order, for the searchable list."""
    return [(u.id, f"{u.name} ({u.id})") for u in campaign.units]


def parse_unit(campaign: Campaign, text: str) -> str | None:
    text = nfc(text).strip()
    if text in campaign.unit_by_id:
        return text
    m = re.search(r"\(([^()]{1,64})\)\s*$", text)
    if m and m.group(1) in campaign.unit_by_id:
        return m.group(1)
    by_name = [u.id for u in campaign.units if u.name == text]
    return by_name[0] if len(by_name) == 1 else None


def text_problem(label: str, value: str, lo: int, hi: int, *, multiline: bool = False) -> str | None:
    if len(value) < lo:
        return f"{label}: cần ít nhất {so(lo)} ký tự" if lo > 1 else f"{label}: chưa điền"
    if len(value) > hi:
        return f"{label}: dài {so(len(value))} ký tự, tối đa {so(hi)}"
    if TAG.search(value):
        return f"{label}: có thẻ HTML (như <script>) — chỉ gửi chữ, không gửi mã trang web"
    if CONTROL.search(value) or (not multiline and ("\n" in value or "\r" in value)):
        return f"{label}: có ký tự điều khiển không hợp lệ"
    return None


def fingerprint(title: str, body: str) -> str:
    flat = " ".join(nfc(title + " " + body).lower().split())
    return hashlib.sha256(flat.encode()).hexdigest()


def new_ref() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "GY-" + "".join(secrets.choice(alphabet) for _ in range(7))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def safe_name(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return CONTROL.sub("", nfc(base))[:80] or "(không tên)"
