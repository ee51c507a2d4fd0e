"""Alerts to the people who run the campaign (issue 11), against a real SMTP server on 127.0.0.1.

Each event is told once: recorded with its Message-ID before sending, claimed by one process at a
time, grouped, storm-capped; a mail server that is down is retried and never stops a tick.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot import alerts
from bot.cli import cli
from bot.load import load_campaign
from bot.pipeline import run_pass, tick
from bot.store import AlertEvent, AlertMessage, Delivery, Store, open_store
from tests.conftest import MINI_CAMPAIGN, REPO, write
from tests.fakes.graph_server import GraphFake
from tests.smtp_server import SmtpServer
from tests.test_last_good import break_units

T0 = datetime.fromisoformat("2026-12-01T08:00+07:00").astimezone(UTC)
BAN = "bantuyengiao@ldld.example.vn"
IT = "it@ldld.example.vn"
ALERTS = f"""  alerts:
    to: [{BAN}]
    folder: [{IT}]
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def with_alerts(ws: Path, block: str = ALERTS) -> None:
    write(ws, "config/campaign.yaml", MINI_CAMPAIGN + block)


def mail_env(server: SmtpServer) -> dict[str, str]:
    return {"CAMPAIGN_SMTP_URL": server.url, "CAMPAIGN_MAIL_FROM": "campaign-bot@ldld.example.vn"}


def body(msg: EmailMessage, kind: str = "plain") -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None, kind
    return part.get_content()


def stored(store: Store) -> list[AlertMessage]:
    with store.session() as s:
        return list(s.exec(select(AlertMessage).order_by(AlertMessage.id)).all())


# --- the scenario of the issue --------------------------------------------------------------


def test_broken_file_between_two_slots_one_alert_each_then_one_valid_again(mini: Path, tmp_path: Path,
                                                                            smtp: SmtpServer) -> None:
    """As `run` does each minute (run_pass), in simulated time."""
    with_alerts(mini)
    env = mail_env(smtp)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert run_pass(mini, store, env, T0, force_outbox=True).planned == 6
        assert smtp.inbox.messages == []  # nothing to tell yet
        break_units(mini)
        for minutes in (60, 61, 75, 120):  # `run` keeps ticking on the broken folder
            r = run_pass(mini, store, env, T0 + timedelta(minutes=minutes), force_outbox=True)
            assert not r.folder.ok
        # The next slot still goes out on every channel.
        r = run_pass(mini, store, env, T0 + timedelta(days=1), force_outbox=True)
        assert r.planned == 6 and r.worker.outcomes["sent"] == 6
        # Exactly one alert per configured address, Vietnamese subject correctly encoded.
        assert len(smtp.inbox.messages) == 2
        for addr in (BAN, IT):
            [msg] = smtp.inbox.to(addr)
            assert msg["Subject"] == "[campaign-bot] Thư mục chiến dịch có lỗi — bot vẫn chạy theo phiên bản cũ"
            raw = msg.as_bytes().decode("ascii")  # 7-bit on the wire: RFC 2047 encoded words
            assert "=?utf-8?" in raw.split("\n\n", 1)[0].lower()
            text = body(msg)
            assert "config/units.yaml:11" in text and "levle" in text and "08:00 01/12/2026" in text
            assert "campaign-bot check" in text
            assert "config/units.yaml:11" in body(msg, "html") and "<li>" in body(msg, "html")
            assert msg["From"] == "campaign-bot@ldld.example.vn"
        ids = {m.message_id for m in stored(store)}
        assert {m["Message-ID"] for m in smtp.inbox.messages} == ids
        # status works and shows file:line
        status = CliRunner().invoke(cli, ["--workspace", str(mini), "status"], env={**env, "CAMPAIGN_DB_URL":
                                                                                   store.url})
        assert status.exit_code == 0 and "config/units.yaml:11" in status.output
        # Fixed: one "valid again" mail per address, and the new content is used.
        text = (mini / "config/units.yaml").read_text(encoding="utf-8").replace("levle:", "level:")
        (mini / "config/units.yaml").write_text(text, encoding="utf-8")
        r = run_pass(mini, store, env, T0 + timedelta(days=1, hours=1), force_outbox=True)
        assert r.folder.ok
        run_pass(mini, store, env, T0 + timedelta(days=1, hours=2), force_outbox=True)
        assert len(smtp.inbox.messages) == 4
        for addr in (BAN, IT):
            valid = [m for m in smtp.inbox.to(addr) if "hợp lệ trở lại" in m["Subject"]]
            assert len(valid) == 1 and "09:00 01/12/2026" in body(valid[0])
    finally:
        store.close()


# --- grouping, storm cap ---------------------------------------------------------------------


def forty_units(ws: Path, pages: dict[str, str]) -> dict[str, str]:
    lines = ["units:", "  - id: tinh", "    name: Liên đoàn Lao động tỉnh", "    level: province", "    channels: []"]
    env: dict[str, str] = {}
    for i, (page, token) in enumerate(sorted(pages.items()), 1):
        lines += [f"  - id: cs-{i:02d}", f"    name: Công đoàn cơ sở số {i}", "    level: grassroots",
                  "    parent: tinh", "    channels:",
                  f'      - {{platform: facebook, page_id: "{page}", token_env: FB_TOKEN_CS_{i:02d}}}']
        if i == 7:
            lines += ["    alerts:", "      to: [cs07@ldld.example.vn]"]
        env[f"FB_TOKEN_CS_{i:02d}"] = token
    write(ws, "config/units.yaml", "\n".join(lines) + "\n")
    (ws / "content/c.md").unlink()  # a story of a unit this tree does not have
    write(ws, "schedules/lich.yaml", """
        schedules:
          - id: sang
            cron: "0 8 * * *"
            kinds: [initiative_story]
            units: all
            grace: 2h
    """)
    return env


def test_forty_channels_held_at_once_give_one_message_per_recipient(mini: Path, tmp_path: Path,
                                                                     smtp: SmtpServer) -> None:
    with GraphFake() as fake:
        pages = fake.add_pages(40)
        env = forty_units(mini, pages)
        with_alerts(mini, f"  alerts:\n    to: [{BAN}]\n    channel: [{IT}]\n")
        for token in pages.values():
            fake.revoke(token, subcode=463)  # expired, all at once
        env |= mail_env(smtp) | {"GRAPH_API_BASE": fake.base_url}
        store = open_store(f"sqlite:///{tmp_path / 's.db'}")
        try:
            r = run_pass(mini, store, env, T0)
            assert len(r.worker.held) == 40
            assert fake.post_count() == 0
        finally:
            store.close()
    assert len(smtp.inbox.messages) == 3
    for addr in (BAN, IT):
        [msg] = smtp.inbox.to(addr)
        assert msg["Subject"] == "[campaign-bot] 40 kênh bị tạm giữ — cần gia hạn token"
        text = body(msg)
        assert text.count("(cs-") == 40 and "FB_TOKEN_CS_01" in text and "FB_TOKEN_CS_40" in text
        assert "không mất bài nào" in text
    [own] = smtp.inbox.to("cs07@ldld.example.vn")  # the unit's own contact hears of its channel only
    assert own["Subject"] == "[campaign-bot] 1 kênh bị tạm giữ — cần gia hạn token"
    assert "cs-07/facebook" in body(own) and "cs-08" not in body(own)


def test_storm_is_capped_to_one_message_per_hour_and_summarised_next(mini: Path, tmp_path: Path,
                                                                     smtp: SmtpServer) -> None:
    with_alerts(mini)
    campaign = load_campaign(mini)
    env = mail_env(smtp)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")

    def failure(n: int, at: datetime) -> None:
        with store.session() as s:
            alerts.record_event(s, f"test:{n}", "delivery.failed", subject="tinh/facebook", unit_id="tinh", at=at,
                                detail={"title": f"Bài số {n}", "reason": f"(#100) lỗi số {n}"})

    try:
        failure(1, T0)
        alerts.run_pass(store, campaign, env, T0)
        for n, minutes in ((2, 10), (3, 20), (4, 50)):
            failure(n, T0 + timedelta(minutes=minutes))
            alerts.run_pass(store, campaign, env, T0 + timedelta(minutes=minutes))
        assert len(smtp.inbox.to(BAN)) == 1
        waiting = alerts.alerts_data(store)["waiting"]
        assert waiting["delivery.failed"]["items"] == 3
        alerts.run_pass(store, campaign, env, T0 + timedelta(minutes=61))
        first, summary = smtp.inbox.to(BAN)
        assert "1 bài đăng" in first["Subject"] and "(#100) lỗi số 1" in body(first)
        assert summary["Subject"] == "[campaign-bot] 3 bài đăng bị từ chối hẳn"
        assert all(f"(#100) lỗi số {n}" in body(summary) for n in (2, 3, 4))
        assert smtp.inbox.to(IT) == []  # failures are not the folder list's business
    finally:
        store.close()


# --- once: crashes, a server that is down, two processes ------------------------------------


def folder_event(store: Store, at: datetime = T0) -> None:
    with store.session() as s:
        alerts.record_event(s, "folder.invalid:1", "folder.invalid", subject="config", at=at,
                            detail={"problems": [{"file": "config/units.yaml", "line": 3, "field": None,
                                                  "message": "lỗi", "fix": None}], "count": 1})


def test_recorded_but_not_sent_is_sent_on_the_next_pass_once(mini: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    with_alerts(mini)
    campaign = load_campaign(mini)
    env = mail_env(smtp)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        folder_event(store)
        # A process records the messages and dies before sending them ...
        alerts.run_pass(store, campaign, env, T0, owner="a", send=False)
        recorded = {m.recipient: m.message_id for m in stored(store)}
        assert set(recorded) == {BAN, IT} and smtp.inbox.messages == []
        # ... and one dies after claiming one, before the server has it.
        assert alerts._claim(store, stored(store)[0].id, "a", T0) is not None
        r = alerts.run_pass(store, campaign, env, T0 + timedelta(minutes=1), owner="b")
        assert r.sent == 1  # the unclaimed one; the claimed one waits for its lease
        r = alerts.run_pass(store, campaign, env, T0 + alerts.LEASE + timedelta(minutes=1), owner="b")
        assert r.sent == 1
        for _ in range(3):
            alerts.run_pass(store, campaign, env, T0 + timedelta(hours=2), owner="c")
        assert Counter(m["To"] for m in smtp.inbox.messages) == {BAN: 1, IT: 1}
        assert {m["To"]: m["Message-ID"] for m in smtp.inbox.messages} == recorded  # the recorded ids
    finally:
        store.close()


def test_mail_server_down_is_retried_later_and_never_fails_a_tick(mini: Path, tmp_path: Path,
                                                                   smtp: SmtpServer) -> None:
    with_alerts(mini)
    campaign = load_campaign(mini)
    env = mail_env(smtp)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        folder_event(store)
        smtp.stop()
        r = tick(campaign, store, env, T0, force_outbox=True)
        assert r.planned == 6 and r.worker.outcomes["sent"] == 6  # the tick did its work
        assert r.alerts.sent == 0 and r.alerts.errors and "127.0.0.1" in r.alerts.errors[0]
        assert {m.state for m in stored(store)} <= {"retry", "pending"}
        smtp.start()
        smtp.inbox.refuse = True  # up, but "451 try later"
        r = tick(campaign, store, env, T0 + timedelta(minutes=5), force_outbox=True)
        assert r.alerts.retry >= 1 and smtp.inbox.messages == []
        smtp.inbox.refuse = False
        for minutes in (6, 20, 60, 120):
            tick(campaign, store, env, T0 + timedelta(minutes=minutes), force_outbox=True)
        assert Counter(m["To"] for m in smtp.inbox.messages) == {BAN: 1, IT: 1}
        assert {m.state for m in stored(store)} == {"sent"}
    finally:
        store.close()


TWO_PROCESSES = """
import sys
from datetime import datetime, timedelta
from pathlib import Path
from bot import alerts
from bot.load import load_campaign
from bot.store import open_store
ws, url, smtp, owner = sys.argv[1:5]
t0 = datetime.fromisoformat(sys.argv[5])
campaign = load_campaign(Path(ws))
store = open_store(url)
env = {"CAMPAIGN_SMTP_URL": smtp, "CAMPAIGN_MAIL_FROM": "bot@ldld.example.vn"}
for i in range(6):
    alerts.run_pass(store, campaign, env, t0 + timedelta(minutes=i), owner=owner)
store.close()
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_send_each_alert_once(backend: str, mini: Path, tmp_path: Path, smtp: SmtpServer,
                                            request: pytest.FixtureRequest) -> None:
    recipients = [f"nguoi{i:02d}@ldld.example.vn" for i in range(25)]
    with_alerts(mini, f"  alerts:\n    to: [{', '.join(recipients)}]\n")
    url = f"sqlite:///{tmp_path / 's.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = open_store(url)
    try:
        folder_event(store)
        with store.session() as s:
            for i in range(5):
                alerts.record_event(s, f"held:{i}", "channel.held", subject=f"tinh/facebook{i}", unit_id="tinh",
                                    at=T0, detail={"reason": "token hết hạn", "fix": "gia hạn FB_TOKEN_TINH"})
        procs = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, str(mini), url, smtp.url, f"p{i}",
                                   T0.isoformat()], cwd=REPO, stderr=subprocess.PIPE, text=True) for i in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert "Traceback" not in err, err
        msgs = stored(store)
    finally:
        store.close()
    assert len(msgs) == 50 and {m.state for m in msgs} == {"sent"}  # 25 recipients × (folder, held)
    got = Counter(m["Message-ID"] for m in smtp.inbox.messages)
    assert len(got) == 50 and set(got.values()) == {1}
    held = [m for m in smtp.inbox.messages if "5 kênh" in m["Subject"]]
    assert len(held) == 25  # the five held channels grouped, for each recipient


# --- no alert configured, chat services, other events ---------------------------------------


def test_no_alert_configured_attempts_no_mail_and_check_says_so_once(mini: Path, tmp_path: Path,
                                                                     smtp: SmtpServer) -> None:
    env = mail_env(smtp)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        run_pass(mini, store, env, T0, force_outbox=True)
        break_units(mini)
        r = run_pass(mini, store, env, T0 + timedelta(hours=1), force_outbox=True)
        assert r.alerts.errors == [] and smtp.inbox.messages == [] and stored(store) == []
        with store.session() as s:
            assert [e.type for e in s.exec(select(AlertEvent)).all()] == ["folder.invalid"]  # still listed
    finally:
        store.close()
    with_alerts(mini, "")
    text = (mini / "config/units.yaml").read_text(encoding="utf-8").replace("levle:", "level:")
    (mini / "config/units.yaml").write_text(text, encoding="utf-8")
    out = CliRunner().invoke(cli, ["--workspace", str(mini), "check"]).output
    assert out.count("Chưa cấu hình cảnh báo") == 1
    # Addresses but no CAMPAIGN_SMTP_URL (the sample campaign's case): no mail is attempted either.
    with_alerts(mini)
    out = CliRunner().invoke(cli, ["--workspace", str(mini), "check"], env={"CAMPAIGN_SMTP_URL": ""}).output
    assert out.count("chưa đặt CAMPAIGN_SMTP_URL") == 1


class ChatServer(ThreadingHTTPServer):
    received: list[dict]


class ChatHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append({"path": self.path, "body": json.loads(data)})  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_chat_services_through_apprise_urls_without_secrets_in_the_store(mini: Path, tmp_path: Path) -> None:
    server = ChatServer(("127.0.0.1", 0), ChatHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = "s3cr3t-webhook-token"
    url = f"json://127.0.0.1:{server.server_address[1]}/hook/{secret}"
    campaign = load_campaign(mini)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        folder_event(store)
        r = alerts.run_pass(store, campaign, {"CAMPAIGN_NOTIFY_URLS": url}, T0)
        assert r.sent == 1, r.errors
        alerts.run_pass(store, campaign, {"CAMPAIGN_NOTIFY_URLS": url}, T0 + timedelta(hours=2))
        [got] = server.received
        assert got["body"]["title"] == "[campaign-bot] Thư mục chiến dịch có lỗi — bot vẫn chạy theo phiên bản cũ"
        assert "config/units.yaml:3" in got["body"]["message"]
        [msg] = stored(store)
        assert msg.recipient.startswith("apprise:") and secret not in msg.recipient
    finally:
        store.close()
        server.shutdown()
    dump = (tmp_path / "s.db").read_bytes()
    assert secret.encode() not in dump


def test_milestone_and_unreadable_metric_source_are_told(mini: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    with_alerts(mini, f"  alerts:\n    milestone: [{BAN}]\n    metrics: [{IT}]\n")
    write(mini, "config/milestones.yaml", """
        metric_source:
          csv: data/
          url: http://127.0.0.1:9/so-lieu.csv
          every: 1h
        milestones:
          - id: moc-tinh
            metric: initiatives
            unit: tinh
            thresholds: [500]
            announce_to: own
            banner: null
            message: "Toàn tỉnh đã có {{ value | so }} sáng kiến."
    """)
    write(mini, "data/so-lieu.csv", "unit,metric,value,at\ntinh,initiatives,650,2026-11-30T10:00\n")
    env = mail_env(smtp)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        for hours in (0, 2, 12, 23):
            run_pass(mini, store, env, T0 + timedelta(hours=hours), force_outbox=True)
        [ms] = smtp.inbox.to(BAN)
        assert "Đạt cột mốc" in ms["Subject"] and "500" in ms["Subject"]
        assert smtp.inbox.to(IT) == []  # failing, but not for a day yet
        for hours in (25, 26, 30):
            run_pass(mini, store, env, T0 + timedelta(hours=hours), force_outbox=True)
        [mt] = smtp.inbox.to(IT)
        assert mt["Subject"] == "[campaign-bot] Không đọc được nguồn số liệu từ hơn một ngày"
        assert "http://127.0.0.1:9/so-lieu.csv" in body(mt)
        with store.session() as s:
            assert len(s.exec(select(Delivery).where(Delivery.content_id.startswith("milestone/"))).all()) == 2
    finally:
        store.close()


def test_alerts_command_lists_sent_and_pending(mini: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    with_alerts(mini)
    env = {**mail_env(smtp), "CAMPAIGN_DB_URL": f"sqlite:///{tmp_path / 's.db'}"}
    store = open_store(env["CAMPAIGN_DB_URL"])
    try:
        folder_event(store)
        alerts.run_pass(store, load_campaign(mini), mail_env(smtp), T0)
        with store.session() as s:
            alerts.record_event(s, "x", "delivery.failed", subject="tinh/facebook", unit_id="tinh", at=T0,
                                detail={"reason": "(#100) Invalid parameter"})
        smtp.stop()
        alerts.run_pass(store, load_campaign(mini), mail_env(smtp), T0 + timedelta(minutes=1))
    finally:
        store.close()
    runner = CliRunner()
    out = runner.invoke(cli, ["--workspace", str(mini), "alerts"], env=env)
    assert out.exit_code == 0, out.output
    assert "đã gửi" in out.output and "sẽ gửi lại" in out.output and BAN in out.output
    data = json.loads(runner.invoke(cli, ["--workspace", str(mini), "alerts", "--json"], env=env).stdout)
    states = Counter((m["type"], m["state"]) for m in data["messages"])
    assert states == {("folder.invalid", "sent"): 2, ("delivery.failed", "retry"): 1}
    # … and the report shows them
    report = runner.invoke(cli, ["--workspace", str(mini), "report", "--out", str(tmp_path / "r")], env=env)
    assert report.exit_code == 0, report.output
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "Cảnh báo gửi tới người phụ trách" in html and BAN in html and "sẽ gửi lại" in html


def test_run_process_keeps_going_on_a_broken_file_and_tells_once(mini: Path, tmp_path: Path,
                                                                  smtp: SmtpServer) -> None:
    """The real `campaign-bot run` (a pass every second): a file broken and fixed while it runs.
    (Slot posting on the last good version is shown in simulated time above.)"""
    import os
    import signal
    import time

    with_alerts(mini)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_", "CAMPAIGN_"))}
    env.update(mail_env(smtp), CAMPAIGN_WORKSPACE=str(mini), PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"

    def wait_for(what: str, cond) -> None:  # noqa: ANN001
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.1)
        pytest.fail(f"{what}: {log.read_text(encoding='utf-8')}")

    def passes() -> int:
        return log.read_text(encoding="utf-8").count("lượt mới")

    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--every", "1", "--outbox"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("first pass", lambda: passes() >= 1)
        break_units(mini)
        wait_for("one alert per address", lambda: len(smtp.inbox.messages) >= 2)
        seen = passes()
        wait_for("it keeps going", lambda: passes() >= seen + 3)
        text = (mini / "config/units.yaml").read_text(encoding="utf-8").replace("levle:", "level:")
        (mini / "config/units.yaml").write_text(text, encoding="utf-8")
        wait_for("valid again", lambda: len(smtp.inbox.messages) >= 4)
        seen = passes()
        wait_for("and on", lambda: passes() >= seen + 2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(encoding="utf-8")
    assert proc.returncode == 0, output
    assert "config/units.yaml:11" in output and "Traceback" not in output
    subjects = Counter((str(m["To"]), "hợp lệ trở lại" in m["Subject"]) for m in smtp.inbox.messages)
    assert subjects == {(BAN, False): 1, (IT, False): 1, (BAN, True): 1, (IT, True): 1}


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_from_the_url_and_the_password_never_leaks(mini: Path, tmp_path: Path) -> None:
    password = "Mk-bí-mật-2026!"
    server = SmtpServer(login=("bot@ldld.example.vn", password))  # AUTH without TLS: only on 127.0.0.1 here
    server.start()
    try:
        with_alerts(mini)
        campaign = load_campaign(mini)
        store = open_store(f"sqlite:///{tmp_path / 's.db'}")
        quoted = "M" + "k-b%C3%AD-m%E1%BA%ADt-2026%21"
        try:
            folder_event(store)
            wrong = {"CAMPAIGN_SMTP_URL": f"smtp://bot%40ldld.example.vn:sai@127.0.0.1:{server.port}"}
            r = alerts.run_pass(store, campaign, wrong, T0)
            assert r.sent == 0 and r.retry == 1 and "127.0.0.1" in r.errors[0]  # refused: retried later
            assert ":sai@" not in " ".join(r.errors) and "bot%40" not in " ".join(r.errors)
            url = f"smtp://bot%40ldld.example.vn:{quoted}@127.0.0.1:{server.port}"
            for minutes in (5, 30, 90):
                r = alerts.run_pass(store, campaign, {"CAMPAIGN_SMTP_URL": url}, T0 + timedelta(minutes=minutes))
            assert Counter(m["To"] for m in server.inbox.messages) == {BAN: 1, IT: 1}
            assert server.logins and set(server.logins) == {"bot@ldld.example.vn"}
            listing = CliRunner().invoke(cli, ["--workspace", str(mini), "alerts", "--json"],
                                         env={"CAMPAIGN_DB_URL": store.url, "CAMPAIGN_SMTP_URL": url})
            assert password not in listing.output and quoted not in listing.output
        finally:
            store.close()
    finally:
        server.stop()
    dump = (tmp_path / "s.db").read_bytes()
    assert password.encode() not in dump and quoted.encode() not in dump


def test_a_channel_released_by_hand_is_told_to_those_who_heard_of_the_hold(mini: Path, tmp_path: Path,
                                                                          smtp: SmtpServer) -> None:
    with GraphFake() as fake:
        pages = fake.add_pages(3)
        env = forty_units(mini, pages)
        with_alerts(mini, f"  alerts:\n    channel: [{IT}]\n")
        fake.revoke(env["FB_TOKEN_CS_02"], subcode=460)
        env |= mail_env(smtp) | {"GRAPH_API_BASE": fake.base_url, "CAMPAIGN_DB_URL": f"sqlite:///{tmp_path / 's.db'}"}
        runner = CliRunner()
        assert runner.invoke(cli, ["--workspace", str(mini), "tick", "--now", "2026-12-01T08:00"], env=env).exit_code == 0
        [held] = smtp.inbox.to(IT)
        assert "1 kênh bị tạm giữ" in held["Subject"] and "cs-02/facebook" in body(held)
        out = runner.invoke(cli, ["--workspace", str(mini), "channels", "--offline", "--release", "cs-02/facebook"],
                            env=env)
        assert out.exit_code == 0, out.output
        runner.invoke(cli, ["--workspace", str(mini), "tick", "--now", "2026-12-01T08:05"], env=env)
    released = [m for m in smtp.inbox.to(IT) if "mở lại" in m["Subject"]]
    assert len(released) == 1 and "cs-02/facebook" in body(released[0]) and "mở lại bằng lệnh" in body(released[0])
