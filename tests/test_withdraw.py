"""Withdrawal under fire (issue 16): an item posted on 30 Pages is withdrawn while `campaign-bot worker`
processes are killed (SIGKILL) at random moments and the fake Graph API drops or delays some deletions.
Running again ends with all 30 posts removed, each DELETE accepted once, no action failed, no error.

The item has no file (as a milestone announcement): it is withdrawn by its id with
`campaign-bot withdraw ID --reason …`, which cancels nothing here (everything was sent) and queues
the 30 removals; the workers do them under the same leases and fences as posts.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import cli
from bot.corrections import withdraw_in_store
from bot.store import ContentItem, Delivery, DeliveryState, open_store, utcnow
from bot.store.models import PostAction
from bot.worker import Worker
from tests.fakes.graph_server import GraphFake
from tests.worker_fleet import make_workspace, page_ids, seed, spawn_worker, worker_env

PAGES = 30
LEASE = 3.0  # seconds: a killed worker's claims are reclaimed (and reconciled) after this
SETTLE = 0.5
KILLS = 6
CALM = 90.0  # the most the last worker may take to finish (a busy machine is slow); not an assertion


def test_killed_workers_during_a_withdrawal_end_with_every_post_removed_once(tmp_path: Path) -> None:
    rng = random.Random(16)
    pages = page_ids(PAGES)
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    store = open_store(url)
    with GraphFake(latency=0.1, duplicate_window=0) as fake:
        tokens = [fake.add_page(p) for p in pages]
        ws = make_workspace(tmp_path, pages)
        seeded = seed(store, ws, pages, 1)
        env = worker_env(ws, url, fake.base_url, tokens, CAMPAIGN_LEASE_SECONDS=str(LEASE),
                         CAMPAIGN_BACKOFF_SECONDS="0.2", CAMPAIGN_SETTLE_SECONDS=str(SETTLE),
                         GRAPH_API_READ_TIMEOUT="1.0", GRAPH_API_CONNECT_TIMEOUT="2.0")
        # Everything is posted first, in this process.
        worker = Worker(seeded.campaign, store, env, max_workers=4, heartbeat=False)
        try:
            worker.run_once()
        finally:
            worker.close()
        assert fake.post_count() == PAGES
        posted = {p.id for p in fake.posts_for()}

        out = CliRunner().invoke(cli, ["withdraw", "thu/00000", "--reason", "Công ty đề nghị gỡ bài"], env=env)
        assert out.exit_code == 0, out.output
        assert out.output.count("→ gỡ bài") == PAGES

        # Workers killed at random moments; the platform drops or delays some deletions meanwhile.
        logs = tmp_path / "logs"
        logs.mkdir()
        args = ("--concurrency", "3", "--batch", "4", "--poll", "0.1", "--owner", "worker-1")
        for k in range(KILLS):
            if k % 2 == 0:
                fake.drop_next(after_accept=rng.random() < 0.5, endpoint="object")
            else:
                fake.slow_next(rng.uniform(0.3, 1.4), endpoint="object", accept=True)
            seen = len(fake.requests)
            proc = spawn_worker(env, *args, log=logs / f"worker-{k}.log")
            started = time.monotonic()  # the kill comes once the worker is at work: its first call arrived
            while len(fake.requests) == seen and proc.poll() is None and time.monotonic() - started < CALM:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()

        # Then one worker runs in peace until nothing is left to do.
        fake.clear_faults()
        proc = spawn_worker(env, *args, log=logs / "worker-last.log")
        try:
            deadline = time.monotonic() + CALM
            while time.monotonic() < deadline:
                with store.session() as s:
                    open_ = s.exec(select(PostAction).where(PostAction.state.in_(  # type: ignore[attr-defined]
                        [DeliveryState.PENDING, DeliveryState.RETRY, DeliveryState.SENDING]))).all()
                    total = len(s.exec(select(PostAction)).all())
                if total == PAGES and not open_:
                    break
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        with store.session() as s:
            acts = s.exec(select(PostAction)).all()
            ds = s.exec(select(Delivery)).all()
            item = s.get(ContentItem, "thu/00000")
        assert item is not None and item.withdrawn == "Công ty đề nghị gỡ bài"
        assert len(acts) == PAGES and {a.action for a in acts} == {"remove"}
        assert [(a.channel_id, a.state, a.reason) for a in acts if a.state != "done"] == []
        assert all(d.removed_at is not None for d in ds) and len(ds) == PAGES
        assert fake.post_count() == 0
        deleted = [p.id for p in fake.deleted]
        assert sorted(deleted) == sorted(posted)  # each post deleted exactly once, none left, none twice
        assert fake.overlaps == []  # never two calls at once on one Page
        for log in logs.iterdir():
            assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace"), log.name
    store.close()


@pytest.mark.postgres
def test_two_workers_on_postgresql_remove_every_post_of_the_item_once(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL (SKIP LOCKED claims): two workers at once take the removals; each post is deleted once,
    the other item's posts stay, and no two calls are ever open at once on one Page."""
    pages = page_ids(12)
    store = open_store(pg_url)
    try:
        with GraphFake(latency=0.02, duplicate_window=0) as fake:
            tokens = [fake.add_page(p) for p in pages]
            ws = make_workspace(tmp_path, pages)
            seeded = seed(store, ws, pages, 2)  # two items, each on every Page
            env = worker_env(ws, pg_url, fake.base_url, tokens)
            first = Worker(seeded.campaign, store, env, max_workers=4, heartbeat=False)
            try:
                first.run_once()
            finally:
                first.close()
            assert fake.post_count() == 24
            with store.session() as s:
                doomed = {d.platform_post_id for d in s.exec(select(Delivery).where(Delivery.content_id == "thu/00000"))}
                withdraw_in_store(s, "thu/00000", "Sai tên tác giả", utcnow(), actor="test")
            workers = [Worker(seeded.campaign, store, env, owner=f"w{i}", max_workers=3, batch=2) for i in range(2)]
            threads = [threading.Thread(target=w.run_once) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for w in workers:
                w.close()
            with store.session() as s:
                acts = s.exec(select(PostAction)).all()
            assert len(acts) == 12 and all(a.state == "done" for a in acts)
            assert sorted(p.id for p in fake.deleted) == sorted(doomed)
            assert fake.post_count() == 12 and not ({p.id for p in fake.posts_for()} & doomed)
            assert fake.overlaps == []
    finally:
        store.close()
