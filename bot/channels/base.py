"""The channel interface: what a platform module receives (:class:`Post`, :class:`ChannelContext`),
returns (:class:`Published`, …) and raises (:class:`RetryLater`, :class:`HoldChannel`, :class:`Rejected`).

Kept apart from ``bot/channels/__init__.py`` (which re-exports all of it and adds :func:`open_channel`)
so that a platform module, the outbox included, can import the interface without importing the
package that opens it: no import cycle.
"""


from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from bot.errors import BotError

if TYPE_CHECKING:
    from bot.store import Channel as ChannelRow
    from bot.store import Store


@dataclass(frozen=True)
class Post:
    """Everything a channel needs to publish one delivery. ``text`` is exactly what is posted."""

    delivery_id: int
    content_id: str
    channel_id: str
    unit_id: str
    unit_name: str
    platform: str
    title: str
    text: str  # title, body, hashtags and link, as the outbox shows it
    body: str  # the story's body alone (plain text), for platforms with their own title field
    hashtags: list[str] = field(default_factory=list)
    link: str | None = None
    images: list[Path] = field(default_factory=list)  # banner and/or photos, in order
    kind: str = "news"
    created_at: datetime | None = None
    first_attempt_at: datetime | None = None  # reconcile searches the platform from here
    # What earlier attempts of this delivery achieved (e.g. {"article_id": …} before a broadcast),
    # as saved through ChannelError.progress or Published.extra. Lets a multi-step publish resume.
    progress: dict[str, Any] = field(default_factory=dict)
    # False for a repost of a corrected item (issue 16): followers already had the first broadcast.
    broadcast: bool = True
    # Issue 18: the story's video (absolute path, reel, frame…), document (path, url, title, pages) and
    # link_post, as bot.posts.attachments_for resolves them; empty for a plain post.
    attachments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostState:
    """What the platform shows of one published post now (issue 16: reconcile an edit or a removal).

    ``exists``: the post is still there; ``matches``: it already shows the given post's text (None when
    no post was given to compare)."""

    exists: bool
    matches: bool | None = None
    url: str | None = None


@dataclass(frozen=True)
class Published:
    post_id: str
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngagementReading:
    post_id: str
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelCheck:
    """What `campaign-bot channels` shows for one channel."""

    channel_id: str
    platform: str
    ok: bool
    account_name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # permissions, expiry, verified…
    problem: str | None = None  # in Vietnamese, for the staff
    fix: str | None = None


class ChannelError(BotError):
    """Base of what a channel raises. Messages must never contain a token."""

    def __init__(self, message: str, *, code: str | None = None, progress: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # Steps already done on the platform (merged into the delivery's record, handed back in Post.progress).
        self.progress = progress or {}


class RetryLater(ChannelError):
    """Try again later.

    ``scope`` says what to pause: ``"delivery"`` (only this delivery backs off), ``"channel"``
    (nothing goes to this channel until ``retry_after`` seconds pass) or ``"app"`` (nothing goes
    to this platform at all). ``maybe_sent`` means the request may have reached the platform:
    the worker reconciles before resending. ``wait`` marks a planned wait (the night window, a spent
    quota, the platform still processing): it is not a failed attempt and never uses up the budget.
    ``in_flight`` means the request reached the platform and no answer came back (a read timeout,
    a connection dropped after sending): the platform may still be working on it, reads included,
    so the worker keeps the channel closed for the settle window before any other call.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        scope: str = "delivery",
        maybe_sent: bool = False,
        code: str | None = None,
        progress: dict[str, Any] | None = None,
        wait: bool = False,
        in_flight: bool = False,
    ) -> None:
        super().__init__(message, code=code, progress=progress)
        self.retry_after = retry_after
        self.scope = scope
        self.maybe_sent = maybe_sent
        self.wait = wait
        self.in_flight = in_flight


class HoldChannel(ChannelError):
    """A person must act (expired/revoked token, missing permission). Deliveries wait, none is lost."""

    def __init__(self, message: str, *, fix: str, code: str | None = None, progress: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, progress=progress)
        self.fix = fix


class Rejected(ChannelError):
    """The platform refuses this content; retrying will not help."""


class Channel(Protocol):
    """The interface every platform module implements."""

    platform: ClassVar[str]
    row: ChannelRow

    def publish(self, post: Post) -> Published:
        """Publish one post. Raises a :class:`ChannelError` subclass on a known failure."""
        ...

    def find_existing(self, post: Post) -> Published | None:
        """Whether this post already exists on the platform (after a crash or an unclear answer)."""
        ...

    def check(self) -> ChannelCheck:
        """Validate the credentials and describe the account, for `campaign-bot channels`."""
        ...

    def edit(self, post_id: str, post: Post) -> Published:
        """Change a published post in place to show ``post`` (its text; on Zalo also its images).
        Raises :class:`Rejected` with code ``gone`` when the post no longer exists, and with the
        platform's words when it refuses (e.g. a Facebook post not made by this app)."""
        ...

    def remove(self, post_id: str) -> bool:
        """Remove a published post. False when it was already gone (deleted by hand): that counts as removed."""
        ...

    def current(self, post_id: str, post: Post | None = None) -> PostState:
        """Whether the post still exists and (given ``post``) already shows its text: asked before an
        edit or a removal is tried again after a crash or an unclear answer."""
        ...

    def engagement(self, post_ids: list[str]) -> dict[str, EngagementReading]:
        """Read engagement of sent posts back (batched where the platform allows)."""
        ...

    def close(self) -> None: ...


class Hooks:
    """A seam for tests: production code names the points where a crash matters, and does nothing there.

    Tests pass their own object as :attr:`ChannelContext.hooks` (tests/failpoints.py ends the process at a
    named point, to show what a crash there leaves behind); no production module knows about it.
    """

    def reached(self, point: str) -> None:
        """Called when the code passes ``point`` (e.g. ``"zalo.renew.after_answer"``)."""
        return None


NO_HOOKS = Hooks()


@dataclass
class ChannelContext:
    """What a platform module may use to build a channel."""

    workspace: Path
    store: Store
    env: dict[str, str]  # the process environment merged with the workspace's .env
    campaign: Any = None  # bot.load.Campaign (media settings, timezone)
    transport: Any = None  # a requests.Session to use, for tests and pooling
    # The moment the worker acts at: real time in `run`, the given moment in `tick --now` and the demo,
    # so time windows (Zalo's night, token expiry) follow the same clock as the planner.
    clock: Callable[[], datetime] | None = None
    hooks: Hooks = NO_HOOKS  # test seam (see Hooks)

    def now(self) -> datetime:
        """The moment on the worker's clock, read where a decision is made (never kept across a call)."""
        return self.clock() if self.clock is not None else datetime.now(UTC)


def fingerprint(secret: str) -> str:
    """A short one-way fingerprint of a secret, to notice that a token changed without storing it."""
    return hmac.new(b"campaign-bot/token-fingerprint", secret.encode(), hashlib.sha256).hexdigest()[:16]


