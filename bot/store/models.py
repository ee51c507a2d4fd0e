"""The store's tables.

Every datetime is UTC-aware (sqlmodel maps ``datetime`` to a timezone-aware column and
rejects naive values). The deliveries table is the work queue: one row per content item
per channel, unique, so nothing can be planned twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, literal_column, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class DeliveryState:
    """States of a delivery. ``sending`` is written *before* the platform call."""

    PENDING = "pending"  # planned, waiting for its time (or for a held channel)
    SENDING = "sending"  # claimed, the platform call may be in progress
    RETRY = "retry"  # a retryable error; next_attempt_at says when
    SENT = "sent"  # the platform accepted it; platform_post_id is set
    FAILED = "failed"  # given up, reason says why
    SKIPPED = "skipped"  # expired before it could go out (story past `expires`)

    OPEN = (PENDING, SENDING, RETRY)
    ALL = (PENDING, SENDING, RETRY, SENT, FAILED, SKIPPED)


# The conditions of the partial indexes of migration 0010, word for word.
OPEN_SQL = "state IN ('pending', 'sending', 'retry')"
SENT_SQL = "state = 'sent'"


def sent_state(table: Any) -> Any:
    """``state = 'sent'`` with the value written into the SQL (a bound value would not let SQLite use
    ``ix_delivery_sent_at``, the partial index of sent posts by time; see :func:`open_state`)."""
    return table.c.state == literal_column("'sent'")


def open_state(table: Any) -> Any:
    """``state IN ('pending', 'sending', 'retry')`` on ``table`` (a Table or an alias of one).

    Why a query on a channel's open rows says this even beside ``state = 'sending'``: the index
    that answers it (``ix_delivery_channel_next``) holds open rows only, so that its size follows
    the queue and not the history, and SQLite uses a partial index only when the query repeats
    the index's condition as it is written (it does no algebra). PostgreSQL would prove it alone."""
    return table.c.state.in_([literal_column(f"'{s}'") for s in DeliveryState.OPEN])


class Unit(SQLModel, table=True):
    id: str = Field(primary_key=True)
    name: str
    short_name: str | None = None
    level: str = Field(index=True)
    parent_id: str | None = Field(default=None, index=True)
    target: int | None = None
    # Materialized path "root/child/grandchild/" so subtree queries are one LIKE.
    path: str = Field(index=True)


class Channel(SQLModel, table=True):
    """A unit's account on one platform, as configured in config/units.yaml."""

    id: str = Field(primary_key=True)  # "<unit id>/<platform>"
    unit_id: str = Field(index=True)
    platform: str
    account_id: str | None = None  # page_id or oa_id
    token_env: str | None = None  # the name of the variable, never its value
    broadcast: bool = False
    active: bool = True  # false once removed from the config (kept for history)


class ChannelState(SQLModel, table=True):
    """Runtime state of a channel, shared by every worker through the store.

    Also used for app-wide pauses with ids like ``app:facebook``.
    """

    channel_id: str = Field(primary_key=True)
    status: str = "active"  # active | held
    reason: str | None = None  # why it is held (in Vietnamese, shown to staff)
    fix: str | None = None  # what a person must do
    held_at: datetime | None = None
    token_fingerprint: str | None = None  # HMAC of the token that was refused: a new token releases the hold
    paused_until: datetime | None = None  # rate limit: nothing is sent before this
    pause_reason: str | None = None
    lease_owner: str | None = None  # the worker that may post to this channel now
    lease_until: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    updated_at: datetime = Field(default_factory=utcnow)


class ChannelToken(SQLModel, table=True):
    """Rotating tokens (Zalo), encrypted with CAMPAIGN_SECRET_KEY. Never clear text."""

    channel_id: str = Field(primary_key=True)
    access_token_enc: str | None = None
    refresh_token_enc: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    # Fingerprint of the seed refresh token from the environment, to notice a new seed.
    seed_fingerprint: str | None = None
    version: int = 0  # bumped on every rotation (optimistic check)
    status: str = "ok"  # ok | renewing | lost
    renewing_since: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class ContentItem(SQLModel, table=True):
    id: str = Field(primary_key=True)  # path under content/ without .md; "milestone/…", "slogan/…"
    title: str
    kind: str = Field(index=True)
    unit_id: str = Field(index=True)
    audience: Any = Field(default="own", sa_column=Column(JSON, nullable=False))  # "own"|"cascade"|"all"|[ids]
    platforms: list[str] = Field(default_factory=lambda: ["facebook", "zalo"], sa_column=Column(JSON, nullable=False))
    approved: bool = False
    approved_by: str | None = None
    approved_at: datetime | None = None
    not_before: datetime | None = None
    expires: datetime | None = None
    priority: int = 0
    image: str | None = None  # path relative to the workspace (inside content/)
    images: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    banner: str | None = None  # template id
    banner_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    link: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    body: str = ""
    source: str | None = None  # the file it came from; None for generated items
    content_hash: str | None = None
    active: bool = True  # false once its file is gone (kept for history)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Issue 16: the newest version of what a post of this item shows (see ContentVersion), and a withdrawal.
    version: int = 1
    withdrawn: str | None = None  # the reason, from `withdrawn:` in the front matter or `campaign-bot withdraw`
    withdrawn_at: datetime | None = None


class ScheduleSlot(SQLModel, table=True):
    """A schedule slot that has been filled (or deliberately passed). Never filled twice."""

    __table_args__ = (UniqueConstraint("schedule_id", "slot_at", name="uq_slot"),)
    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(index=True)
    slot_at: datetime
    filled_at: datetime = Field(default_factory=utcnow)
    deliveries: int = 0
    note: str | None = None  # e.g. "missed: past its grace window"


class Delivery(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("content_id", "channel_id", name="uq_delivery"),
        # Open rows only (migration 0010): the worker asks about the queue — what is due, what is in
        # sending, a channel's next row — never about history, so these indexes follow the queue's size.
        Index("ix_delivery_open_lease", "state", "lease_until", sqlite_where=text(OPEN_SQL), postgresql_where=text(OPEN_SQL)),
        # Sent posts by time (0010): the recent ones (engagement, the weekly digest) without the history.
        Index("ix_delivery_sent_at", "sent_at", sqlite_where=text(SENT_SQL), postgresql_where=text(SENT_SQL)),
        # ix_delivery_channel_next (a channel's open rows in claim order, 0011) is declared below the class.
    )
    id: int | None = Field(default=None, primary_key=True)
    content_id: str  # indexed by uq_delivery (content_id, channel_id)
    channel_id: str  # open rows indexed by ix_delivery_channel_next (channel_id, priority DESC, due_at, id, state)
    unit_id: str  # not indexed (0010): no query looks deliveries up by unit
    platform: str
    schedule_id: str | None = None  # None for milestone announcements
    slot_at: datetime | None = None
    day: str = Field(index=True)  # local date (YYYY-MM-DD) the post belongs to, for the daily cap
    due_at: datetime
    priority: int = 0  # milestones go first
    state: str = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    needs_check: bool = False  # the last call may have reached the platform: reconcile before resending
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sending_since: datetime | None = None
    first_sent_attempt_at: datetime | None = None  # when a call first went out (reconcile searches from here)
    platform_post_id: str | None = None
    reason: str | None = None
    sent_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    post_version: int | None = None  # the content version the live post shows (issue 16); None: version 1
    removed_at: datetime | None = None  # the post was removed from the platform (withdrawal or repost)


# A channel's open rows in the order the worker claims them (migration 0011): its next delivery is
# the first entry, with no table rows read and sorted per claim; ``state`` last, so that "is anything of
# the channel in sending" is answered from the index alone on SQLite.
_D = Delivery.__table__  # type: ignore[attr-defined]
Index("ix_delivery_channel_next", _D.c.channel_id, _D.c.priority.desc(), _D.c.due_at, _D.c.id, _D.c.state,
      sqlite_where=text(OPEN_SQL), postgresql_where=text(OPEN_SQL))


class Engagement(SQLModel, table=True):
    """Engagement of a sent post as read back from its platform at ``read_at``."""

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True)
    read_at: datetime = Field(default_factory=utcnow)
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


class MilestoneRule(SQLModel, table=True):
    id: str = Field(primary_key=True)
    metric: str
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = True


class MilestoneFiring(SQLModel, table=True):
    """Each (rule, unit, threshold) fires once, ever."""

    __table_args__ = (UniqueConstraint("rule_id", "unit_id", "threshold", name="uq_firing"),)
    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(index=True)
    unit_id: str = Field(index=True)
    threshold: str  # as written: "1000" or "120%"
    value: float
    percent: float | None = None
    announced: bool = True  # false: passed over by a jump to a higher threshold
    content_id: str | None = None
    phase: str | None = None
    fired_at: datetime = Field(default_factory=utcnow)


class MetricReading(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("unit_id", "metric", "at", name="uq_reading"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: str = Field(index=True)
    metric: str = Field(index=True)
    value: float
    at: datetime
    source: str | None = None
    imported_at: datetime = Field(default_factory=utcnow)
    # ok: counts · held: a suspicious jump waiting for `metrics confirm` · dropped: removed by
    # `metrics drop` (kept so that re-importing the same file does not bring it back). Issue 12.
    status: str = Field(default="ok", index=True)
    note: str | None = None  # why it is held or dropped (Vietnamese)
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None


class AuditLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = "bot"
    action: str
    subject: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


class Meta(SQLModel, table=True):
    """Small key/value facts about the store (e.g. the config hash of the last sync)."""

    key: str = Field(primary_key=True)
    value: str


# --- issue 11: last known good campaign version, alerts to people ------------------------------


class CampaignVersion(SQLModel, table=True):
    """A snapshot of a campaign folder that validated: the raw text of every campaign file.

    When the folder later fails validation, the bot rebuilds the campaign from the newest row
    (see bot.lastgood) and keeps running on it. Images are referenced by path, not stored.
    """

    id: int | None = Field(default=None, primary_key=True)
    config_hash: str = Field(index=True)  # Campaign.config_hash of the version
    files: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # rel path -> text
    assets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    loaded_at: datetime = Field(default_factory=utcnow, index=True)


class AlertEvent(SQLModel, table=True):
    """Something a person must hear about; ``key`` makes every event unique, so it is told once."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    kind: str = Field(index=True)  # folder | channel | failure | milestone | metrics (the config's lists)
    type: str  # folder.invalid, folder.valid, channel.held, channel.released, delivery.failed, …
    subject: str | None = None  # channel id, unit id, file…
    unit_id: str | None = None  # the unit whose own contacts are told too
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    at: datetime = Field(default_factory=utcnow, index=True)
    routed: bool = Field(default=False, index=True)  # recipients resolved into AlertItem rows


class AlertMessage(SQLModel, table=True):
    """One message to one recipient, written with its Message-ID *before* it is sent.

    ``state`` pending → sending (claimed under a lease by one process) → sent | retry | failed.
    """

    __table_args__ = (Index("ix_alertmessage_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(index=True)  # an e-mail address, or "apprise:<hash>" (never the URL: it holds secrets)
    type: str  # the event type, for the storm cap
    message_id: str = Field(unique=True)
    subject: str
    text: str
    html: str
    events: int = 0
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class AlertItem(SQLModel, table=True):
    """An event owed to one recipient; ``message`` is set when a message carries it."""

    __table_args__ = (UniqueConstraint("event_id", "recipient", name="uq_alertitem"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int  # indexed by uq_alertitem (event_id, recipient)
    recipient: str = Field(index=True)
    type: str
    message: int | None = Field(default=None, index=True)


# --- issue 16: corrections and withdrawal --------------------------------------------------------


class ContentVersion(SQLModel, table=True):
    """Every version of what an item's posts show: a new row whenever its text or image changes."""

    __table_args__ = (UniqueConstraint("content_id", "version", name="uq_content_version"),)
    id: int | None = Field(default=None, primary_key=True)
    content_id: str  # indexed by uq_content_version (content_id, version)
    version: int
    content_hash: str | None = None  # the file's hash (bot.load.Story.content_hash)
    text_hash: str  # title, body, link, tags, kind
    image_hash: str  # photo files, banner template and the banner's inputs
    changed: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    at: datetime = Field(default_factory=utcnow)


class PostAction(SQLModel, table=True):
    """An edit, a repost or a removal of one published post: a delivery of its own.

    Same queue rules as :class:`Delivery` (see bot.worker): ``pending``/``retry`` → ``sending`` under a
    lease before the call → ``done``/``failed``/``retry``/``skipped``; ``needs_check`` after an unclear
    answer or a crash (the platform is asked before acting again). One row per (delivery, action,
    version), so nothing is planned twice.
    """

    __table_args__ = (
        UniqueConstraint("delivery_id", "action", "version", name="uq_postaction"),
        Index("ix_postaction_due", "state", "due_at"),
        Index("ix_postaction_channel_state", "channel_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int  # indexed by uq_postaction (delivery_id, action, version)
    content_id: str = Field(index=True)
    channel_id: str
    unit_id: str
    platform: str
    action: str  # edit | repost | remove
    version: int  # the content version that asked for it
    target_post_id: str  # the post it acts on
    new_post_id: str | None = None  # repost: the new post
    why: str | None = None  # withdrawal reason / what changed (Vietnamese)
    actor: str = "bot"
    due_at: datetime = Field(default_factory=utcnow)
    priority: int = 100
    state: str = DeliveryState.PENDING  # pending | sending | retry | done | failed | skipped
    attempts: int = 0
    next_attempt_at: datetime | None = None
    needs_check: bool = False
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sending_since: datetime | None = None
    first_sent_attempt_at: datetime | None = None
    reason: str | None = None  # the outcome in Vietnamese (platform's words on a refusal)
    done_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# --- issue 17: weekly digests and nudges ------------------------------------------------------------


class DigestRecord(SQLModel, table=True):
    """Which unit a weekly digest (an ``AlertMessage`` of type ``digest``) was about, for `status`.

    Written in the transaction that records the message, so a digest and its units appear together."""

    __table_args__ = (UniqueConstraint("week", "recipient", "unit_id", name="uq_digestrecord"),)
    id: int | None = Field(default=None, primary_key=True)
    week: str  # ISO week of the digest slot in the campaign's timezone, e.g. 2026-W49
    recipient: str
    unit_id: str = Field(index=True)
    message_id: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)


class DigestWeek(SQLModel, table=True):
    """Each unit's standing at each weekly digest: the memory that escalation needs (K weeks lagging
    without improvement), one row per unit and week whatever the number of processes."""

    __table_args__ = (UniqueConstraint("unit_id", "week", name="uq_digestweek"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: str  # indexed by uq_digestweek (unit_id, week)
    week: str
    value: float = 0.0
    percent: float | None = None
    expected: float | None = None  # % of the target it should have reached by now (the pace)
    behind: bool = False  # behind the pace by more than the margin
    quiet: bool = False  # no post for quiet_days
    streak: int = 0  # weeks lagging in a row without improvement, this one included
    at: datetime = Field(default_factory=utcnow)
