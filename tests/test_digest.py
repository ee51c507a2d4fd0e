"""The weekly digest and nudges (issue 17), against a real SMTP server on 127.0.0.1.

One message per contact at the digest time, none again, none on a holiday, none to a muted unit or
contact; a mail server that is down delays without losing; escalation reaches the parent after K
weeks; the preview's figures are those of `status --json` on the sample campaign.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot import digest
from bot.cli import cli
from bot.load import LoadError, load_campaign
from bot.pipeline import run_pass
from bot.store import AlertMessage, Store, open_store
from bot.store.models import DigestRecord, DigestWeek
from tests.conftest import MINI_CAMPAIGN, story, write
from tests.smtp_server import SmtpServer

MON = datetime.fromisoformat("2026-12-07T07:30+07:00").astimezone(UTC)  # a Monday, the default digest time
HA = "ha.nt@ldld.example.vn"
MINH = "vanphong@ldld.example.vn"
AN = "an@huyena.example.vn"
BINH = "binh@huyenb.example.vn"
CUONG = "cuong@a1.example.vn"
DUNG = "dung@a1.example.vn"
UNITS = f"""
units:
  - id: tinh
    name: Liên đoàn Lao động tỉnh
    short_name: LĐLĐ tỉnh
    level: province
    target: 1000
    channels:
      - {{platform: facebook, page_id: "1001", token_env: FB_TOKEN_TINH}}
    contacts:
      - {{name: Nguyễn Thị Hà, role: Trưởng ban Tuyên giáo, email: {HA}}}
      - {{name: Trần Văn Minh, role: Văn phòng, email: {MINH}}}
  - id: huyen-a
    name: LĐLĐ huyện A
    level: district
    parent: tinh
    target: 300
    channels:
      - {{platform: facebook, page_id: "1002", token_env: FB_TOKEN_A}}
    contacts:
      - {{name: Lê Văn An, role: Phó Chủ tịch, email: {AN}, zalo_user_id: "8412345678901234001"}}
  - id: huyen-b
    name: LĐLĐ huyện B
    level: district
    parent: tinh
    target: 200
    digest: false
    channels:
      - {{platform: facebook, page_id: "1003", token_env: FB_TOKEN_B}}
    contacts:
      - {{name: Phạm Bình, role: Chủ tịch, email: {BINH}}}
  - id: cs-a1
    name: CĐCS Trường Tiểu học A1
    level: grassroots
    parent: huyen-a
    target: 20
    channels:
      - {{platform: facebook, page_id: "1004", token_env: FB_TOKEN_A1}}
    contacts:
      - {{name: Võ Cường, email: {CUONG}}}
      - {{name: Đỗ Dũng, email: {DUNG}, digest: false}}
"""
SENT_TO = {HA, MINH, AN, CUONG}  # huyen-b muted as a unit, Dũng muted as a person


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ws(mini: Path) -> Path:
    write(mini, "config/units.yaml", UNITS)
    return mini


def set_digest(ws: Path, block: str) -> None:
    write(ws, "config/campaign.yaml", MINI_CAMPAIGN + block)


def env_for(server: SmtpServer) -> dict[str, str]:
    return {"CAMPAIGN_SMTP_URL": server.url, "CAMPAIGN_MAIL_FROM": "campaign-bot@ldld.example.vn"}


def text_of(msg: EmailMessage, kind: str = "plain") -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return part.get_content()


def digests(store: Store) -> list[AlertMessage]:
    with store.session() as s:
        return list(s.exec(select(AlertMessage).where(AlertMessage.type == "digest").order_by(AlertMessage.id)).all())


def open_db(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'digest.db'}")


def test_one_digest_per_contact_at_the_time_then_none_again(ws: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    env = env_for(smtp)
    store = open_db(tmp_path)
    try:
        run_pass(ws, store, env, MON - timedelta(hours=2), force_outbox=True)  # Monday 05:30: not yet
        assert digests(store) == [] and smtp.inbox.messages == []
        run_pass(ws, store, env, MON, force_outbox=True)
        by_to = {str(m["To"]): m for m in smtp.inbox.messages}
        assert len(smtp.inbox.messages) == len(SENT_TO) and set(by_to) == SENT_TO
        an = by_to[AN]
        assert an["Subject"] == "[campaign-bot] Bản tin tuần 07/12/2026 – LĐLĐ huyện A"
        body = text_of(an)
        assert body.startswith("Kính gửi Lê Văn An,")
        # 0 of 300 while 341 of 730 days are gone: 46,7% expected; no post yet: a nudge with the next step.
        assert "0/300 sáng kiến (0%; theo tiến độ cần 46,7%) · hạng 1/2 trong các đơn vị cùng cấp" in body
        assert ">> Kênh của đơn vị chưa có bài mới hơn 14 ngày. Bước tiếp theo: chia sẻ một trong 3 bài" in body
        assert "CĐCS Trường Tiểu học A1: 0/20 sáng kiến" in body  # the unit below it
        assert "Bài good_practice của huyen-a (content/c.md)" in body  # approved, its own, not posted yet
        assert "0/300" in text_of(an, "html")
        ha = text_of(by_to[HA])
        assert "Tổng hợp đơn vị chậm tiến độ toàn tỉnh (4)" in ha and "LĐLĐ huyện B" in ha
        assert "Tổng hợp" not in body  # only the province's office gets the summary
        assert {m["Message-ID"] for m in smtp.inbox.messages} == {m.message_id for m in digests(store)}
        assert an["Message-ID"] == digest.message_id(load_campaign(ws), "2026-W50", AN)
        # The same time again, later that day, and the next morning: nothing more.
        for later in (MON, MON + timedelta(minutes=1), MON + timedelta(hours=5), MON + timedelta(hours=23)):
            run_pass(ws, store, env, later, force_outbox=True)
        assert len(smtp.inbox.messages) == len(SENT_TO) and len(digests(store)) == len(SENT_TO)
        # status: when each unit was last sent a digest
        cli_env = {**env, "CAMPAIGN_DB_URL": store.url}
        data = json.loads(CliRunner().invoke(cli, ["--workspace", str(ws), "status", "--json"], env=cli_env).output)
        assert data["digests"]["huyen-a"].startswith("2026-12-07T00:30") and data["digests"]["huyen-b"] is None
        out = CliRunner().invoke(cli, ["--workspace", str(ws), "status"], env=cli_env).output
        assert "Bản tin tuần gửi lần gần nhất:" in out and "LĐLĐ huyện A: 07:30 07/12/2026" in out
        assert "LĐLĐ huyện B: chưa gửi" in out
        # The next week: one more each.
        run_pass(ws, store, env, MON + timedelta(days=7), force_outbox=True)
        assert len(smtp.inbox.messages) == 2 * len(SENT_TO)
    finally:
        store.close()


def test_a_holiday_sends_none_and_the_next_week_does(ws: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    set_digest(ws, "  holidays: [2026-12-07]\n")
    env = env_for(smtp)
    store = open_db(tmp_path)
    try:
        r = run_pass(ws, store, env, MON, force_outbox=True)
        assert r.digest.skipped == "ngày nghỉ 07/12/2026"
        run_pass(ws, store, env, MON + timedelta(hours=3), force_outbox=True)
        assert smtp.inbox.messages == [] and digests(store) == []
        run_pass(ws, store, env, MON + timedelta(days=7), force_outbox=True)
        assert {str(m["To"]) for m in smtp.inbox.messages} == SENT_TO
    finally:
        store.close()


def test_a_mail_server_down_delays_without_losing(ws: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    env = env_for(smtp)
    store = open_db(tmp_path)
    try:
        smtp.stop()
        r = run_pass(ws, store, env, MON, force_outbox=True)
        assert r.digest.recorded == len(SENT_TO) and r.alerts.sent == 0 and r.alerts.retry >= 1
        assert all(m.state in ("pending", "retry") for m in digests(store))
        smtp.start()
        for minutes in (5, 10, 20):
            run_pass(ws, store, env, MON + timedelta(minutes=minutes), force_outbox=True)
        assert sorted(str(m["To"]) for m in smtp.inbox.messages) == sorted(SENT_TO)
        assert all(m.state == "sent" for m in digests(store))
    finally:
        store.close()


def test_escalation_reaches_the_parent_after_k_weeks(ws: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    set_digest(ws, "  digest:\n    escalate_after: 2\n")
    env = env_for(smtp)
    store = open_db(tmp_path)
    try:
        run_pass(ws, store, env, MON, force_outbox=True)
        first = {str(m["To"]): text_of(m) for m in smtp.inbox.messages}
        assert "cần quan tâm" not in first[HA]
        # huyen-b catches up part of the way during the week; huyen-a and cs-a1 do not.
        write(ws, "data/so-lieu.csv", "unit,metric,value,at\nhuyen-b,initiatives,60,2026-12-10T17:00:00+07:00\n")
        run_pass(ws, store, env, MON + timedelta(days=7), force_outbox=True)
        second = {str(m["To"]): text_of(m) for m in smtp.inbox.messages[len(first):]}
        part = second[HA].split("cần quan tâm", 1)[1].split("Các đơn vị trực thuộc", 1)[0]
        assert "LĐLĐ huyện A:" in part and "LĐLĐ huyện B" not in part
        assert "chậm tiến độ 2 tuần liền" in second[HA]
        assert "CĐCS Trường Tiểu học A1:" in second[AN].split("cần quan tâm", 1)[1]  # its own parent is told
        with store.session() as s:
            weeks = {(w.unit_id, w.week): w.streak for w in s.exec(select(DigestWeek)).all()}
        assert weeks[("huyen-a", "2026-W51")] == 2 and weeks[("huyen-b", "2026-W51")] == 1
    finally:
        store.close()


def test_without_smtp_nothing_is_recorded_and_the_tick_goes_on(ws: Path, tmp_path: Path) -> None:
    store = open_db(tmp_path)
    try:
        r = run_pass(ws, store, {}, MON, force_outbox=True)
        assert r.digest.skipped == "chưa đặt CAMPAIGN_SMTP_URL" and r.folder.ok and not r.digest.errors
        assert digests(store) == []
    finally:
        store.close()


def test_contacts_validated_at_load_and_unreachable_units_warned(ws: Path) -> None:
    write(ws, "config/units.yaml", UNITS.replace(f"email: {AN}", "email: an-at-huyena"))
    with pytest.raises(LoadError) as exc:
        load_campaign(ws)
    text = str(exc.value)
    assert "config/units.yaml:" in text and "'an-at-huyena' không phải địa chỉ e-mail" in text
    write(ws, "config/units.yaml", UNITS.split("    contacts:\n      - {name: Võ Cường")[0])  # cs-a1: nobody
    out = CliRunner().invoke(cli, ["--workspace", str(ws), "check"])
    assert "⚠ 1 đơn vị chưa có người phụ trách (contacts:) nên không nhận bản tin tuần: cs-a1" in out.output


def test_preview_on_the_sample_matches_status_and_changes_nothing(sample: Path, tmp_path: Path) -> None:
    env = {"CAMPAIGN_DB_URL": f"sqlite:///{tmp_path / 'sample.db'}"}
    run = CliRunner()
    assert run.invoke(cli, ["--workspace", str(sample), "tick", "--now", "30/11/2026 07:00"], env=env).exit_code == 0
    status = json.loads(run.invoke(cli, ["--workspace", str(sample), "status", "--json"], env=env).output)
    out = tmp_path / "xem"
    res = run.invoke(cli, ["--workspace", str(sample), "digest", "--preview", "--now", "30/11/2026 07:35",
                           "--out", str(out), "--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    c = load_campaign(sample)
    addresses = {ct.email for u in c.units for ct in u.contacts if u.digest and ct.digest}
    assert len(data["digests"]) == len(addresses) == 9
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count("<li>") == 9 and all((out / d["file"]).exists() for d in data["digests"])
    # Every unit status lists as behind has the same value and percentage in the digest.
    behind = [e for level in status["milestones"]["lagging"]["behind"].values() for e in level]
    assert len(behind) >= 10
    for e in behind:
        u = data["units"][e["unit"]]
        assert (u["value"], u["percent"], u["target"]) == (e["value"], e["percent"], e["target"])
    # 334 of 730 days gone: 45,8%; more than 10 points below → lagging, named in the province's summary.
    expected = {uid for uid, u in data["units"].items() if u["target"] and 45.8 - u["percent"] > 10}
    assert expected == {"cd-vien-chuc", "cd-giao-duc", "ldld-bac-ai", "ldld-ninh-son"}
    [province] = [d for d in data["digests"] if d["to"] == "bantuyengiao@ldld-ninhthuan.example.vn"]
    assert set(province["summary"]) == expected
    page = (out / province["file"]).read_text(encoding="utf-8")
    assert "Tổng hợp đơn vị chậm tiến độ toàn tỉnh (4)" in page and "52/200 sáng kiến (26%" in page
    bac_ai_text = [d for d in json.loads((out / "digests.json").read_text(encoding="utf-8"))
                   if d["units"] == ["ldld-bac-ai"]][0]["text"]
    assert "41/120 sáng kiến (34,2%; theo tiến độ cần 45,8%)" in bac_ai_text
    assert "còn cách tiến độ 11,6 điểm phần trăm. Bước tiếp theo" in bac_ai_text
    [bac_ai] = [d for d in data["digests"] if d["units"] == ["ldld-bac-ai"]]
    assert bac_ai["summary"] == []
    # Nothing changed: no digest recorded, no standing kept.
    store = open_store(env["CAMPAIGN_DB_URL"])
    try:
        assert digests(store) == []
        with store.session() as s:
            assert s.exec(select(DigestWeek)).all() == [] and s.exec(select(DigestRecord)).all() == []
    finally:
        store.close()
    one = run.invoke(cli, ["--workspace", str(sample), "digest", "--preview", "--unit", "ldld-bac-ai",
                           "--now", "30/11/2026 07:35", "--out", str(tmp_path / "mot"), "--json"], env=env)
    assert [d["units"] for d in json.loads(one.output)["digests"]] == [["ldld-bac-ai"]]


def test_digest_now_sends_the_due_ones(ws: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    env = {**env_for(smtp), "CAMPAIGN_DB_URL": f"sqlite:///{tmp_path / 'now.db'}"}
    run = CliRunner()
    res = run.invoke(cli, ["--workspace", str(ws), "digest", "--now", "07/12/2026 07:30"], env=env)
    assert res.exit_code == 0, res.output
    assert "ghi 4 bản tin mới" in res.output and "Đã gửi 4 thư" in res.output
    again = run.invoke(cli, ["--workspace", str(ws), "digest", "--now", "07/12/2026 07:30"], env=env)
    assert "ghi 0 bản tin mới" in again.output and len(smtp.inbox.messages) == 4


def test_demo_writes_the_digests_as_eml_files(ws: Path) -> None:
    res = CliRunner().invoke(cli, ["--workspace", str(ws), "demo", "--days", "8", "--start", "06/12/2026 07:00"],
                             env={"CAMPAIGN_SMTP_URL": ""})
    assert res.exit_code == 0, res.output
    files = sorted((ws / "demo" / "digests").glob("*.eml"))
    assert len(files) == len(SENT_TO) and "Bản tin tuần: 4 thư (.eml)" in res.output  # Monday 07/12 only
    import email
    import email.policy

    msgs = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert {str(m["To"]) for m in msgs} == SENT_TO
    assert all(str(m["Subject"]).startswith("[campaign-bot] Bản tin tuần 07/12/2026") for m in msgs)


def test_two_processes_record_each_digest_once(ws: Path, any_store: Store) -> None:
    """Two workers at the same slot (SQLite and PostgreSQL): the stable Message-ID is the guarantee."""
    c = load_campaign(ws)
    from bot.store.sync import sync_campaign

    sync_campaign(c, any_store)
    first = digest.record_due(c, any_store, {}, MON, offline=True)
    second = digest.record_due(c, any_store, {}, MON + timedelta(minutes=1), offline=True)
    assert (first.recorded, second.recorded) == (len(SENT_TO), 0)
    assert sorted(m.recipient for m in digests(any_store)) == sorted(SENT_TO)
    with any_store.session() as s:
        assert len(s.exec(select(DigestWeek)).all()) == 4  # one standing per unit and week
    sent = digest.write_eml(any_store, ws / "eml", MON, "bot@example.vn")
    assert sent == len(SENT_TO) and digest.write_eml(any_store, ws / "eml", MON, "bot@example.vn") == 0
    assert digest.last_sent(any_store).keys() == {"tinh", "huyen-a", "cs-a1"}


def test_last_weeks_posts_with_links_and_what_waits_on_a_held_channel(ws: Path, tmp_path: Path) -> None:
    store = open_db(tmp_path)
    try:
        for day in range(7):  # a week of the 08:00 slot, posted into the outbox
            run_pass(ws, store, {}, MON + timedelta(days=day, minutes=30), force_outbox=True)
        from bot.store.models import ChannelState

        with store.session() as s:  # what the worker writes when Facebook refuses the token
            st = s.get(ChannelState, "huyen-a/facebook")
            assert st is not None
            st.status, st.reason, st.held_at = "held", "token hết hạn", MON + timedelta(days=6)
            st.fix = "đặt token mới vào FB_TOKEN_A trong .env"
            s.add(st)
        write(ws, "content/e.md", story("initiative_story", "huyen-a", "own"))  # a new story, for a held channel
        run_pass(ws, store, {}, MON + timedelta(days=7, minutes=30), force_outbox=True)  # its slot now waits
        c = load_campaign(ws)
        slot, made, stands = digest.preview(c, store, MON + timedelta(days=7, minutes=5), unit="huyen-a")
        [d] = made
        assert slot == MON + timedelta(days=7) and d.address == AN
        posted = d.text.split("Tuần qua đã đăng:", 1)[1].split("Tuần này theo lịch:", 1)[0]
        # Three approved stories reach huyen-a, so three posts (then nothing is left to share).
        assert posted.count("· facebook outbox:huyen-a/facebook/") == 3 and "08:00 07/12/2026 Bài initiative_story" in posted
        assert "Bài đã duyệt đơn vị có thể chia sẻ" not in d.text
        assert "Kênh đang bị tạm giữ — cần làm ngay:" in d.text
        assert ("facebook: tạm giữ vì token hết hạn, 1 bài đang chờ (không mất bài nào). "
                "Cách sửa: đặt token mới vào FB_TOKEN_A trong .env") in d.text
        assert stands["huyen-a"].quiet is False and "bài gần nhất 09/12/2026" in d.text
        assert digests(store) == []  # without CAMPAIGN_SMTP_URL nothing was recorded
    finally:
        store.close()


def test_a_crash_between_claim_and_send_sends_it_on_a_later_pass_once(ws: Path, tmp_path: Path,
                                                                      smtp: SmtpServer) -> None:
    from bot import alerts

    env = env_for(smtp)
    store = open_db(tmp_path)
    try:
        c = load_campaign(ws)
        from bot.store.sync import sync_campaign

        sync_campaign(c, store)
        assert digest.record_due(c, store, env, MON).recorded == len(SENT_TO)
        an = next(m for m in digests(store) if m.recipient == AN)
        assert alerts._claim(store, an.id, "worker-that-died", MON) is not None  # claimed, then the process died
        report = alerts.AlertsReport()
        alerts.send_due(store, env, MON + timedelta(minutes=1), "worker-2", report)
        assert report.sent == len(SENT_TO) - 1 and smtp.inbox.to(AN) == []  # its lease still holds
        alerts.send_due(store, env, MON + alerts.LEASE + timedelta(minutes=1), "worker-2", report)
        assert len(smtp.inbox.to(AN)) == 1 and len(smtp.inbox.messages) == len(SENT_TO)
        alerts.send_due(store, env, MON + timedelta(hours=2), "worker-3", report)
        assert len(smtp.inbox.messages) == len(SENT_TO)
    finally:
        store.close()
