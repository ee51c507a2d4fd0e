"""Helpers for tests and benchmarks that run `campaign-bot worker` processes against a fake platform.

A campaign folder with one unit per Facebook Page, deliveries seeded straight into the store (each
with its own text, so every post on the fake names its delivery), worker subprocesses, and the
tally of what the fake accepted against what the store recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from bot.channels.facebook import normalize_text
from bot.load import Campaign, load_campaign
from bot.posts import compose_text
from bot.store import ContentItem, Delivery, DeliveryState, Store, utcnow
from bot.store.sync import sync_campaign

REPO = Path(__file__).resolve().parent.parent
FIRST_PAGE = 100064000100001


def page_ids(count: int) -> list[str]:
    return [str(FIRST_PAGE + i) for i in range(count)]


def unit_id(i: int) -> str:
    return f"cd-{i:03d}"


def token_env(i: int) -> str:
    return f"FB_TOKEN_CD_{i:03d}"


def make_workspace(root: Path, pages: list[str]) -> Path:
    """A campaign folder: one province and one grassroots union per Page, no schedules, no banners."""
    ws = root / "ws"
    (ws / "config").mkdir(parents=True, exist_ok=True)
    (ws / "config/campaign.yaml").write_text(textwrap.dedent("""\
        campaign:
          id: thu-tai
          name: Thử tải nhiều worker
          timezone: Asia/Ho_Chi_Minh
          start: 2026-01-01
          end: 2027-12-31
          phases:
            - {name: Cả chương trình, start: 2026-01-01, end: 2027-12-31}
          hashtags: ["#1TrieuSangKien"]
        """), encoding="utf-8")
    lines = ["units:", "  - id: tinh", "    name: Liên đoàn Lao động tỉnh", "    level: province"]
    for i, page in enumerate(pages):
        lines += [
            f"  - id: {unit_id(i)}",
            f"    name: Công đoàn cơ sở số {i + 1}",
            "    level: grassroots",
            "    parent: tinh",
            "    channels:",
            f'      - {{platform: facebook, page_id: "{page}", token_env: {token_env(i)}}}',
        ]
    (ws / "config/units.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ws


def worker_env(ws: Path, db_url: str, graph_base: str, tokens: list[str], **extra: str) -> dict[str, str]:
    """The environment of a worker process: the store, the fake's address and one token per Page."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_", "CAMPAIGN_", "GRAPH_"))}
    env.update(
        CAMPAIGN_WORKSPACE=str(ws),
        CAMPAIGN_DB_URL=db_url,
        GRAPH_API_BASE=graph_base,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    env.update({token_env(i): token for i, token in enumerate(tokens)})
    env.update(extra)
    return env


@dataclass
class Seeded:
    campaign: Campaign
    expected: dict[tuple[str, str], int]  # (page id, normalized text) -> delivery id
    ids: list[int] = field(default_factory=list)


def seed(store: Store, ws: Path, pages: list[str], per_page: int, *, due_at: datetime | None = None) -> Seeded:
    """``per_page`` stories, each delivered to every Page: ``per_page × len(pages)`` deliveries."""
    campaign = load_campaign(ws)
    sync_campaign(campaign, store)
    now = utcnow()
    due = due_at or now - timedelta(minutes=1)
    expected: dict[tuple[str, str], int] = {}
    with store.session() as s:
        items = []
        for n in range(per_page):
            item = ContentItem(
                id=f"thu/{n:05d}", title=f"Sáng kiến thử số {n + 1}", kind="initiative_story", unit_id="tinh",
                audience="all", platforms=["facebook"], approved=True, approved_by="Ban Tuyên giáo",
                approved_at=now, body=f"Câu chuyện số {n + 1}: người lao động làm lợi cho đơn vị.", source=None,
            )
            items.append(item)
            s.add(item)
        deliveries = []
        for n, item in enumerate(items):
            for i, _page in enumerate(pages):
                d = Delivery(content_id=item.id, channel_id=f"{unit_id(i)}/facebook", unit_id=unit_id(i),
                             platform="facebook", day=due.date().isoformat(), due_at=due, created_at=now,
                             priority=0, extra={"n": n})
                deliveries.append((i, item, d))
                s.add(d)
        s.flush()
        for i, item, d in deliveries:
            expected[(pages[i], normalize_text(compose_text(item, campaign)))] = d.id or 0
    return Seeded(campaign, expected, sorted(expected.values()))


def spawn_worker(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    out: Any = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "worker", *args], env=env, cwd=str(REPO),
            stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        )
    finally:
        if log:
            out.close()


def state_counts(store: Store) -> Counter[str]:
    with store.session() as s:
        rows = s.exec(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
    return Counter({state: n for state, n in rows})


@dataclass
class Tally:
    deliveries: int
    posts: int  # posts the fake accepted on the Pages of the test
    duplicates: int  # posts beyond the first for one delivery
    lost: int  # deliveries with no post on the fake
    stuck: int  # deliveries not in a final state
    strays: int  # posts that match no delivery
    mismatched: int  # sent deliveries whose recorded post id is not the post on the fake
    states: dict[str, int]
    reconciled: int

    def line(self) -> str:
        return (f"deliveries={self.deliveries} posts={self.posts} duplicates={self.duplicates} lost={self.lost} "
                f"stuck={self.stuck} strays={self.strays} mismatched={self.mismatched} reconciled={self.reconciled} "
                f"states={self.states}")


def tally(store: Store, seeded: Seeded, posts: list[Any]) -> Tally:
    """Compare the fake's posts (objects with page_id, message, id) with the store's deliveries."""
    seen: Counter[int] = Counter()
    post_of: dict[int, str] = {}
    strays = 0
    for p in posts:
        did = seeded.expected.get((p.page_id, normalize_text(p.message)))
        if did is None:
            strays += 1
            continue
        seen[did] += 1
        post_of.setdefault(did, p.id)
    with store.session() as s:
        rows = s.exec(select(Delivery)).all()
    states = Counter(d.state for d in rows)
    mismatched = sum(
        1 for d in rows if d.state == DeliveryState.SENT and d.id in post_of and d.platform_post_id != post_of[d.id]
    )
    return Tally(
        deliveries=len(rows),
        posts=len(posts),
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        lost=sum(1 for did in seeded.ids if seen[did] == 0),
        stuck=sum(1 for d in rows if d.state in DeliveryState.OPEN),
        strays=strays,
        mismatched=mismatched,
        states=dict(states),
        reconciled=sum(1 for d in rows if (d.extra or {}).get("reconciled")),
    )
