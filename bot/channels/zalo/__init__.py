"""Zalo Official Account through the Open API: one package, one module per role.

``spec`` declares the platform (account fields, secrets, limits, error table) and registers it;
``channel`` assembles :class:`ZaloChannel` (HTTP call, OA info, the interface) from ``article``
(images, body, search, verify) and ``broadcast``; ``tokens`` keeps the OA's token chain; ``errors``
holds the constants and :func:`classify`. A new capability (e.g. video articles) is one more module
whose mixin joins :class:`ZaloChannel`.
"""

import time  # noqa: F401 - tests patch bot.channels.zalo.time.sleep (the verify back-off)

from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.errors import WAIT_CODES, ZaloApiError, classify, waiting
from bot.channels.zalo.spec import SPEC
from bot.channels.zalo.tokens import ZaloTokens

__all__ = ["SPEC", "WAIT_CODES", "ZaloApiError", "ZaloChannel", "ZaloTokens", "classify", "waiting"]
