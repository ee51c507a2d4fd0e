"""Channels: where a post goes. One module per platform behind this one small interface.

A channel turns a :class:`Post` into a published post and says what became of it:

* it returns :class:`Published` with the platform's id, or
* it raises one of the errors below, which tell the worker what to do next:
  :class:`RetryLater` (try again, maybe after a pause of the channel or of the whole app),
  :class:`HoldChannel` (a person must act: token, permission), or
  :class:`Rejected` (this one post will never go; the platform's reason is kept).

Any other exception is treated as "outcome unknown": the worker reconciles with
:meth:`Channel.find_existing` before it sends again, so a crash never posts twice.

Platforms are plug-ins: each declares a :class:`bot.channels.spec.PlatformSpec` and registers it;
``platform:`` in config/units.yaml names one (see :mod:`bot.channels.spec` for the registry API).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels import spec
from bot.channels.base import (
    NO_HOOKS,
    Channel,
    ChannelCheck,
    ChannelContext,
    ChannelError,
    EngagementReading,
    HoldChannel,
    Hooks,
    Post,
    PostState,
    Published,
    Rejected,
    RetryLater,
    fingerprint,
)
from bot.channels.spec import mask as mask  # re-exported: bot.channels.mask
from bot.channels.spec import uses_outbox

if TYPE_CHECKING:
    from bot.store import Channel as ChannelRow
__all__ = [
    "Channel",
    "ChannelCheck",
    "ChannelContext",
    "ChannelError",
    "EngagementReading",
    "HoldChannel",
    "Hooks",
    "NO_HOOKS",
    "Post",
    "PostState",
    "Published",
    "Rejected",
    "RetryLater",
    "fingerprint",
    "mask",
    "open_channel",
    "spec",
    "uses_outbox",
]


def open_channel(row: ChannelRow, ctx: ChannelContext) -> Channel:
    """Build the channel object for a configured channel: its platform (from the registry), or the outbox."""
    if uses_outbox(row, ctx.env):
        from bot.channels.outbox import OutboxChannel

        return OutboxChannel(row, ctx)
    return spec.get(row.platform).open(row, ctx)
