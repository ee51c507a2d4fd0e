"""Careless or hostile input (issue 12): every case refused with a Vietnamese message naming the
file and the line, no traceback, bounded memory, the store unchanged — and whatever passes
`check` runs through `sync` and `tick`.

Every command runs as a real subprocess (``python -m bot``) under ``RLIMIT_AS`` = 300 MB, so a
memory blow-up is a failure, not a swapping machine; its peak resident memory is read back with
``wait4`` and checked too. Durations are recorded (``-s`` prints them), never asserted.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.bounds import IMAGE_REDUCE_SIDE
from tests.conftest import REPO, SAMPLE_PARTS

MEMORY_LIMIT_MB = 300
VIETNAMESE = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]")
NOW = "2026-11-30T10:00"  # campaign time; the sample's readings are dated before it


@dataclass
class Run:
    code: int
    out: str
    err: str
    peak_mb: float
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def limited(argv: list[str]) -> list[str]:
    """``argv`` under a 300 MB address-space limit, set by the shell right before ``exec``.

    Not with ``preexec_fn``: that forces a fork of this (large) pytest process, and the child's
    peak memory would count the parent's pages copied before the exec. Threads reserve their stack
    size of address space each (the stack limit, 8 MB by default): 4 MB keeps the limit about
    memory really used, as MALLOC_ARENA_MAX=2 does for glibc's malloc arenas."""
    script = f'ulimit -v {MEMORY_LIMIT_MB * 1024} && ulimit -s 4096 && exec "$@"'
    return ["/bin/sh", "-c", script, "limited", *argv]


def high_water_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM). Not ``wait4``'s ru_maxrss: at ``exec``
    the kernel folds the forking parent's peak into it, and the parent here is pytest."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run(ws: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """`campaign-bot --workspace ws ARGS` in a subprocess limited to 300 MB of address space."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    # glibc gives every thread a 64 MB malloc arena of address space: two arenas keep the limit
    # about memory really used, not reserved.
    full.update(MALLOC_ARENA_MAX="2", CAMPAIGN_IMAGE_CACHE=str(ws.parent / "image-cache"), PYTHONUNBUFFERED="1")
    full.update(env or {})
    start = time.monotonic()
    with open(ws.parent / "out.txt", "w+b") as out, open(ws.parent / "err.txt", "w+b") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            limited([sys.executable, "-m", "bot", "--workspace", str(ws), *args]),
            stdout=out, stderr=err, env=full, cwd=ws.parent,
        )
        deadline = start + timeout
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, high_water_kb(proc.pid))
            pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:  # a safety net against a hang, not a timing assertion
                proc.kill()
                pid, status, _usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                     peak_kb / 1024, time.monotonic() - start)
    print(f"  [{' '.join(args)[:40]}] exit {result.code}, {result.peak_mb:.0f} MB, {result.seconds:.1f} s")
    return result


def store_digest(ws: Path) -> str:
    """Every row of every table of the store (read only)."""
    db = ws / ".campaign" / "campaign.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def assert_clean(r: Run, code: int, where: str | None) -> None:
    """No traceback, the exit code, a Vietnamese message naming ``where`` (file:line), bounded memory."""
    assert "Traceback" not in r.text, r.text
    assert r.code == code, r.text
    if where is not None:
        assert re.search(where, r.text, re.S), f"{where!r} not in:\n{r.text}"
        assert VIETNAMESE.search(r.text), r.text
    assert r.peak_mb < MEMORY_LIMIT_MB


# --- the workspace -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample campaign, synced once into its SQLite store (cloned for every case)."""
    ws = tmp_path_factory.mktemp("hostile") / "ws"
    ws.mkdir()
    for part in SAMPLE_PARTS:
        if (REPO / part).exists():
            shutil.copytree(REPO / part, ws / part)
    r = run(ws, "sync")
    assert r.code == 0, r.text
    return ws


@pytest.fixture
def ws(base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(base, target, symlinks=True)
    return target


def edit(ws: Path, rel: str, old: str, new: str) -> None:
    path = ws / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def billion_laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def png_claiming(width: int, height: int) -> bytes:
    """A small file whose header says ``width``×``height`` (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


STORY = "content/sang-kien/may-boc-vo-hat-dieu.md"
PHOTO = "content/sang-kien/images/may-boc-vo-hat-dieu.jpg"
LOGO = "banners/assets/logo-cong-doan.png"
BACKGROUND = "banners/assets/nen-sang-kien.jpg"


def _cases() -> list[tuple[str, Callable[[Path], None], str]]:
    """(name, mutation, expected location) — the issue's cases and the loader's own table."""

    def write(rel: str, text: str) -> Callable[[Path], None]:
        return lambda ws: (ws / rel).write_text(text, encoding="utf-8")

    def replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
        return lambda ws: edit(ws, rel, old, new)

    def put_bytes(rel: str, data: bytes | Callable[[Path], bytes]) -> Callable[[Path], None]:
        return lambda ws: (ws / rel).write_bytes(data(ws) if callable(data) else data)

    def story_link(ws: Path) -> None:
        outside = ws.parent / "ngoai.md"
        outside.write_text((ws / STORY).read_text(encoding="utf-8"), encoding="utf-8")
        (ws / "content" / "lien-ket.md").symlink_to(outside)

    return [
        ("billion laughs, 9 levels", write("config/units.yaml", billion_laughs(9)), r"config/units\.yaml:\d+: .*bí danh"),
        ("recursive alias in a story", replace(STORY, "tags: [cong-nhan-lao-dong", "tags: &a [*a, cong-nhan-lao-dong"),
         r"content/sang-kien/may-boc-vo-hat-dieu\.md:\d+: .*vòng lặp"),
        ("!!int on a text", replace("config/campaign.yaml", "  name: Chương", "  name: !!int Chương"), r"config/campaign\.yaml:\d+"),
        ("nesting 100 deep", write("schedules/sau.yaml", "schedules:\n" + "".join("  " * i + "- a:\n" for i in range(1, 100))),
         r"schedules/sau\.yaml:\d+: .*sâu"),
        ("approved_at 0001-01-01", replace(STORY, "approved_at: 2026-11-20", "approved_at: 0001-01-01"), rf"{STORY}:\d+: .*ngoài khoảng"),
        ("expires 9999-12-31", replace(STORY, "approved_at: 2026-11-20", "approved_at: 2026-11-20\nexpires: 9999-12-31"),
         rf"{STORY}:\d+: .*ngoài khoảng"),
        ("campaign end 9999-12-31", replace("config/campaign.yaml", "  end: 2027-12-31", "  end: 9999-12-31"),
         r"config/campaign\.yaml:\d+: .*ngoài khoảng"),
        ("priority 10^30", replace(STORY, "priority: 2", "priority: " + "1" + "0" * 30), rf"{STORY}:\d+: .*độ ưu tiên"),
        ("target 10^30", replace("config/units.yaml", "target: 3000", "target: 1" + "0" * 30), r"config/units\.yaml:\d+: .*chỉ tiêu"),
        ("target 1e30 as a float", replace("config/units.yaml", "target: 3000", "target: 1.0e+30"), r"config/units\.yaml:\d+"),
        ("image path of 300 characters", replace(STORY, "image: images/may-boc-vo-hat-dieu.jpg", "image: " + "a/" * 150 + "x.jpg"),
         rf"{STORY}:\d+: .*đường dẫn"),
        ("unit id of 300 characters", replace("config/units.yaml", "- id: ldld-tinh", "- id: " + "a" * 300),
         r"config/units\.yaml:\d+: .*mã dài"),
        ("title of 100 KB", replace(STORY, "title: Máy", "title: " + "Máy " * 25_000), rf"{STORY}:\d+: .*tiêu đề"),
        ("body of 2 MB", lambda ws: (ws / STORY).write_text((ws / STORY).read_text(encoding="utf-8") + "chữ " * 500_000,
                                                            encoding="utf-8"), rf"{STORY}: .*quá lớn"),
        ("body of 30.000 characters", lambda ws: (ws / STORY).write_text((ws / STORY).read_text(encoding="utf-8") + "chữ " * 7_500,
                                                                         encoding="utf-8"), rf"{STORY}:\d+: .*nội dung bài dài"),
        ("cron every minute", replace("schedules/bai-dinh-ky.yaml", '"0 8 * * mon,wed,fri"', '"* * * * *"'),
         r"schedules/bai-dinh-ky\.yaml:\d+: .*quá dày"),
        ("cron twice in half an hour", replace("schedules/bai-dinh-ky.yaml", '"0 8 * * mon,wed,fri"', '"0,30 8 * * *"'),
         r"schedules/bai-dinh-ky\.yaml:\d+: .*30 phút"),
        ("25 slots a day for one channel", write("schedules/day-dac.yaml", "schedules:\n" + "".join(
            f'  - {{id: d{i}, cron: "{i} 10 * * *", kinds: [guide], units: [ldld-tinh]}}\n' for i in range(25))),
         r"schedules/\S+\.yaml:\d+: .*khung giờ một ngày"),
        ("grace of 10^14 days", replace("schedules/bai-dinh-ky.yaml", "grace: 2h", "grace: 99999999999999d"),
         r"schedules/bai-dinh-ky\.yaml:\d+: .*khoảng thời gian"),
        ("threshold 1e308", replace("config/milestones.yaml", "thresholds: [500, 1000, 2000, 3000]", "thresholds: [500, 1.0e+308]"),
         r"config/milestones\.yaml:\d+: .*ngưỡng"),
        ("daily cap 10^9", replace("schedules/bai-dinh-ky.yaml", "daily_cap: 2", "daily_cap: 1000000000"),
         r"schedules/bai-dinh-ky\.yaml:\d+"),
        ("unknown metric in a rule", replace("config/milestones.yaml", "metric: initiatives\n    unit: ldld-tinh",
                                             "metric: initiative\n    unit: ldld-tinh"),
         r"config/milestones\.yaml:\d+: .*có phải ý bạn là 'initiatives'"),
        ("logo is a text file", put_bytes(LOGO, b"day khong phai la anh\n" * 10), r"banners/\S+\.yaml:\d+: .*tệp chữ"),
        ("truncated JPEG background", put_bytes(BACKGROUND, lambda ws: (ws / BACKGROUND).read_bytes()[:4000]),
         r"banners/\S+\.yaml:\d+: .*hỏng"),
        ("PNG of 20000×20000", put_bytes(LOGO, png_claiming(20_000, 20_000)), r"banners/\S+\.yaml:\d+: .*quá lớn"),
        ("story photo is a text file", put_bytes(PHOTO, b"<html>not a photo</html>\n"), rf"{STORY}:\d+: .*không phải ảnh"),
        ("story photo 12000×200", put_bytes(PHOTO, png_claiming(12_000, 200)), rf"{STORY}:\d+: .*quá lớn"),
        ("story file linked outside", story_link, r"content/lien-ket\.md: .*ngoài thư mục chiến dịch"),
        ("units.yaml of 6 MB", write("config/units.yaml", "# " + "x" * 6_000_000 + "\nunits: []\n"), r"config/units\.yaml: .*quá lớn"),
        ("outbox is a link outside", lambda ws: (ws / "outbox").symlink_to(ws.parent), r"outbox: .*symlink"),
    ]


CASES = _cases() + [
    ("billion laughs in a story",
     lambda ws: edit(ws, STORY, "tags: [", "x: &b0 [1,1,1,1,1,1,1,1,1]\n" + "".join(
         f"x{i}: &b{i} [" + ",".join([f"*b{i - 1}"] * 9) + "]\n" for i in range(1, 8)) + "tags: ["),
     rf"{STORY}:\d+: .*bí danh"),
]


@pytest.mark.parametrize("name,mutate,where", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_file_is_refused_with_file_and_line_and_changes_nothing(
    ws: Path, name: str, mutate: Callable[[Path], None], where: str
) -> None:
    before = store_digest(ws)
    mutate(ws)
    r = run(ws, "sync")
    assert_clean(r, 1, where)
    assert "chưa thay đổi gì" in r.text
    assert store_digest(ws) == before


def test_check_says_the_same_without_opening_the_store(ws: Path) -> None:
    (ws / "config" / "units.yaml").write_text(billion_laughs(9), encoding="utf-8")
    before = store_digest(ws)
    assert_clean(run(ws, "check"), 1, r"config/units\.yaml:1: .*bí danh")
    assert store_digest(ws) == before


# --- metric data -----------------------------------------------------------------------------------

HOSTILE_ROWS = [
    ("ldld-phan-rang,initiatives,1e308,2026-11-29T10:00", "vượt|quá lớn|không hợp lệ"),
    ("ldld-ninh-son,initiatives,99999999999999999999999999999999,2026-11-29T10:00", "quá lớn"),
    ("ldld-ninh-hai,initiatives,50,2099-11-29T10:00", "tương lai|không hợp lệ"),
    ("ldld-bac-ai,initiatives,inf,2026-11-29T10:00", "không phải là số|không hợp lệ"),
    ("ldld-bac-ai,initiatives,nan,2026-11-29T10:00", "không phải là số|không hợp lệ"),
    ("ldld-thuan-bac,initiatives,5000,2026-11-29T10:00", "vượt mức hợp lý"),  # 10 × target 120 = 1.200
    ('ldld-thuan-nam,"initiatives,7,2026-11-29T10:00', "ngoặc kép"),
    ("ldld-thuan-nam,initiatives," + "9" * 200_000 + ",2026-11-29T10:00", "dòng dài"),
    ("ldld-tinh,sang-kien,7,2026-11-29T10:00", "không có chỉ số"),
    ("ldld-tinhh,initiatives,7,2026-11-29T10:00", "có phải ý bạn là 'ldld-tinh'"),
]
GOOD_ROW = "cd-y-te,initiatives,61,2026-11-29T11:00"


def hostile_csv(ws: Path) -> Path:
    rows = ["unit,metric,value,at"] + [r for r, _ in HOSTILE_ROWS] + [GOOD_ROW]
    path = ws / "data" / "xau.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def readings(ws: Path) -> list[tuple[str, float, str, str]]:
    con = sqlite3.connect(f"file:{ws / '.campaign' / 'campaign.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT unit_id, value, at, status FROM metricreading ORDER BY id").fetchall()
    finally:
        con.close()


def test_check_reports_every_bad_metric_row_with_its_line(ws: Path) -> None:
    hostile_csv(ws)
    r = run(ws, "check")
    assert_clean(r, 1, r"data/xau\.csv:2: ")
    for i, (_row, message) in enumerate(HOSTILE_ROWS, start=2):
        assert re.search(rf"data/xau\.csv:{i}: .*({message})", r.text), (i, message, r.text)
    assert "data/xau.csv:12" not in r.text  # the good row


def test_hostile_metric_rows_are_skipped_good_rows_kept_and_the_tick_goes_on(ws: Path) -> None:
    hostile_csv(ws)
    r = run(ws, "tick", "--now", NOW, "--outbox")
    assert_clean(r, 0, r"data/xau\.csv:\d+")
    stored = readings(ws)
    assert ("cd-y-te", 61.0) in [(u, v) for u, v, _, _ in stored]
    assert all(0 <= v <= 1e9 for _, v, _, _ in stored)
    assert all(not at.startswith("2099") for _, _, at, _ in stored)
    imp = run(ws, "metrics", "import", str(ws / "data" / "xau.csv"), "--now", NOW)
    assert_clean(imp, 1, r"data/xau\.csv:3: ")


def test_a_bad_reading_stored_before_the_bounds_does_not_stop_any_tick_and_can_be_dropped(ws: Path) -> None:
    con = sqlite3.connect(ws / ".campaign" / "campaign.db")
    with con:
        for value, at in ((1e308, "2026-11-29 03:00:00.000000"), (6274.0, "2099-11-29 03:00:00.000000")):
            con.execute(
                "INSERT INTO metricreading (unit_id, metric, value, at, source, imported_at, status) "
                "VALUES ('ldld-phan-rang', 'initiatives', ?, ?, 'cu', '2026-11-29 03:00:00', 'ok')", (value, at))
    con.close()
    for args in (("tick", "--now", NOW, "--outbox"), ("status",), ("milestones",), ("report", "--out", str(ws.parent / "bc"))):
        assert_clean(run(ws, *args), 0, None)
    assert "sáng kiến" not in run(ws, "milestones").out.split("6.274")[0][-5:]  # never announced
    r = run(ws, "metrics", "drop", "ldld-phan-rang", "2026-11-29T10:00")
    assert_clean(r, 0, None)
    assert "Đã loại bỏ" in r.out
    assert ("ldld-phan-rang", 1e308, "dropped") in [(u, v, s) for u, v, _, s in readings(ws)]


def test_a_suspicious_jump_is_held_until_a_person_confirms_it(ws: Path) -> None:
    # ldld-phan-rang read 240 on 20/11; 2.400 is 10 × that (below its ceiling 10 × 600): held.
    assert_clean(run(ws, "tick", "--now", "2026-11-30T09:00", "--outbox"), 0, None)  # the sample's readings
    (ws / "data" / "nhay.csv").write_text("unit,metric,value,at\nldld-phan-rang,initiatives,2400,2026-11-29T10:00\n",
                                          encoding="utf-8")
    r = run(ws, "tick", "--now", NOW, "--outbox")
    assert_clean(r, 0, r"data/nhay\.csv:2: ldld-phan-rang: tăng đột biến")
    assert "metrics confirm ldld-phan-rang 2026-11-29T10:00" in r.text
    assert ("ldld-phan-rang", 2400.0, "held") in [(u, v, s) for u, v, _, s in readings(ws)]
    assert "2.400" not in run(ws, "status").out  # not counted
    held = run(ws, "metrics", "held")
    assert "ldld-phan-rang" in held.out and "2.400" in held.out
    assert_clean(run(ws, "metrics", "confirm", "ldld-phan-rang", "2026-11-29T10:00", "--by", "Chị Lan"), 0, None)
    assert ("ldld-phan-rang", 2400.0, "ok") in [(u, v, s) for u, v, _, s in readings(ws)]
    after = run(ws, "tick", "--now", "2026-11-30T10:05", "--outbox")
    assert_clean(after, 0, None)
    assert "ldld-phan-rang" in run(ws, "milestones", "--json").out  # now counted: its milestone fired


# --- environment ---------------------------------------------------------------------------------------


def test_a_non_utf8_env_file_is_named_with_its_line(ws: Path) -> None:
    (ws / ".env").write_bytes(b"FB_TOKEN_LDLD_TINH=abc\nGHI_CHU=C\xf4ng \xf0o\xe0n\n")
    before = store_digest(ws)
    assert_clean(run(ws, "check"), 1, r"\.env:2: .*UTF-8")
    assert store_digest(ws) == before


@pytest.mark.parametrize("url,what", [
    ("postgresql://campaign:Bi-Mat-42@db.example:cong/campaign", "không hợp lệ"),
    ("postgresql://campaign:Bi-Mat-42@127.0.0.1:1/campaign", "không kết nối được"),
    ("mysql+nosuchdriver://campaign:Bi-Mat-42@h/x", "không hợp lệ"),
    ("khong-phai-url", "không hợp lệ"),
])
def test_a_bad_store_url_is_a_vietnamese_message_without_the_password(ws: Path, url: str, what: str) -> None:
    (ws / ".env").write_text(f"CAMPAIGN_DB_URL={url}\n", encoding="utf-8")
    r = run(ws, "status")
    assert_clean(r, 1, "CAMPAIGN_DB_URL")
    assert what in r.text and "Bi-Mat-42" not in r.text


def test_a_second_tick_on_the_same_store_says_another_is_running(ws: Path) -> None:
    lock = os.open(ws / ".campaign" / "campaign.db.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a running tick holds it
        before = store_digest(ws)
        r = run(ws, "tick", "--now", NOW, "--outbox", env={"CAMPAIGN_TICK_WAIT": "1"})
        assert_clean(r, 3, "Một lượt khác")
        assert "đang chờ" in r.err and store_digest(ws) == before
    finally:
        os.close(lock)  # the first tick ends
    assert_clean(run(ws, "tick", "--now", NOW, "--outbox"), 0, None)


def test_file_modes_and_the_env_warning(ws: Path) -> None:
    shutil.rmtree(ws / ".campaign")
    (ws / ".env").write_text("FB_APP_ID=1\n", encoding="utf-8")
    (ws / ".env").chmod(0o644)
    stale = ws / "outbox" / "ldld-tinh" / "facebook" / ".tmp-abc123"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"{half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert_clean(run(ws, "tick", "--now", "2026-11-27T08:00", "--outbox"), 0, None)
    store = ws / ".campaign"
    assert store.stat().st_mode & 0o777 in (0o700, 0o711)
    for f in store.glob("campaign.db*"):
        assert f.stat().st_mode & 0o777 == 0o600, f
    posts = list((ws / "outbox").glob("*/*/*.json"))
    assert posts and {p.stat().st_mode & 0o777 for p in posts} == {0o644}
    assert not stale.exists()  # left by a killed tick, cleaned by the next
    r = run(ws, "check")
    assert "chmod 600" in r.out and r.code == 0
    (ws / ".env").chmod(0o600)
    assert "chmod 600" not in run(ws, "check").out
    page = ws.parent / "xem"
    assert_clean(run(ws, "preview", "--days", "2", "--from", NOW, "--out", str(page)), 0, None)
    assert {p.stat().st_mode & 0o777 for p in page.rglob("*") if p.is_file()} == {0o644}


@pytest.mark.parametrize("args", [("preview", "--days", "366"), ("preview", "--days", "0"),
                                  ("report", "--from", "0001-01-01"), ("report", "--from", "2026-01-01", "--to", "2099-12-31")])
def test_out_of_range_options_are_refused(ws: Path, args: tuple[str, ...]) -> None:
    r = run(ws, *args)
    assert "Traceback" not in r.text and r.code == 2 and VIETNAMESE.search(r.text)


# --- output folders and symlinks -------------------------------------------------------------------


def test_preview_through_symlinks_deletes_and_writes_nothing_outside(ws: Path) -> None:
    """The issue's case: ``preview`` a symlink to a folder whose ``anh/`` links to another folder."""
    elsewhere = ws.parent / "nha-rieng"
    secrets = ws.parent / "bi-mat"
    secrets.mkdir()
    (secrets / "id_rsa").write_text("KHOA RIENG\n")
    (secrets / "notes.txt").write_text("ghi chu\n")
    elsewhere.mkdir()
    (elsewhere / "anh").symlink_to(secrets)
    (ws / "preview").symlink_to(elsewhere)
    snapshot = {p: p.read_bytes() for p in (secrets / "id_rsa", secrets / "notes.txt")}
    r = run(ws, "preview", "--days", "7", "--from", NOW)
    assert_clean(r, 1, "symlink")
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert sorted(x.name for x in secrets.iterdir()) == ["id_rsa", "notes.txt"]
    assert sorted(x.name for x in elsewhere.iterdir()) == ["anh"]
    # Named on the command line: the folder itself is fine, but its anh/ leads out of it.
    named = ws.parent / "trang"
    named.mkdir()
    (named / "anh").symlink_to(secrets)
    assert_clean(run(ws, "preview", "--days", "7", "--from", NOW, "--out", str(named)), 1, "symlink")
    assert sorted(x.name for x in secrets.iterdir()) == ["id_rsa", "notes.txt"]


def test_preview_deletes_only_files_it_wrote(ws: Path) -> None:
    out = ws.parent / "trang"
    assert_clean(run(ws, "preview", "--days", "7", "--from", NOW, "--out", str(out)), 0, None)
    ours = sorted((out / "anh").iterdir())
    assert ours
    mine = out / "anh" / "anh-cua-toi.jpg"
    mine.write_bytes(b"khong phai cua bot")
    edit(ws, STORY, "image: images/may-boc-vo-hat-dieu.jpg\n", "")  # one photo fewer
    assert_clean(run(ws, "preview", "--days", "7", "--from", NOW, "--out", str(out)), 0, None)
    assert mine.read_bytes() == b"khong phai cua bot"
    assert len(list((out / "anh").iterdir())) == len(ours)  # the dropped photo's copy went, the stranger stayed


# --- a bounded random mutator over the sample campaign (fixed seeds) -------------------------------

MUTATOR = r'''
import json, random, shutil, sys, traceback
from pathlib import Path
from bot.load import LoadError, load_campaign

ws, seed, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
files = sorted(p for p in ws.rglob("*") if p.suffix in (".yaml", ".md", ".csv") and p.is_file())
originals = {p: p.read_bytes() for p in files}
PIECES = [b"&a [*a]", b"*a", b"!!int x", b"9999-12-31", b"0001-01-01", b"1e308", b"-1", b"\xff\xfe", b"\x00",
          b'"', b"'", b"{", b"[", b":", b"\n  - ", b"\t", b"---", b"1" + b"0" * 40, b"nan", b".inf", b"~",
          b"!!python/object:os.system", b"%YAML 1.1", b"? ", b"<<: *a", b"x" * 5000]
rng = random.Random(seed)
outcome = {"loaded": 0, "refused": 0, "crashed": []}
for i in range(count):
    path = rng.choice(files)
    data = bytearray(originals[path])
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        op = rng.random()
        if op < 0.5:
            data[at:at] = rng.choice(PIECES)
        elif op < 0.8:
            del data[at:at + rng.randint(1, 40)]
        else:
            data[at:at] = data[rng.randrange(len(data) + 1):][:rng.randint(1, 200)] * rng.randint(1, 50)
    path.write_bytes(bytes(data))
    try:
        load_campaign(ws)
        outcome["loaded"] += 1
    except LoadError as exc:
        bad = [str(p) for p in exc.problems if not p.file or not p.message]
        if bad:
            outcome["crashed"].append(f"{path.name}: problem without file or message: {bad[:2]}")
        outcome["refused"] += 1
    except BaseException:
        outcome["crashed"].append(f"{path.name} (seed {seed}, {i}): " + traceback.format_exc()[-600:])
    path.write_bytes(originals[path])
print(json.dumps(outcome))
'''


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_mutations_of_the_sample_never_crash_the_loader(ws: Path, seed: int) -> None:
    script = ws.parent / "mutator.py"
    script.write_text(MUTATOR, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(MALLOC_ARENA_MAX="2", PYTHONPATH=str(REPO))
    start = time.monotonic()
    proc = subprocess.run(limited([sys.executable, str(script), str(ws), str(seed), "60"]), capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  seed {seed}: {outcome['loaded']} loaded, {outcome['refused']} refused, {time.monotonic() - start:.1f} s")
    assert not outcome["crashed"], "\n\n".join(outcome["crashed"])
    assert outcome["refused"] > 0


# --- `run` keeps posting for everyone else ---------------------------------------------------------


def test_run_keeps_posting_for_other_units_while_one_units_metric_data_is_hostile(ws: Path) -> None:
    # A slot every two hours with a grace of 1h59m and no quiet hours: `run` posts at once, at any time of day.
    edit(ws, "schedules/bai-dinh-ky.yaml", '"0 8 * * mon,wed,fri"', '"0 */2 * * *"')
    edit(ws, "schedules/bai-dinh-ky.yaml", "grace: 2h", "grace: 1h59m")
    edit(ws, "schedules/bai-dinh-ky.yaml", 'quiet_hours: "21:30-06:30"', "quiet_hours: null")
    now = datetime.now(UTC)
    bad_time = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    (ws / "data" / "xau.csv").write_text(
        "unit,metric,value,at\n"
        f'ldld-phan-rang,initiatives,1e308,{bad_time}\nldld-phan-rang,"initiatives,9,{bad_time}\n'
        f"ldld-phan-rang,initiatives,{'9' * 200_000},{bad_time}\n", encoding="utf-8")
    con = sqlite3.connect(ws / ".campaign" / "campaign.db")
    with con:  # and a reading stored by an older version, before the bounds
        con.execute("INSERT INTO metricreading (unit_id, metric, value, at, source, imported_at, status) "
                    "VALUES ('ldld-phan-rang', 'initiatives', 1e308, ?, 'cu', ?, 'ok')",
                    (bad_time.replace("T", " ")[:19], bad_time.replace("T", " ")[:19]))
    con.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(MALLOC_ARENA_MAX="2", CAMPAIGN_IMAGE_CACHE=str(ws.parent / "cache"))
    with open(ws.parent / "run.log", "w+b") as log:
        proc = subprocess.Popen(limited([sys.executable, "-m", "bot", "--workspace", str(ws), "run", "--every", "2",
                                         "--outbox"]), stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 180
            units: set[str] = set()
            while time.monotonic() < deadline and len(units) < 10 and proc.poll() is None:
                time.sleep(1)
                units = {p.parent.parent.name for p in (ws / "outbox").glob("*/*/*.json")}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    assert len(units) >= 10, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "data/xau.csv:2" in text  # the hostile rows are reported, each with its line


# --- images ------------------------------------------------------------------------------------------


def test_a_large_logo_passes_and_is_reduced_once(ws: Path) -> None:
    img = Image.new("RGB", (6000, 3000), (183, 28, 28))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    (ws / LOGO).write_bytes(buf.getvalue())
    assert_clean(run(ws, "check"), 0, None)
    assert_clean(run(ws, "tick", "--now", "2026-11-27T08:00", "--outbox"), 0, None)
    cached = list((ws.parent / "image-cache").glob("*.png"))
    assert cached and all(max(Image.open(p).size) <= IMAGE_REDUCE_SIDE for p in cached)


def test_the_memory_limit_of_these_tests_bites() -> None:
    """The limit is real: a process that wants 400 MB fails under it (and 100 MB is fine)."""
    big = subprocess.run(limited([sys.executable, "-c", "x = bytearray(400 * 2**20)"]), capture_output=True, text=True,
                         check=False)
    assert big.returncode != 0 and "MemoryError" in big.stderr
    small = subprocess.run(limited([sys.executable, "-c", "x = bytearray(100 * 2**20)"]), capture_output=True,
                           check=False)
    assert small.returncode == 0
