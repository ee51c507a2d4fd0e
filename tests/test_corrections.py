"""Corrections and withdrawal end to end (issue 16): the real pipeline (`tick`) against the fake Graph API
and the fake Zalo, over real HTTP.

A story goes to N Facebook Pages and M Zalo OAs (one more Page is held, so its delivery waits). Its text
changes → every post carries the new text, edited in place exactly once; its photo changes with policy
``repost`` → the old posts are gone and one new post stands on each Page/OA; then it is withdrawn →
nothing of it remains anywhere and the waiting delivery is cancelled.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlmodel import select

from bot.cli import cli
from bot.load import load_campaign
from bot.pipeline import tick
from bot.secretbox import generate_key
from bot.store import ContentItem, Delivery, DeliveryState, open_store, utcnow
from bot.store.models import ContentVersion, PostAction
from tests.conftest import write
from tests.fakes.graph_server import GraphFake
from tests.fakes.zalo_server import FakeZalo, StaticServer

PAGES = {"tinh": "1001", "huyen-a": "1002", "huyen-b": "1003"}  # N = 3 Pages that post
HELD_PAGE = ("huyen-c", "1004")  # its token is refused: the delivery waits (pending)
OAS = {"tinh": "2001", "huyen-b": "2003"}  # M = 2 OAs
T0 = datetime.fromisoformat("2026-11-26T08:00+07:00").astimezone(UTC)
BODY = "Anh Nguyễn Văn Bình, công nhân nhà máy điều, chế tạo máy bóc vỏ.\n\nNăng suất tăng gấp ba."
FIXED = BODY.replace("Nguyễn Văn Bình", "Nguyễn Văn Bính")


def campaign_yaml(base_url: str, policy: str = "edit") -> str:
    return f"""
campaign:
  id: thu-sua-bai
  name: Chương trình “1 triệu sáng kiến”
  timezone: Asia/Ho_Chi_Minh
  start: 2026-01-01
  end: 2027-12-31
  hashtags: ["#1TrieuSangKien"]
  media:
    folder: .campaign/media
    base_url: {base_url}
    allow_http: true
  corrections:
    policy: {policy}
"""


UNITS = """
units:
  - id: tinh
    name: Liên đoàn Lao động tỉnh
    level: province
    channels:
      - {platform: facebook, page_id: "1001", token_env: FB_TOKEN_TINH}
      - {platform: zalo, oa_id: "2001", token_env: ZALO_REFRESH_TINH}
  - id: huyen-a
    name: LĐLĐ huyện A
    level: district
    parent: tinh
    channels:
      - {platform: facebook, page_id: "1002", token_env: FB_TOKEN_A}
  - id: huyen-b
    name: LĐLĐ huyện B
    level: district
    parent: tinh
    channels:
      - {platform: facebook, page_id: "1003", token_env: FB_TOKEN_B}
      - {platform: zalo, oa_id: "2003", token_env: ZALO_REFRESH_B}
  - id: huyen-c
    name: LĐLĐ huyện C
    level: district
    parent: tinh
    channels:
      - {platform: facebook, page_id: "1004", token_env: FB_TOKEN_C}
"""

SCHEDULES = """
schedules:
  - id: sang
    cron: "0 8 * * *"
    kinds: [initiative_story]
    units: all
    grace: 2h
"""


def story(body: str = BODY, image: str = "anh.png", extra: str = "") -> str:
    return (f"---\ntitle: Sáng kiến máy bóc vỏ hạt điều\nkind: initiative_story\nunit: tinh\naudience: all\n"
            f"approved: true\napproved_by: Ban Tuyên giáo\napproved_at: 2026-11-01\nimage: {image}\n{extra}---\n"
            f"{body}\n")


def photo(path: Path, color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (800, 420), color).save(path, "PNG")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ws = tmp_path / "ws"
    media = ws / ".campaign" / "media"
    media.mkdir(parents=True)
    with GraphFake() as graph, FakeZalo() as zalo, StaticServer(media) as web:
        zalo.clock.set(T0)
        zalo.verify_pending_calls = 0
        for page in [*PAGES.values(), HELD_PAGE[1]]:
            graph.add_page(page, f"Trang {page}")
        for oa in OAS.values():
            zalo.add_oa(oa, name=f"OA {oa}")
        write(ws, "config/campaign.yaml", campaign_yaml(web.base_url))
        write(ws, "config/units.yaml", UNITS)
        write(ws, "schedules/lich.yaml", SCHEDULES)
        photo(ws / "content" / "anh.png", (183, 28, 28))
        photo(ws / "content" / "anh-moi.png", (20, 90, 160))
        write(ws, "content/bai.md", story())
        env = zalo.env(ZALO_REFRESH_TINH=zalo.seed_refresh_token(OAS["tinh"]),
                       ZALO_REFRESH_B=zalo.seed_refresh_token(OAS["huyen-b"]), CAMPAIGN_SECRET_KEY=generate_key(),
                       ZALO_TIMEOUT="5")
        env.update(GRAPH_API_BASE=graph.base_url, FB_TOKEN_TINH=graph.token_for("1001"),
                   FB_TOKEN_A=graph.token_for("1002"), FB_TOKEN_B=graph.token_for("1003"),
                   FB_TOKEN_C=graph.token_for("1004"))
        graph.revoke(env["FB_TOKEN_C"], subcode=463)
        db = ws / ".campaign" / "campaign.db"
        store = open_store(f"sqlite:///{db}")
        yield {"ws": ws, "graph": graph, "zalo": zalo, "env": env, "store": store, "db": db, "web": web}
        store.close()


def run(world: dict[str, Any], at: datetime) -> Any:
    world["zalo"].clock.set(at)
    return tick(load_campaign(world["ws"]), world["store"], world["env"], at, max_workers=4)


def deliveries(store: Any) -> dict[str, Delivery]:
    with store.session() as s:
        return {d.channel_id: d for d in s.exec(select(Delivery)).all()}


def actions(store: Any) -> list[PostAction]:
    with store.session() as s:
        return list(s.exec(select(PostAction).order_by(PostAction.id)).all())


def fb_posts(graph: GraphFake) -> dict[str, list[Any]]:
    return {page: graph.posts_for(page) for page in PAGES.values()}


def zalo_visible(zalo: FakeZalo) -> dict[str, list[Any]]:
    return {oa: zalo.visible_articles(oa) for oa in OAS.values()}


def store_checksum(db: Path) -> str:
    """Every row of every table, in order: equal before and after means the store did not change."""
    con = sqlite3.connect(db)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def test_text_change_edits_each_post_once_image_change_reposts_and_withdrawal_removes_everything(world) -> None:
    graph, zalo, store = world["graph"], world["zalo"], world["store"]
    run(world, T0)
    ds = deliveries(store)
    assert {cid for cid, d in ds.items() if d.state == DeliveryState.SENT} == {
        *(f"{u}/facebook" for u in PAGES), *(f"{u}/zalo" for u in OAS)}
    assert ds["huyen-c/facebook"].state == DeliveryState.PENDING  # held: its token is refused
    assert all(len(posts) == 1 for posts in fb_posts(graph).values())
    assert all(len(arts) == 1 for arts in zalo_visible(zalo).values())
    first_ids = {cid: d.platform_post_id for cid, d in ds.items() if d.state == DeliveryState.SENT}

    # 1. the text changes: each post carries the new text, edited in place exactly once
    write(world["ws"], "content/bai.md", story(FIXED))
    dry = CliRunner().invoke(cli, ["-w", str(world["ws"]), "corrections", "--dry-run"], env=world["env"])
    assert dry.exit_code == 0, dry.output
    assert "Chạy thử" in dry.output and dry.output.count("→ sửa tại chỗ") == 5
    run(world, T0 + timedelta(hours=1))
    for posts in fb_posts(graph).values():
        assert len(posts) == 1 and "Nguyễn Văn Bính" in posts[0].message and "Bình" not in posts[0].message
    assert sorted(pid for pid, _ in graph.edits) == sorted(p for c, p in first_ids.items() if "facebook" in c)
    for arts in zalo_visible(zalo).values():
        (art,) = arts
        assert art.updates == 1 and "Nguyễn Văn Bính" in str(art.payload["body"])
    assert len(zalo.created_articles) == 2 and not graph.deleted
    with store.session() as s:
        assert s.get(ContentItem, "bai").version == 2
        assert [v.changed for v in s.exec(select(ContentVersion).order_by(ContentVersion.version)).all()] == [
            [], ["text"]]
    assert all(d.post_version == 2 for d in deliveries(store).values() if d.state == DeliveryState.SENT)
    run(world, T0 + timedelta(hours=2))  # nothing more: no second edit
    assert len(graph.edits) == 3 and all(a.updates == 1 for a in zalo.created_articles)

    # 2. the photo changes, policy repost: the old posts go, one new post stands on each Page and OA
    write(world["ws"], "config/campaign.yaml", campaign_yaml(world["web"].base_url, "repost"))
    write(world["ws"], "content/bai.md", story(FIXED, image="anh-moi.png"))
    run(world, T0 + timedelta(hours=3))
    assert sorted(p.id for p in graph.deleted) == sorted(p for c, p in first_ids.items() if "facebook" in c)
    for posts in fb_posts(graph).values():
        (post,) = posts
        assert post.id not in first_ids.values() and "Nguyễn Văn Bính" in post.message
    for arts in zalo_visible(zalo).values():
        (art,) = arts
        assert art.id not in first_ids.values()
    assert len(zalo.created_articles) == 4 and sum(a.removed for a in zalo.created_articles) == 2
    ds = deliveries(store)
    for cid, d in ds.items():
        if d.state == DeliveryState.SENT:
            assert d.platform_post_id != first_ids[cid] and d.removed_at is None and d.post_version == 3
            assert d.extra["previous_posts"][0]["post_id"] == first_ids[cid]
    run(world, T0 + timedelta(hours=4))
    assert sum(len(p) for p in fb_posts(graph).values()) == 3 and len(zalo.created_articles) == 4

    # 3. withdrawn in the front matter: nothing of it remains anywhere, the waiting delivery is cancelled
    write(world["ws"], "content/bai.md", story(FIXED, image="anh-moi.png", extra='withdrawn: "Công ty đề nghị gỡ"\n'))
    run(world, T0 + timedelta(hours=5))
    assert all(posts == [] for posts in fb_posts(graph).values())
    assert all(arts == [] for arts in zalo_visible(zalo).values())
    assert graph.posts_for(HELD_PAGE[1]) == []
    ds = deliveries(store)
    assert ds["huyen-c/facebook"].state == DeliveryState.SKIPPED and "rút bài" in (ds["huyen-c/facebook"].reason or "")
    assert all(d.removed_at is not None for d in ds.values() if d.state == DeliveryState.SENT)
    assert [a.state for a in actions(store)] == ["done"] * len(actions(store))
    assert sorted(a.action for a in actions(store)) == ["edit"] * 5 + ["remove"] * 5 + ["repost"] * 5
    # never planned again, and nothing more happens
    graph.clear_faults()
    run(world, T0 + timedelta(days=1))
    assert sum(len(p) for p in fb_posts(graph).values()) == 0 and len(zalo.created_articles) == 4
    assert len(deliveries(store)) == 6

    # the history tells every post's story
    out = CliRunner().invoke(cli, ["-w", str(world["ws"]), "history", "bai"], env=world["env"])
    assert out.exit_code == 0, out.output
    assert "ĐÃ RÚT" in out.output and "Công ty đề nghị gỡ" in out.output
    assert out.output.count("gỡ bài (phiên bản 3): xong") == 5
    assert out.output.count("sửa tại chỗ (phiên bản 2): xong") == 5


def test_dry_runs_change_nothing(world) -> None:
    run(world, T0)
    write(world["ws"], "content/bai.md", story(FIXED))
    before = store_checksum(world["db"])
    files = {p: p.read_bytes() for p in (world["ws"] / "content").rglob("*.md")}
    runner = CliRunner()
    out = runner.invoke(cli, ["-w", str(world["ws"]), "corrections", "--dry-run"], env=world["env"])
    assert out.exit_code == 0, out.output
    assert out.output.count("→ sửa tại chỗ") == 5
    assert "facebook.com/1001/posts/" in out.output and "08:00 26/11/2026" in out.output
    out = runner.invoke(cli, ["-w", str(world["ws"]), "withdraw", "bai", "--reason", "thử", "--dry-run"],
                        env=world["env"])
    assert out.exit_code == 0, out.output
    assert out.output.count("→ gỡ bài") == 5 and out.output.count("→ huỷ lượt chưa đăng") == 1
    assert store_checksum(world["db"]) == before
    assert {p: p.read_bytes() for p in (world["ws"] / "content").rglob("*.md")} == files
    assert world["graph"].edits == [] and world["graph"].deleted == []


def test_an_edit_refused_for_a_post_not_made_by_this_app_is_reported_with_the_link(world) -> None:
    graph, store = world["graph"], world["store"]
    run(world, T0)
    target = deliveries(store)["huyen-a/facebook"].platform_post_id
    graph._posts_by_id[target].by_app = False  # as if a person had made it by hand
    write(world["ws"], "content/bai.md", story(FIXED))
    run(world, T0 + timedelta(hours=1))
    (refused,) = [a for a in actions(store) if a.state == DeliveryState.FAILED]
    assert refused.channel_id == "huyen-a/facebook"
    assert "App cannot edit non-app posts" in refused.reason and "facebook.com/1002/posts/" in refused.reason
    assert "Bình" in graph._posts_by_id[target].message  # untouched
    assert len(graph.edits) == 2  # the other Pages were edited
    run(world, T0 + timedelta(hours=2))
    assert len([a for a in actions(store) if a.channel_id == "huyen-a/facebook"]) == 1  # not retried forever


def test_a_post_deleted_by_hand_counts_as_removed(world) -> None:
    graph, store = world["graph"], world["store"]
    run(world, T0)
    target = deliveries(store)["tinh/facebook"].platform_post_id
    with graph._lock:  # a person deleted it on the Page
        graph._posts.remove(graph._posts_by_id.pop(target))
    out = CliRunner().invoke(cli, ["-w", str(world["ws"]), "withdraw", "bai", "--reason", "Sai tên tác giả"],
                             env=world["env"])
    assert out.exit_code == 0, out.output
    assert 'withdrawn: "Sai tên tác giả"' in (world["ws"] / "content" / "bai.md").read_text(encoding="utf-8")
    assert deliveries(store)["huyen-c/facebook"].state == DeliveryState.SKIPPED  # cancelled at once
    run(world, utcnow() + timedelta(minutes=1))  # the command's removals are due from the real moment it ran
    by_channel = {a.channel_id: a for a in actions(store)}
    assert [(a.channel_id, a.state, a.reason) for a in by_channel.values() if a.state != "done"] == []
    assert len(by_channel) == 5
    assert "xoá bằng tay" in by_channel["tinh/facebook"].reason
    out = CliRunner().invoke(cli, ["-w", str(world["ws"]), "report", "--out", str(world["ws"] / "bao-cao")],
                             env=world["env"])
    assert out.exit_code == 0, out.output
    html = (world["ws"] / "bao-cao" / "index.html").read_text(encoding="utf-8")
    assert "Bài đã đăng được sửa hoặc gỡ" in html and html.count("gỡ bài (phiên bản 1)") == 5
    assert "Sai tên tác giả" in html and "xoá bằng tay" in html
    assert sum(len(p) for p in fb_posts(graph).values()) == 0
    assert all(arts == [] for arts in zalo_visible(world["zalo"]).values())


def test_withdrawal_does_not_wait_for_quiet_hours(world) -> None:
    run(world, T0)
    write(world["ws"], "schedules/lich.yaml", SCHEDULES + 'settings:\n  quiet_hours: "21:30-06:30"\n')
    write(world["ws"], "content/bai.md", story(extra='withdrawn: "Gỡ ngay"\n'))
    night = datetime.fromisoformat("2026-11-26T23:00+07:00").astimezone(UTC)
    run(world, night)
    assert sum(len(p) for p in fb_posts(world["graph"]).values()) == 0
    assert all(arts == [] for arts in zalo_visible(world["zalo"]).values())


def test_a_removal_waits_on_a_dead_token_and_goes_once_the_token_is_renewed(world) -> None:
    graph, store, env = world["graph"], world["store"], world["env"]
    run(world, T0)
    graph.revoke(env["FB_TOKEN_A"], subcode=460)  # the admin changed their password
    write(world["ws"], "content/bai.md", story(extra='withdrawn: "Sai số liệu"\n'))
    run(world, T0 + timedelta(hours=1))
    by_channel = {a.channel_id: a for a in actions(store)}
    held = by_channel["huyen-a/facebook"]
    assert held.state == DeliveryState.PENDING and "chờ kênh được mở lại" in (held.reason or "")
    assert len(graph.posts_for(PAGES["huyen-a"])) == 1  # still there, waiting for a person
    assert all(a.state == "done" for cid, a in by_channel.items() if cid != "huyen-a/facebook")
    out = CliRunner().invoke(cli, ["-w", str(world["ws"]), "status"], env=env)
    assert out.exit_code == 0 and "TẠM GIỮ" in out.output
    assert "Sửa/gỡ bài đã đăng:" in out.output and "đã rút bai" in out.output and "Sai số liệu" in out.output
    assert "… gỡ bài bai trên huyen-a/facebook: chờ — chờ kênh được mở lại" in out.output
    env["FB_TOKEN_A"] = graph.add_page(PAGES["huyen-a"], token="EAAfake-new-token-after-password-change")
    run(world, T0 + timedelta(hours=2))
    assert graph.posts_for(PAGES["huyen-a"]) == [] and len(graph.deleted) == 3
    assert [a.state for a in actions(store)] == ["done"] * 5


def test_an_unclear_edit_is_checked_on_the_platform_before_it_is_tried_again(world) -> None:
    graph, store = world["graph"], world["store"]
    world["env"].update(CAMPAIGN_SETTLE_SECONDS="1")
    run(world, T0)
    graph.drop_next(after_accept=True, page_id=PAGES["tinh"], endpoint="object")  # edited, but no answer
    write(world["ws"], "content/bai.md", story(FIXED))
    run(world, T0 + timedelta(hours=1))
    unclear = {a.channel_id: a for a in actions(store)}["tinh/facebook"]
    assert unclear.state == DeliveryState.SENDING and unclear.needs_check  # settling: the Page is closed
    run(world, T0 + timedelta(hours=2))
    done = {a.channel_id: a for a in actions(store)}["tinh/facebook"]
    assert done.state == "done" and "kiểm tra lại" in (done.reason or "")
    assert [pid for pid, _ in graph.edits].count(done.target_post_id) == 1  # edited once, not twice


def test_quiet_hours_hold_corrections_only_when_the_campaign_says_so(world) -> None:
    run(world, T0)
    write(world["ws"], "schedules/lich.yaml", SCHEDULES + 'settings:\n  quiet_hours: "21:30-06:30"\n')
    text = campaign_yaml(world["web"].base_url) + "    quiet_hours: true\n"
    write(world["ws"], "config/campaign.yaml", text)
    write(world["ws"], "content/bai.md", story(extra='withdrawn: "Gỡ sáng mai"\n'))
    night = datetime.fromisoformat("2026-11-26T23:00+07:00").astimezone(UTC)
    run(world, night)
    assert sum(len(p) for p in fb_posts(world["graph"]).values()) == 3  # waits for the morning
    assert {a.state for a in actions(world["store"])} == {DeliveryState.PENDING}
    run(world, datetime.fromisoformat("2026-11-27T06:35+07:00").astimezone(UTC))
    assert sum(len(p) for p in fb_posts(world["graph"]).values()) == 0
    assert all(arts == [] for arts in zalo_visible(world["zalo"]).values())


def test_outbox_posts_are_corrected_and_withdrawn_in_the_outbox(mini: Path, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'outbox.db'}")
    try:
        tick(load_campaign(mini), store, {}, T0, max_workers=2)
        files = sorted((mini / "outbox").rglob("*.json"))
        assert files
        text = (mini / "content" / "a.md").read_text(encoding="utf-8")
        write(mini, "content/a.md", text.replace("Nội dung bài viết", "Nội dung đã sửa của bài viết"))
        tick(load_campaign(mini), store, {}, T0 + timedelta(hours=1), max_workers=2)
        with store.session() as s:
            mine = s.exec(select(Delivery).where(Delivery.content_id == "a", Delivery.state == DeliveryState.SENT)).all()
        assert mine
        for d in mine:
            path = mini / "outbox" / d.platform_post_id.removeprefix("outbox:")
            assert "Nội dung đã sửa" in path.read_text(encoding="utf-8")
        write(mini, "content/a.md", text.replace("approved: true", 'approved: true\nwithdrawn: "Thử rút"'))
        tick(load_campaign(mini), store, {}, T0 + timedelta(hours=2), max_workers=2)
        for d in mine:
            path = mini / "outbox" / d.platform_post_id.removeprefix("outbox:")
            assert not path.exists() and path.with_name(path.stem + ".da-go.json").exists()
    finally:
        store.close()


def test_a_wrong_kind_in_corrections_is_a_clear_error(mini: Path) -> None:
    text = (mini / "config" / "campaign.yaml").read_text(encoding="utf-8")
    write(mini, "config/campaign.yaml", text + "  corrections:\n    kinds: {tin-tuc: leave}\n")
    out = CliRunner().invoke(cli, ["-w", str(mini), "check"])
    assert out.exit_code == 1
    assert "config/campaign.yaml" in out.output and "loại bài không có: tin-tuc" in out.output


def test_a_photo_replaced_under_the_same_name_reposts_on_facebook_and_is_updated_on_zalo(world) -> None:
    graph, zalo, store = world["graph"], world["zalo"], world["store"]
    run(world, T0)
    before = {cid: d.platform_post_id for cid, d in deliveries(store).items() if d.state == DeliveryState.SENT}
    photo(world["ws"] / "content" / "anh.png", (0, 120, 60))  # same file name, new picture
    run(world, T0 + timedelta(hours=1))
    by_channel = {a.channel_id: a for a in actions(store)}
    # policy edit: Facebook cannot replace a photo → repost (image: repost); Zalo updates the cover in place
    assert {c: a.action for c, a in by_channel.items()} == {
        **{f"{u}/facebook": "repost" for u in PAGES}, **{f"{u}/zalo": "edit" for u in OAS}}
    assert all(a.state == "done" for a in by_channel.values())
    assert sorted(p.id for p in graph.deleted) == sorted(p for c, p in before.items() if "facebook" in c)
    assert all(len(posts) == 1 for posts in fb_posts(graph).values())
    assert len(zalo.created_articles) == 2 and all(a.updates == 1 for a in zalo.created_articles)
    with store.session() as s:
        assert [v.changed for v in s.exec(select(ContentVersion).order_by(ContentVersion.version)).all()] == [
            [], ["image"]]


def test_a_new_version_reaches_published_posts_only_once_approved(world) -> None:
    graph, zalo, store = world["graph"], world["zalo"], world["store"]
    run(world, T0)
    write(world["ws"], "content/bai.md", story(FIXED).replace("approved: true", "approved: false"))
    run(world, T0 + timedelta(hours=1))
    assert graph.edits == [] and all(a.updates == 0 for a in zalo.created_articles)
    assert actions(store) == []
    write(world["ws"], "content/bai.md", story(FIXED))
    run(world, T0 + timedelta(hours=2))
    assert len(graph.edits) == 3 and all(a.updates == 1 for a in zalo.created_articles)
    assert [a.state for a in actions(store)] == ["done"] * 5


def test_an_edit_that_fails_for_good_is_told_to_the_people_like_a_failed_post(world) -> None:
    """Issue 11's alerts cover corrections: the refused edit reaches the office with the platform's words."""
    from tests.smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    try:
        write(world["ws"], "config/campaign.yaml",
              campaign_yaml(world["web"].base_url) + "  alerts:\n    to: [bantuyengiao@ldld.example.vn]\n")
        world["env"].update(CAMPAIGN_SMTP_URL=server.url, CAMPAIGN_MAIL_FROM="campaign-bot@ldld.example.vn")
        graph, store = world["graph"], world["store"]
        run(world, T0)
        target = deliveries(store)["huyen-a/facebook"].platform_post_id
        graph._posts_by_id[target].by_app = False
        write(world["ws"], "content/bai.md", story(FIXED))
        run(world, T0 + timedelta(hours=1))
        run(world, T0 + timedelta(hours=2))
        mails = server.inbox.to("bantuyengiao@ldld.example.vn")
        failed = [m for m in mails if "bị từ chối" in str(m["Subject"])]
        assert len(failed) == 1, [str(m["Subject"]) for m in mails]
        text = failed[0].get_body(preferencelist=("plain",)).get_content()
        assert "Sửa bài đã đăng" in text and "App cannot edit non-app posts" in text
    finally:
        server.stop()
