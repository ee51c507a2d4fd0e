"""Test-only failpoints: a :class:`bot.channels.Hooks` that ends the process at a named point.

Production code only calls ``ctx.hooks.reached(name)`` (a no-op by default); a test process passes
:func:`from_env` as ``ChannelContext.hooks`` to show what a crash at that point leaves behind.
Points used today: ``zalo.renew.before_call``, ``zalo.renew.after_answer``, ``zalo.renew.after_store``,
``zalo.publish.after_create``.
"""

from __future__ import annotations

import logging
import os

from bot.channels import Hooks

FAILPOINT_ENV = "CAMPAIGN_BOT_FAILPOINT"
FAILPOINT_EXIT = 86


class ExitAt(Hooks):
    """Ends the process with :data:`FAILPOINT_EXIT` when ``point`` is reached, as a crash would."""

    def __init__(self, point: str | None) -> None:
        self.point = point

    def reached(self, point: str) -> None:
        if point == self.point:
            logging.shutdown()
            os._exit(FAILPOINT_EXIT)


def from_env(env: dict[str, str] | None = None) -> Hooks:
    """The hooks a child process uses: ExitAt the point named in CAMPAIGN_BOT_FAILPOINT, else none."""
    point = (env if env is not None else os.environ).get(FAILPOINT_ENV)
    return ExitAt(point) if point else Hooks()
