"""The worker's rules in numbers (attempts, back-off, leases, settle window), secrets hygiene, the report."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.channels import spec
from bot.store.deliveries import SETTLING

if TYPE_CHECKING:
    from bot.channels import Channel, ChannelContext, HoldChannel
    from bot.clock import Clock
    from bot.load import Campaign
    from bot.store.db import Store

log = logging.getLogger("bot.worker")

MAX_ATTEMPTS = 8
BASE_BACKOFF = 60.0  # seconds; doubles each attempt, capped below (CAMPAIGN_BACKOFF_SECONDS)
MAX_BACKOFF = 3600.0
LEASE = timedelta(minutes=5)  # CAMPAIGN_LEASE_SECONDS
# After an answer that leaves unclear whether the post was made (timeout, dropped connection, 5xx on
# a creating call), the platform may still be working on it: the channel waits this long before any
# other post or the reconcile check (CAMPAIGN_SETTLE_SECONDS).
SETTLE = 60.0
PER_CHANNEL_PER_RUN = 25
BATCH = 8  # channels (each with its first delivery) claimed per transaction
ENGAGEMENT_EVERY = timedelta(hours=6)
ENGAGEMENT_WINDOW = timedelta(days=14)

__all__ = ["SETTLING"]  # re-exported: the lease owner of a row that waits out its settle window


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, retry_after: float | None = None, base: float = BASE_BACKOFF) -> float:
    """Exponential back-off with jitter; a platform's own wait wins when longer."""
    delay = min(MAX_BACKOFF, base * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def seconds_setting(env: dict[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name) or default)
    except ValueError:
        log.warning("%s không phải số giây; dùng %s", name, default)
        return default
    return value if value > 0 else default


def secrets_of(env: dict[str, str], rows: list[Any]) -> list[str]:
    """Every secret value the process knows (the platform registry names the variables), to scrub
    from texts we store or print."""
    return spec.secret_values(env, [r.token_env for r in rows])


def scrub(text: str, secrets: list[str]) -> str:
    """The registry's one scrubber (bot.channels.spec.scrub), bounded to what a reason may hold."""
    return spec.scrub(text, secrets)


def post_progress(d: Any) -> dict[str, Any]:
    """What a multi-step platform call (a Zalo article, a repost) has done so far, kept on the row."""
    return dict((d.extra or {}).get("progress", {}))


@dataclass
class WorkerReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    held: dict[str, str] = field(default_factory=dict)  # channel -> reason
    engagement_read: int = 0

    def merge(self, other: WorkerReport) -> None:
        self.outcomes.update(other.outcomes)
        self.held.update(other.held)
        self.engagement_read += other.engagement_read


class WorkerState(Protocol):
    """What the steps (bot.worker.publish, .actions, .upkeep) use of the :class:`~bot.worker.runner.Worker`
    that runs them. Declared here, below them all, so that the steps need not import the runner that
    imports them (no import circle, not even one for type hints)."""

    campaign: Campaign
    store: Store
    env: dict[str, str]
    owner: str
    clock: Clock
    ctx: ChannelContext
    rows: dict[str, Any]
    secrets: list[str]
    metrics: dict[str, dict[str, float]] | None
    force_outbox: bool
    backoff_base: float
    settle: float
    _lock: threading.Lock
    _acting: set[int]

    def _row(self, channel_id: str) -> Any: ...
    def channel(self, channel_id: str) -> Channel: ...
    def _acquire(self, channel_id: str) -> bool: ...
    def _release(self, channel_id: str) -> None: ...
    def _claim(self, d: Any) -> Any: ...
    def _finish(self, delivery_id: int, *, claimed: bool = True, current: Any = None, audit_action: str | None = None,
                model: type = ..., **values: Any) -> bool: ...
    def _pause(self, channel_id: str, platform: str, scope: str, seconds: float, reason: str) -> None: ...
    def _hold(self, channel_id: str, exc: HoldChannel) -> None: ...
