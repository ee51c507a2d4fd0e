"""`campaign-bot new story|guide|slogan|unit|schedule`: a ready-to-fill file, every field explained.

Like ``hugo new``: the staff should never have to guess a key's name or its allowed values. Each
template lists every field of the file with a Vietnamese comment, the allowed values taken from
the loader itself (so the comments never drift from what ``check`` accepts), and blanks where a
person must decide. What it writes is inert until filled: a story is a draft (``approved: false``),
a schedule posts to no unit (``units: []``). Units and slogans live in one shared file each, so
``new unit`` and ``new slogan`` append to it and check the folder again; a file that would no longer
load is put back as it was.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from bot.load import KIND_LABELS, KINDS, LEVELS
from bot.templating import env
from bot.vn import slug

KIND_FOLDERS = {
    "initiative_story": "sang-kien", "good_practice": "cach-lam-hay", "commendation": "guong-dien-hinh",
    "guide": "huong-dan", "quote": "trich-dan", "policy": "chinh-sach", "lessons": "kinh-nghiem",
    "difficulty": "kho-khan", "news": "tin-tuc",
}
LEVEL_LABELS = {
    "province": "Liên đoàn Lao động tỉnh, thành phố", "district": "Liên đoàn Lao động huyện, quận, thành phố",
    "sector": "Công đoàn ngành", "civil_servants": "Công đoàn Viên chức", "industrial_zone": "Công đoàn các Khu công nghiệp",
    "grassroots": "Công đoàn cơ sở",
}

STORY = """\
---
# Bài mới ({{ label }}). Điền các dòng có chữ ĐIỀN, viết nội dung bài sau dòng '---' cuối,
# rồi chạy `campaign-bot check`. Dòng bắt đầu bằng '#' là ghi chú: bot không đọc.
# Giá trị có dấu ':' hoặc '#' phải đặt trong dấu ngoặc kép. Ngày viết NĂM-THÁNG-NGÀY (2026-11-24).
# Hướng dẫn đầy đủ: docs/huong-dan.md
title: {{ title }}   # ĐIỀN: tiêu đề bài (trên banner và dòng đầu bài đăng), trong dấu ngoặc kép
kind: {{ kind }}   # loại bài:{% for k in kinds %} {{ k }} ({{ labels[k] }}){% if not loop.last %} |{% endif %}{% endfor %}
unit: {{ unit }}   # ĐIỀN: mã đơn vị tác giả (cột id trong config/units.yaml)
# Đơn vị nào đăng bài: own = chỉ đơn vị tác giả; cascade = đơn vị tác giả và mọi đơn vị trực thuộc
# (bài của một công đoàn cơ sở chỉ lên Trang của chính nó); all = mọi đơn vị;
# hoặc một danh sách mã, ví dụ [ldld-tinh, cd-giao-duc]. Lịch đăng (schedules/) cũng phải có đơn vị đó.
audience: own   # ai đăng bài: own | cascade | all | [mã, mã] (xem ghi chú ngay trên)
platforms: [{{ platform_names | join(', ') }}]   # đăng lên đâu: một hoặc nhiều trong {{ platform_names | join(', ') }}
approved: false   # chỉ bài approved: true mới được đăng; đổi khi bài đã được duyệt
approved_by:   # người hoặc ban duyệt bài, ví dụ Ban Tuyên giáo LĐLĐ tỉnh
approved_at:   # ngày duyệt, bắt buộc khi approved: true, ví dụ 2026-11-24
not_before:   # không đăng trước ngày (giờ) này; để trống: đăng từ lượt tới
expires:   # không đăng từ ngày (giờ) này trở đi; để trống: không hết hạn
priority: 0   # số lớn đăng trước (10 trước 0); cùng số: bài duyệt sớm đăng trước
image:   # ảnh chính, đường dẫn tính từ tệp bài, ví dụ images/ten-anh.jpg (JPG, PNG, WebP)
images: []   # các ảnh thêm, ví dụ [images/anh-2.jpg, images/anh-3.jpg]
banner:   # mẫu banner (id trong banners/*.yaml); để trống: mẫu của lịch đăng
link:   # liên kết đọc thêm, bắt đầu bằng https://
tags: []   # thẻ, ví dụ [giao-duc, chuyen-doi-so]
summary:   # tóm tắt một hai câu (Zalo và trang xem trước dùng); để trống: lấy đầu bài
# withdrawn: "lý do"   # rút bài đã đăng: bỏ dấu '#' ở đầu dòng và ghi lý do; bài bị gỡ khỏi mọi Trang/OA
---
"""

SCHEDULE = """\
# Lịch đăng "{{ id }}". Điền các dòng có chữ ĐIỀN rồi chạy `campaign-bot check` và `campaign-bot preview`.
# Hướng dẫn đầy đủ: docs/huong-dan.md
schedules:
  - id: {{ id }}   # tên lịch, chữ thường không dấu và '-'
    # Giờ đăng theo cron, 5 trường: phút giờ ngày tháng thứ, giờ Việt Nam.
    # Ví dụ "0 8 * * mon,wed,fri" = 8:00 thứ Hai, Tư, Sáu; "30 19 * * *" = 19:30 mỗi ngày.
    cron: "0 8 * * mon,wed,fri"
    # Loại bài lấy vào khung giờ này:{% for k in kinds %} {{ k }} ({{ labels[k] }}){% if not loop.last %},{% endif %}{% endfor %}
    kinds: [initiative_story, good_practice]
    slogan: false   # true: khung giờ này đăng khẩu hiệu (lần lượt theo slogans: trong config/campaign.yaml)
    # ĐIỀN: đơn vị đăng theo lịch này: all (mọi đơn vị), danh sách mã [ldld-tinh, cd-giao-duc]
    # hoặc theo cấp {level: district}. Các cấp:{% for l in levels %} {{ l }} ({{ level_labels[l] }}){% if not loop.last %},{% endif %}{% endfor %}
    # Để trống [] thì lịch chưa đăng gì.
    units: []
    platforms: [{{ platform_names | join(', ') }}]   # một hoặc nhiều trong {{ platform_names | join(', ') }}
    grace: 1h   # máy tắt lúc đến giờ thì vẫn đăng bù trong khoảng này (30m, 2h, 1d)
    banner:   # mẫu banner (id trong banners/*.yaml); để trống: mẫu theo loại bài

# Thiết lập chung chỉ khai báo MỘT lần, trong một tệp lịch (đã có trong tệp lịch mẫu thì không thêm ở đây):
# settings:
#   quiet_hours: "21:30-06:30"   # không đăng trong giờ yên lặng; bài đến hạn chờ đến hết giờ (06:30)
#   daily_cap: 2                 # mỗi kênh tối đa 2 bài theo lịch mỗi ngày; tin cột mốc không tính vào giới hạn này
"""

UNIT = """
  # Đơn vị mới (campaign-bot new unit). Thêm kênh khi đơn vị đã có Trang/OA.
  - id: {{ id }}   # mã đơn vị, chữ thường không dấu và '-'
    name: "{{ name }}"   # tên đầy đủ (trên banner và bài đăng)
    short_name:   # tên ngắn, ví dụ "CĐCS Công ty A" (trong bảng tổng hợp); để trống: dùng tên đầy đủ
    level: {{ level }}   # cấp:{% for l in levels %} {{ l }}{% if not loop.last %} |{% endif %}{% endfor %}
    parent: {{ parent }}   # mã công đoàn cấp trên trực tiếp
    target:   # chỉ tiêu số sáng kiến của cả nhánh (đơn vị và các đơn vị trực thuộc); để trống: không có
    channels: []
    # Mỗi kênh ghi TÊN biến môi trường chứa token; token đặt trong tệp .env, không bao giờ ghi ở đây.
    # channels:
{%- for p in platforms %}
    #   - platform: {{ p.name }}   # {{ p.label }}
    #     {{ p.account_field }}: "ĐIỀN mã {{ p.account_label }}"   # trong dấu ngoặc kép
    #     token_env: {{ p.name | upper }}_TOKEN_{{ env_name }}
{%- endfor %}
"""


def render(template: str, **context: Any) -> str:
    from bot.channels import spec

    return env().from_string(template).render(
        kinds=KINDS, labels=KIND_LABELS, levels=LEVELS, level_labels=LEVEL_LABELS, platforms=spec.all_specs(),
        platform_names=spec.names(), **context
    ).rstrip("\n") + "\n"


def story_text(kind: str, title: str | None, unit: str | None) -> str:
    """A draft story: every front-matter key, explained, blanks for what a person must decide."""
    shown = '"' + title.replace('"', "'") + '"' if title else ""
    return render(STORY, kind=kind, title=shown, unit=unit or "", label=KIND_LABELS[kind])


def _write_new(path: Path, text: str, workspace: Path) -> None:
    if path.exists():
        click.secho(f"Đã có tệp {path.relative_to(workspace)}: không ghi đè. Chọn tên khác.", fg="red", err=True)
        sys.exit(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"Đã tạo {path.relative_to(workspace).as_posix()}. Điền các dòng có chữ ĐIỀN rồi chạy `campaign-bot check`.")


@click.group("new")
def new_group() -> None:
    """Tạo tệp mới để điền: bài viết, hướng dẫn, lịch đăng, đơn vị, khẩu hiệu (mọi khóa có ghi chú)."""


@new_group.command("story")
@click.argument("title", required=False)
@click.option("--kind", type=click.Choice(KINDS), default="initiative_story", show_default=True, help="Loại bài.")
@click.option("--unit", metavar="MÃ", help="Mã đơn vị tác giả (trong config/units.yaml).")
@click.option("--file", "file_name", metavar="TÊN", help="Tên tệp (mặc định: từ tiêu đề, bỏ dấu).")
@click.pass_obj
def new_story(obj: Any, title: str | None, kind: str, unit: str | None, file_name: str | None) -> None:
    """Bài viết mới (bản nháp, chưa duyệt) trong content/<loại bài>/."""
    _new_story(obj, title, kind, unit, file_name)


@new_group.command("guide")
@click.argument("title", required=False)
@click.option("--unit", metavar="MÃ", help="Mã đơn vị tác giả.")
@click.option("--file", "file_name", metavar="TÊN", help="Tên tệp (mặc định: từ tiêu đề, bỏ dấu).")
@click.pass_obj
def new_guide(obj: Any, title: str | None, unit: str | None, file_name: str | None) -> None:
    """Bài hướng dẫn mới (kind: guide) trong content/huong-dan/."""
    _new_story(obj, title, "guide", unit, file_name)


def _new_story(obj: Any, title: str | None, kind: str, unit: str | None, file_name: str | None) -> None:
    name = slug(file_name or title or "bai-moi")
    path = obj.workspace / "content" / KIND_FOLDERS.get(kind, kind) / f"{name}.md"
    _write_new(path, story_text(kind, title, unit), obj.workspace)


@new_group.command("schedule")
@click.argument("schedule_id")
@click.pass_obj
def new_schedule(obj: Any, schedule_id: str) -> None:
    """Lịch đăng mới schedules/<mã>.yaml (chưa đăng gì cho đến khi điền đơn vị)."""
    sid = slug(schedule_id, default="lich-moi")
    _write_new(obj.workspace / "schedules" / f"{sid}.yaml", render(SCHEDULE, id=sid), obj.workspace)


def _append_checked(obj: Any, path: Path, new_text: str, what: str) -> None:
    """Write ``new_text`` to a shared file only if the whole folder still loads; else put it back."""
    from bot.load import LoadError, load_campaign

    old = path.read_text(encoding="utf-8")
    path.write_text(new_text, encoding="utf-8")
    try:
        load_campaign(obj.workspace)
    except LoadError as exc:
        mine = [p for p in exc.problems if p.file == path.relative_to(obj.workspace).as_posix()]
        if mine:  # problems elsewhere in the folder (a draft story being written) are not this edit's
            path.write_text(old, encoding="utf-8")
            click.secho(f"Chưa thêm {what}: tệp {path.relative_to(obj.workspace)} sẽ không còn hợp lệ.", fg="red", err=True)
            for p in mine:
                click.echo(f"  ✗ {p}", err=True)
            sys.exit(1)
    click.echo(f"Đã thêm {what} vào {path.relative_to(obj.workspace).as_posix()}.")


@new_group.command("unit")
@click.argument("unit_id")
@click.argument("name")
@click.option("--parent", required=True, metavar="MÃ", help="Mã công đoàn cấp trên trực tiếp.")
@click.option("--level", type=click.Choice(LEVELS), default="grassroots", show_default=True, help="Cấp của đơn vị.")
@click.pass_obj
def new_unit(obj: Any, unit_id: str, name: str, parent: str, level: str) -> None:
    """Thêm một đơn vị vào cuối config/units.yaml (kênh để điền sau)."""
    path = obj.workspace / "config" / "units.yaml"
    if not path.is_file():
        click.secho("Không có config/units.yaml trong thư mục chiến dịch.", fg="red", err=True)
        sys.exit(1)
    uid = slug(unit_id, default="don-vi-moi")
    block = render(UNIT, id=uid, name=name.replace('"', "'"), parent=parent, level=level,
                   env_name=uid.upper().replace("-", "_"))
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n" + block
    _append_checked(obj, path, text, f"đơn vị '{uid}'")


@new_group.command("slogan")
@click.argument("text")
@click.pass_obj
def new_slogan(obj: Any, text: str) -> None:
    """Thêm một khẩu hiệu vào slogans: trong config/campaign.yaml."""
    import yaml

    path = obj.workspace / "config" / "campaign.yaml"
    old = path.read_text(encoding="utf-8")
    node = yaml.compose(old)
    campaign = next((v for k, v in (node.value if node else []) if k.value == "campaign"), None)
    slogans = next((v for k, v in (campaign.value if campaign else []) if k.value == "slogans"), None)
    item = '"' + text.replace('"', "'") + '"'
    lines = old.split("\n")
    if isinstance(slogans, yaml.SequenceNode) and slogans.flow_style is False and slogans.value:
        last = slogans.value[-1]
        indent = " " * (last.start_mark.column - 2)
        lines.insert(last.end_mark.line + (1 if last.end_mark.column else 0), f"{indent}- {item}")
    elif slogans is None and campaign is not None and isinstance(campaign, yaml.MappingNode):
        last_key = campaign.value[-1][1]
        indent = " " * campaign.value[0][0].start_mark.column
        at = last_key.end_mark.line + (1 if last_key.end_mark.column else 0)
        lines[at:at] = [f"{indent}# Khẩu hiệu, đăng lần lượt ở các khung giờ \"slogan: true\".", f"{indent}slogans:",
                        f"{indent}  - {item}"]
    else:
        click.echo("Danh sách khẩu hiệu viết trên một dòng: thêm khẩu hiệu bằng tay vào config/campaign.yaml:")
        click.echo(f"  slogans: [..., {item}]")
        sys.exit(1)
    _append_checked(obj, path, "\n".join(lines), "khẩu hiệu")


commands = [new_group]
