"""The worker: claim due deliveries, render, publish, and record what happened.

The deliveries table is the work queue. Every delivery is accounted for at every moment:

* ``pending``/``retry`` → ``sending`` is written (with a lease) *before* the platform call;
* ``sending`` → ``sent`` with the platform's id right after it, or ``retry`` (with back-off and
  the platform's pause honoured), or ``failed`` with the platform's reason;
* a hold (expired token, missing permission) puts the delivery back to ``pending`` and holds
  its channel until a person acts;
* a ``sending`` row whose lease expired (the process died mid-call), or any answer that may
  hide a post the platform made, is reconciled with the platform before it is sent again.

At most one post is in flight per channel: a worker must hold the channel's lease (an atomic
UPDATE on ``channelstate``) to post to it, whatever the number of workers or machines, and a
channel with a delivery in ``sending`` (a live call, or one a dead process left behind) is not
leased to anybody else until that delivery is settled or reclaimed.

Claiming. A pass claims work in small batches: up to ``batch`` channels that have due
deliveries, each with its channel lease and its first due delivery moved to ``sending`` (one
statement on PostgreSQL; a channel with an edit or removal due gets that first). On PostgreSQL
the channel rows and the delivery rows are taken with ``SELECT … FOR UPDATE SKIP LOCKED``, so
concurrent claimers on any number of machines get disjoint work without waiting for each other;
on SQLite (one process) the same conditions go through atomic conditional UPDATEs. A thread then
drains its channel (at most ``PER_CHANNEL_PER_RUN`` deliveries a pass), claiming each next
delivery the same way, and releases the channel. The finish of one delivery and the claim of the
next travel together (one statement on PostgreSQL: ``finish_then_claim``), so a delivery costs one
round trip and one commit; the next is claimed only if that fenced finish went through.
``lease_until`` of a released channel keeps the time it was released, so
channels are served in turn.

Leases. While a pass runs, a heartbeat renews the leases this worker holds (channels and
deliveries in ``sending``). A process that dies stops renewing: after ``lease`` seconds
(``CAMPAIGN_LEASE_SECONDS``, default 300, which must exceed the longest platform call) another
worker reclaims its deliveries (``reclaim_expired``) and reconciles them before any resend.
Every write after a claim is fenced: it applies only while this worker still holds the row, so
a worker that lost its lease can never overwrite what another worker recorded.

Edits, reposts and removals of published posts (issue 16, ``postaction`` rows planned by
bot.corrections) go through the same queue rules: claimed to ``sending`` under a lease, a channel with
an action or a delivery in ``sending`` is leased to nobody, unclear answers settle, dead workers'
claims are reclaimed with ``needs_check`` and the platform is asked (``Channel.current``) before any
second call. A channel's due actions go before its deliveries; during quiet hours only actions go.

Where things are: :mod:`bot.worker.runner` (the :class:`Worker`: leases, claiming, the pass),
:mod:`bot.worker.publish` (one delivery: the platform call and what its answer means),
:mod:`bot.worker.actions` (edits, reposts and removals), :mod:`bot.worker.upkeep` (holds released by
a new token, token renewals, engagement reads) and :mod:`bot.worker.policy` (back-off, secrets,
the report). Every state change goes through the store's functions (bot.store.deliveries,
bot.store.channels): the worker itself talks no SQL.
"""

from bot.worker.policy import (
    BASE_BACKOFF,
    BATCH,
    ENGAGEMENT_EVERY,
    ENGAGEMENT_WINDOW,
    LEASE,
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    PER_CHANNEL_PER_RUN,
    SETTLE,
    SETTLING,
    WorkerReport,
    backoff,
    default_owner,
    post_progress,
    scrub,
    secrets_of,
)
from bot.worker.runner import Worker

__all__ = [
    "BASE_BACKOFF",
    "BATCH",
    "ENGAGEMENT_EVERY",
    "ENGAGEMENT_WINDOW",
    "LEASE",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF",
    "PER_CHANNEL_PER_RUN",
    "SETTLE",
    "SETTLING",
    "Worker",
    "WorkerReport",
    "backoff",
    "default_owner",
    "post_progress",
    "scrub",
    "secrets_of",
]
