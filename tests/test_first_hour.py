"""A communications officer's first hour (issue 13): every input mistake through every command,
in Vietnamese with file:line and no traceback; the demo that never touches the campaign; reset."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlmodel import select

from bot.cli import cli
from bot.store import Delivery, DeliveryState, ScheduleSlot, open_store
from tests.conftest import story, write

# English from click, pydantic, PyYAML and Python that once reached the staff (issue 13, item 5).
ENGLISH = re.compile(
    r"Traceback|Input should|mapping values|found a tab|found character|could not find|did not find|"
    r"No such (option|command)|Invalid value|Try '|Show this message|\[default|is not in the range|"
    r"is not a valid|day is out of range|invalid character|constrained-str|continuation byte|Usage:|"
    r"Error:|Options:|Commands:|Missing (argument|option)|Aborted|value_error|literal\[|: False\b|: True\b"
)
ENGLISH_WORDS = {"the", "is", "not", "and", "should", "must", "found", "expected", "allowed", "invalid",
                 "missing", "exit", "try", "usage", "options", "commands", "default", "value", "error", "this",
                 "for", "with", "range", "no", "such", "valid", "input"}


def english_lines(text: str) -> list[str]:
    """Lines that read as English sentences: a known library phrase, or three English function words."""
    found = []
    for line in text.splitlines():
        words = re.findall(r"[A-Za-z]+", line.lower())
        if ENGLISH.search(line) or sum(w in ENGLISH_WORDS for w in words) >= 3:
            found.append(line)
    return found


def run(ws: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], input=input)


def assert_vietnamese(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    assert not english_lines(result.output), english_lines(result.output)


GOOD = story()  # an approved cascade story of the province (tests.conftest)

# (name, file, text, line, what the message or fix must say)
MISTAKES = [
    ("impossible-date-story", "content/sai.md", GOOD.replace("approved_at: 2026-11-01", "approved_at: 2026-11-31"),
     8, "không có thật"),
    ("impossible-date-campaign", "config/campaign.yaml", None, 5, "tháng phải từ 1 đến 12"),
    ("colon-in-title", "content/sai.md", GOOD.replace("title: Bài initiative_story của tinh", "title: Sáng kiến: tiết kiệm điện"),
     2, "đặt tiêu đề trong dấu ngoặc kép"),
    ("tab", "content/sai.md", GOOD.replace("kind: initiative_story\n", "kind: initiative_story\n\tpriority: 1\n"),
     4, "tab"),
    ("misspelt-audience", "content/sai.md", story(audience="casade"), 5, "có phải ý bạn là 'cascade'?"),
    ("misspelt-kind", "content/sai.md", story(kind="initiativ_story"), 3, "có phải ý bạn là 'initiative_story'?"),
    ("misspelt-platform", "content/sai.md", story(platforms="[facebok]"), 9, "có phải ý bạn là 'facebook'?"),
    ("bool-in-vietnamese", "content/sai.md", GOOD.replace("approved: true", "approved: có"), 6, "true"),
    ("date-dmy-in-file", "content/sai.md", GOOD.replace("approved_at: 2026-11-01", "approved_at: 01/11/2026"),
     8, "2026-11-01"),
    ("priority-word", "content/sai.md", story(priority="cao"), 9, "số nguyên"),
    ("link-not-url", "content/sai.md", story(link="congdoan.vn"), 9, "https://"),
    ("unknown-key", "content/sai.md", story(aproved_by="X"), 9, "có phải ý bạn là 'approved_by'?"),
    ("unclosed-quote", "config/units.yaml", "units:\n  - id: tinh\n    name: \"Liên đoàn\n    level: province\n", 3, "ngoặc kép"),
    ("unclosed-list", "schedules/lich.yaml", "schedules:\n  - id: s\n    cron: \"0 8 * * *\"\n    kinds: [guide\n", 4, "dấu ]"),
    ("bad-indent", "config/units.yaml", "units:\n  - id: tinh\n     name: T\n    level: province\n", 3, "thụt lề"),
    ("bad-cron", "schedules/hong.yaml", "schedules:\n  - id: x\n    cron: \"every day\"\n    kinds: [guide]\n", 3, "cron"),
    ("quiet-hours", "schedules/lich.yaml", None, 13, "21:30-06:30"),
    ("not-utf8", "content/sai.md", None, 2, "UTF-8"),
    # the loader's own table (tests/test_load.py), through the commands
    ("misspelt-key-units", "config/units.yaml", "units:\n  - id: tinh\n    name: T\n    level: province\n    parnet: x\n",
     5, "có phải ý bạn là 'parent'?"),
    ("cron-four-fields", "schedules/hong.yaml", 'schedules:\n  - id: x\n    cron: "0 8 * *"\n    kinds: [guide]\n', 3, "5 trường"),
    ("unknown-unit-in-schedule", "schedules/hong.yaml",
     'schedules:\n  - id: x\n    cron: "0 8 * * *"\n    kinds: [guide]\n    units: [tinh, huyen-c]\n', 5, "có phải ý bạn là 'huyen-"),
    ("misspelt-kind-in-schedule", "schedules/hong.yaml", 'schedules:\n  - id: x\n    cron: "0 8 * * *"\n    kinds: [guid]\n',
     4, "có phải ý bạn là 'guide'?"),
]


def _apply(ws: Path, name: str, rel: str, text: str | None) -> None:
    if name == "impossible-date-campaign":
        path = ws / rel
        path.write_text(path.read_text(encoding="utf-8").replace("start: 2026-01-01", "start: 2026-13-01", 1), encoding="utf-8")
    elif name == "quiet-hours":
        path = ws / rel
        path.write_text(path.read_text(encoding="utf-8").replace('"21:30-06:30"', '"21h30 - 6h30"'), encoding="utf-8")
    elif name == "not-utf8":
        (ws / rel).write_bytes(GOOD.replace("Bài initiative_story của tinh", "Sáng tác").encode("cp1252", errors="replace"))
    else:
        write(ws, rel, text or "")


@pytest.mark.parametrize(("name", "rel", "text", "line", "needle"), MISTAKES, ids=[m[0] for m in MISTAKES])
@pytest.mark.parametrize("command", [["check"], ["sync"], ["tick", "--now", "24/11/2026 08:00", "--outbox"]])
def test_every_mistake_is_vietnamese_with_file_line_and_no_traceback(
    mini: Path, command: list[str], name: str, rel: str, text: str | None, line: int, needle: str
) -> None:
    if command[0] == "tick":  # a pass on a folder that broke after a good run: the last good version runs
        assert run(mini, "sync").exit_code == 0
    _apply(mini, name, rel, text)
    result = run(mini, *command)
    assert_vietnamese(result)
    if command[0] == "tick":
        assert result.exit_code in (0, 1), result.output
    else:
        assert result.exit_code == 1, result.output
    assert f"{rel}:{line}" in result.output, result.output
    assert needle in result.output, result.output
    if name == "misspelt-audience":  # one error for the field, not one per member of the union
        assert result.output.count(f"{rel}:") == 1, result.output


def test_bom_before_front_matter_is_accepted(mini: Path) -> None:
    (mini / "content/bom.md").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    result = run(mini, "check")
    assert result.exit_code == 0, result.output
    from bot.load import load_campaign

    assert "bom" in {s.id for s in load_campaign(mini).stories}


def test_content_with_other_extensions_gets_a_warning(mini: Path) -> None:
    write(mini, "content/bai-hoa.MD", GOOD)
    write(mini, "content/ghi-chu.txt", "Nội dung chưa có khai báo")
    write(mini, "schedules/them.yml", "schedules: []\n")
    (mini / "content/anh.jpg").write_bytes(b"\xff\xd8")  # photos beside stories are expected, no warning
    result = run(mini, "check")
    assert result.exit_code == 0, result.output
    assert "content/bai-hoa.MD" in result.output and "bai-hoa.md" in result.output
    assert "content/ghi-chu.txt" in result.output and "ghi-chu.md" in result.output
    assert "schedules/them.yml" in result.output and "them.yaml" in result.output
    assert "anh.jpg" not in result.output


def test_metrics_import_mistakes_name_file_and_line(mini: Path, tmp_path: Path) -> None:
    csv = tmp_path / "so-lieu.csv"
    csv.write_text("unit,metric,value,at\ntinh,initiatives,5,2026-11-31T08:00\ntinh,initiativs,5,2026-11-20T08:00\n",
                   encoding="utf-8")
    result = run(mini, "metrics", "import", str(csv))
    assert_vietnamese(result)
    assert result.exit_code == 1
    assert "so-lieu.csv:2" in result.output and "so-lieu.csv:3" in result.output
    assert "có phải ý bạn là 'initiatives'?" in result.output


@pytest.mark.parametrize(
    ("command", "code"), [(["check"], 1), (["tick", "--now", "24/11/2026 08:00", "--outbox"], 0)]
)
def test_metric_file_mistakes_through_check_and_tick(mini: Path, command: list[str], code: int) -> None:
    """A misspelt metric or unit in data/*.csv: check fails, a tick goes on and names the rows."""
    write(mini, "data/so-lieu.csv", "unit,metric,value,at\ntinh,initiativs,5,2026-11-20T08:00\n"
                                    "huyen-c,initiatives,5,2026-11-20T08:00\ntinh,initiatives,5,2026-11-31T08:00\n")
    result = run(mini, *command)
    assert_vietnamese(result)
    assert result.exit_code == code, result.output
    assert "data/so-lieu.csv:2" in result.output and "có phải ý bạn là 'initiatives'?" in result.output
    assert "data/so-lieu.csv:3" in result.output and "có phải ý bạn là 'huyen-" in result.output
    assert "data/so-lieu.csv:4" in result.output


def all_commands() -> list[list[str]]:
    out: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, cmd in sorted(group.commands.items()):
            out.append([*prefix, name])
            if isinstance(cmd, click.Group):
                walk(cmd, [*prefix, name])

    walk(cli, [])
    return out


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: " ".join(c))
def test_help_and_bad_options_of_every_command_are_vietnamese(mini: Path, command: list[str]) -> None:
    helped = run(mini, *command, "--help")
    assert helped.exit_code == 0
    assert "Cách dùng:" in helped.output and "In hướng dẫn này rồi thoát." in helped.output
    assert_vietnamese(helped)
    wrong = run(mini, *command, "--khong-co-tuy-chon")
    assert wrong.exit_code == 2
    assert "Không có tùy chọn '--khong-co-tuy-chon'" in wrong.output
    assert_vietnamese(wrong)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["tick", "--now", "ngày mai"], "24/11/2026 08:00"),
        (["tick", "--now", "31/11/2026 08:00"], "tháng đó không có ngày này"),
        (["preview", "--days", "0"], "nằm ngoài khoảng cho phép"),
        (["preview", "--days", "nhiều"], "không phải số nguyên hợp lệ"),
        (["demo", "--start", "2026-13-01"], "tháng phải từ 1 đến 12"),
        (["run", "--every"], "cần một giá trị"),
        (["chek"], "Có phải ý bạn là 'check'?"),
        (["new", "story", "--kind", "guid"], "không phải một trong"),
    ],
)
def test_usage_errors_are_vietnamese(mini: Path, args: list[str], needle: str) -> None:
    result = run(mini, *args)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert_vietnamese(result)


def test_root_help_and_defaults_are_vietnamese() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "Cách dùng: cli [TÙY CHỌN] LỆNH [THAM SỐ]..." in result.output
    assert "Tùy chọn:" in result.output and "Lệnh:" in result.output
    run_help = CliRunner().invoke(cli, ["run", "--help"])
    assert "[mặc định: 60]" in run_help.output
    assert_vietnamese(result)


@pytest.mark.parametrize(
    "args",
    [["--workspace", "{ws}", "status"], ["status", "--workspace", "{ws}"], ["status", "-w", "{ws}"],
     ["status", "--workspace={ws}"], ["-v", "status", "--json", "--workspace", "{ws}"]],
)
def test_workspace_before_or_after_the_command(mini: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(mini.parent)  # not the campaign folder: only --workspace can find it
    result = CliRunner().invoke(cli, [a.replace("{ws}", str(mini)) for a in args])
    assert result.exit_code == 0, result.output
    assert "Tổng:" in result.output or '"totals"' in result.output


def test_dates_dmy_and_iso_mean_the_same_moment(mini: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    import shutil

    shutil.copytree(mini, other)
    a = run(mini, "tick", "--now", "24/11/2026 08:00", "--outbox")
    b = run(other, "tick", "--now", "2026-11-24T08:00", "--outbox")
    assert a.exit_code == b.exit_code == 0, a.output + b.output
    assert a.output.splitlines()[0] == b.output.splitlines()[0]
    assert a.output.startswith("08:00 24/11/2026: ")


def test_no_alembic_lines_under_verbose(mini: Path) -> None:
    result = CliRunner().invoke(cli, ["-v", "--workspace", str(mini), "sync"])
    assert result.exit_code == 0
    assert "alembic" not in result.output.lower() and "Context impl" not in result.output


def test_tick_says_how_many_posts_wait_for_the_end_of_quiet_hours(mini: Path) -> None:
    # the 22:00 slot of `toi` (guide, province) falls in the quiet hours 21:30-06:30
    result = run(mini, "tick", "--now", "24/11/2026 22:00", "--outbox")
    assert result.exit_code == 0, result.output
    assert "0 lượt mới" not in result.output.splitlines()[0]
    assert "bài chờ hết giờ yên lặng, sẽ đăng lúc 06:30 25/11/2026" in result.output
    later = run(mini, "tick", "--now", "24/11/2026 23:55", "--outbox")
    assert "0 lượt mới" in later.output and "bài chờ hết giờ yên lặng, sẽ đăng lúc 06:30 25/11/2026" in later.output


def test_status_gives_the_reason_of_every_wait_and_never_cuts_a_name(mini: Path) -> None:
    from datetime import datetime, timedelta

    from bot.vn import TZ

    units = (mini / "config/units.yaml").read_text(encoding="utf-8")
    long_name = "Công đoàn cơ sở Trường Tiểu học A1 thị trấn Khánh Hải huyện Ninh Hải"
    write(mini, "config/units.yaml", units.replace("name: CĐCS Trường Tiểu học A1", f"name: {long_name}"))
    # `status` reads the real clock: plan tomorrow's 22:00 slot (in the quiet hours), still ahead of now
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    assert run(mini, "tick", "--now", f"{tomorrow:%d/%m/%Y} 22:00", "--outbox").exit_code == 0
    result = run(mini, "status")
    assert result.exit_code == 0, result.output
    after = tomorrow + timedelta(days=1)
    assert f"↳ 1 bài: chờ hết giờ yên lặng, đăng lúc 06:30 {after:%d/%m/%Y}" in result.output, result.output
    from bot.channels import spec

    # listed in full, not cut at 40 characters (the platform by its label from the registry)
    assert f"{long_name} · {spec.get('facebook').label}" in result.output


def test_channels_details_say_co_khong(mini: Path) -> None:
    from bot.messages import yes_no

    assert yes_no(False) == "không" and yes_no(True) == "có" and yes_no("x") == "x"


# --- the demo never touches the campaign -------------------------------------------------------


def checksum(path: Path) -> str:
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            h.update(p.relative_to(path).as_posix().encode())
            if p.is_file():
                h.update(p.read_bytes())
        return h.hexdigest()
    return "absent"


def test_demo_never_touches_the_real_store_outbox_or_tokens(sample: Path) -> None:
    (sample / ".env").write_text("FB_TOKEN_LDLD_TINH=EAAGthatisarealtoken1234\n", encoding="utf-8")
    assert run(sample, "sync").exit_code == 0
    # a real pending delivery, as after `tick` in the quiet hours: the old demo "sent" it to the outbox
    assert run(sample, "tick", "--now", "30/11/2026 23:00", "--outbox").exit_code == 0
    store_db = sample / ".campaign" / "campaign.db"
    real_outbox = sample / "outbox"
    before = (checksum(store_db), checksum(real_outbox))

    result = run(sample, "demo", "--days", "3", "--start", "01/12/2026 07:00")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[0].startswith("CHẠY THỬ") and "demo" in lines[0] and "không bị đụng tới" in lines[0]
    assert "CHẠY THỬ" in lines[-1] and "reset --demo" in lines[-1]
    assert (checksum(store_db), checksum(real_outbox)) == before
    demo_posts = list((sample / "demo" / "outbox").glob("*/*/*.json"))
    assert demo_posts, result.output
    assert all("EAAG" not in p.read_text(encoding="utf-8") for p in demo_posts)
    with _store(store_db) as store, store.session() as s:
        pending = s.exec(select(Delivery).where(Delivery.channel_id == "ldld-tinh/facebook")).all()
        assert pending and all(d.state == DeliveryState.PENDING for d in pending)

    # after the demo the preview still shows the coming slots (the old demo left "0 bài sẽ đăng")
    shown = run(sample, "preview", "--from", "01/12/2026 07:00", "--days", "3", "--out", str(sample.parent / "pv"))
    assert shown.exit_code == 0, shown.output
    coming = re.search(r"(\d[\d.]*) bài sẽ đăng", shown.output)
    assert coming and int(coming.group(1).replace(".", "")) > 0, shown.output

    # after the demo the campaign goes on: a new approved story is posted at the next slot (Wed 02/12 08:00)
    write(sample, "content/sang-kien/bai-moi-sau-demo.md", story(unit="ldld-tinh", audience="all", priority="100")
          .replace("approved_at: 2026-11-01", "approved_at: 2026-12-01"))
    posted = run(sample, "tick", "--now", "02/12/2026 08:00", "--outbox")
    assert posted.exit_code == 0, posted.output
    files = list(real_outbox.glob("*/*/*bai-moi-sau-demo*.json"))
    assert files, posted.output


class _store:
    """A store opened and closed around a block."""

    def __init__(self, db: Path) -> None:
        self.store = open_store(f"sqlite:///{db}")

    def __enter__(self):  # noqa: ANN204
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def test_demo_runs_again_without_posting_twice_and_reset_demo_removes_it(mini: Path) -> None:
    first = run(mini, "demo", "--days", "2", "--start", "24/11/2026 07:00")
    assert first.exit_code == 0, first.output
    n = len(list((mini / "demo" / "outbox").glob("*/*/*.json")))
    again = run(mini, "demo", "--days", "2", "--start", "24/11/2026 07:00")
    assert "Xong: 0 bài mới" in again.output
    assert len(list((mini / "demo" / "outbox").glob("*/*/*.json"))) == n
    dry = run(mini, "reset", "--demo", "--dry-run")
    assert dry.exit_code == 0 and (mini / "demo").exists()
    no = run(mini, "reset", "--demo", input="n\n")
    assert "Đã hủy" in no.output and (mini / "demo").exists()
    yes = run(mini, "reset", "--demo", input="y\n")
    assert yes.exit_code == 0 and not (mini / "demo").exists()


# --- reset: a store that an old demo filled ----------------------------------------------------


def test_reset_forgets_what_an_old_demo_played_and_keeps_real_posts(sample: Path) -> None:
    from datetime import UTC, datetime

    from bot.load import load_campaign
    from bot.pipeline import play

    db = sample / ".campaign" / "campaign.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    campaign = load_campaign(sample)
    with _store(db) as store:
        play(campaign, store, {}, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 5)  # what the old demo did
        with store.session() as s:
            real = s.exec(select(Delivery).where(Delivery.state == DeliveryState.SENT)).first()
            assert real is not None
            real.platform_post_id = "100064287310001_987654"  # as if it had really reached Facebook
            s.add(real)
            real_id = real.id
        with store.session() as s:
            slots_before = len(s.exec(select(ScheduleSlot)).all())
    outbox_before = len(list((sample / "outbox").glob("*/*/*.json")))
    assert outbox_before > 0 and slots_before > 0

    before = checksum(db)
    dry = run(sample, "reset", "--dry-run")
    assert dry.exit_code == 0 and "--dry-run" in dry.output
    assert checksum(db) == before
    cancelled = run(sample, "reset", input="n\n")
    assert "Đã hủy" in cancelled.output and checksum(db) == before

    done = run(sample, "reset", "--yes")
    assert done.exit_code == 0, done.output
    assert_vietnamese(done)
    with _store(db) as store, store.session() as s:
        left = s.exec(select(Delivery)).all()
        assert [d.id for d in left] == [real_id]  # the real post is kept: never posted twice
        assert len(s.exec(select(ScheduleSlot)).all()) < slots_before
    remaining = list((sample / "outbox").glob("*/*/*.json"))
    assert [p.name[:6] for p in remaining] == [f"{real_id:06d}"]  # only the kept post's file

    # the campaign goes on: the next slot (Wed 02/12 08:00) is planned again
    again = run(sample, "tick", "--now", "02/12/2026 08:00", "--outbox")
    assert again.exit_code == 0, again.output
    assert len(list((sample / "outbox").glob("*/*/*.json"))) > 1
    nothing = run(sample, "reset", "--dry-run")
    assert "lượt đăng" in nothing.output or "Không có gì" in nothing.output


def test_demo_tells_nobody_and_a_real_tick_still_does(sample: Path) -> None:
    """The sample campaign names alert addresses; the demo's simulated milestones must mail no one."""
    from tests.smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    try:
        (sample / ".env").write_text(f"CAMPAIGN_SMTP_URL={server.url}\nCAMPAIGN_MAIL_FROM=bot@ldld.example.vn\n",
                                     encoding="utf-8")
        result = run(sample, "demo", "--days", "2", "--start", "01/12/2026 07:00")
        assert result.exit_code == 0, result.output
        assert "★" in result.output or "tin cột mốc" in result.output  # milestones were played …
        assert server.inbox.messages == []  # … and nobody was told
        # the same milestones in the real campaign are told (the alerts still work outside the demo)
        real = run(sample, "tick", "--now", "01/12/2026 07:00", "--outbox")
        assert real.exit_code == 0, real.output
        assert server.inbox.messages
    finally:
        server.stop()


@pytest.mark.postgres
def test_reset_on_postgresql(mini: Path, pg_url: str) -> None:
    """The same reset on the shared store of a federation (PostgreSQL, timestamps with zone)."""
    from datetime import UTC, datetime

    from bot.load import load_campaign
    from bot.pipeline import play

    store = open_store(pg_url)
    try:
        play(load_campaign(mini), store, {}, datetime(2026, 11, 24, 0, 0, tzinfo=UTC), 3)
        with store.session() as s:
            sent = s.exec(select(Delivery).where(Delivery.state == DeliveryState.SENT)).all()
            assert len(sent) > 1
            sent[0].platform_post_id = "1001_42"  # reached Facebook
            s.add(sent[0])
            kept = sent[0].id
    finally:
        store.close()
    (mini / ".env").write_text(f"CAMPAIGN_DB_URL={pg_url}\n", encoding="utf-8")
    done = run(mini, "reset", "--yes")
    assert done.exit_code == 0, done.output
    store = open_store(pg_url)
    try:
        with store.session() as s:
            assert [d.id for d in s.exec(select(Delivery)).all()] == [kept]
            kept_slot = s.get(Delivery, kept).slot_at
            # left: the kept post's slot, and past slots that had nothing to post (nothing to redo there)
            for slot in s.exec(select(ScheduleSlot)).all():
                assert slot.deliveries == 0 or slot.slot_at == kept_slot, slot
    finally:
        store.close()
    again = run(mini, "tick", "--now", "25/11/2026 08:00", "--outbox")
    assert again.exit_code == 0 and "lượt mới" in again.output
