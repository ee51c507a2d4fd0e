"""Facebook Pages through the Graph API: one package, one module per role.

``spec`` declares the platform (account fields, secrets, limits, error table) and registers it;
``channel`` assembles :class:`FacebookChannel` from ``http`` (one Graph call), ``errors`` (answer ->
worker decision), ``publish``, ``reconcile`` (find again, edit, remove), ``check`` and ``engagement``.
A new capability (e.g. video) is one more module whose mixin joins :class:`FacebookChannel`.
"""

from bot.channels.facebook.channel import FacebookChannel
from bot.channels.facebook.http import (
    BATCH_MAX,
    DEFAULT_BASE,
    DEFAULT_VERSION,
    REQUIRED_PERMISSIONS,
    Usage,
    appsecret_proof,
    new_session,
    normalize_text,
    page_lock,
)
from bot.channels.facebook.spec import SPEC

__all__ = [
    "BATCH_MAX",
    "DEFAULT_BASE",
    "DEFAULT_VERSION",
    "REQUIRED_PERMISSIONS",
    "SPEC",
    "FacebookChannel",
    "Usage",
    "appsecret_proof",
    "new_session",
    "normalize_text",
    "page_lock",
]
