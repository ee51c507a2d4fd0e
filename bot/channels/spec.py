"""The platform registry: every platform declares itself once, in one :class:`PlatformSpec`.

Why: adding a platform used to touch nine files (the loader's ``Literal``, the worker's secret names,
the CLI's labels, the report…). Now a platform is one package under ``bot/channels/`` that builds a
spec and calls :func:`register`; everything else reads the registry. The model is Apprise
(``template_tokens`` declare each field and whether it is private; ``url(privacy=True)`` prints a
service with its secrets masked) and httpx's ``_exceptions.py`` (one table maps lower-level errors to
what the caller does).

The API (names kept stable for the loader, the worker, the CLI and the reports)::

    from bot.channels import spec

    spec.names()                      # ("facebook", "zalo"): the platforms `platform:` may name
    spec.get("facebook")              # PlatformSpec; raises UnknownPlatform (Vietnamese message, lists names)
    spec.all_specs()                  # every registered spec, in name order
    spec.register(PlatformSpec(...))  # a plug-in (a test may register a fake platform; replace=True to swap)
    spec.unregister("name")           # tests only: take a registered platform away again

    s = spec.get(name)
    s.label                           # "Trang Facebook" / "Zalo OA": what the staff read
    s.account                         # pydantic model of the account fields under a channel in units.yaml
    s.account_field                   # the field that is the account id ("page_id", "oa_id")
    s.validate_account(data)          # -> model instance; raises pydantic.ValidationError (Vietnamese
                                      #    messages "… | fix: …", as bot.load formats them)
    s.secret_env                      # app-wide secret variable names (FB_APP_SECRET, ZALO_SECRET_KEY…)
    s.limits                          # Limits(text_max, images_max, edit, remove, in_flight…)
    s.errors                          # ErrorTable: platform code/subcode/message -> ErrorRule
    s.rest_after(exc)                 # seconds a channel must rest after this ChannelError (policy
                                      #    block), else None: what the worker applies on a rejection
    s.open(row, ctx)                  # the live Channel object

    spec.is_live(token_env, env)      # THE "outbox or live?" rule: True when the token variable is set
    spec.uses_outbox(row, env)        # the same for a store row (not is_live(row.token_env, env))
    spec.secret_names(token_envs)     # every variable that holds a secret (token variables + each spec's
                                      #    secret_env + CAMPAIGN_SECRET_KEY)
    spec.secret_values(env, token_envs)  # their values, longest first (what scrub() removes)
    spec.scrub(text, secrets)         # THE secret scrubber: secret values and token-like query values
    spec.describe(channel, env, privacy=True)  # "facebook://1001 (Trang Facebook, đơn vị u, FB_T=…abcd, đăng thật)"
    spec.labels()                     # {"facebook": "Trang Facebook", "zalo": "Zalo OA"} for reports and the CLI

Adding a platform: one package ``bot/channels/<name>/`` whose ``spec.py`` builds a :class:`PlatformSpec`
and calls :func:`register` (add the module to ``_BUILTINS``), a fake server in ``tests/fakes/`` on the
shared base (tests/fakes/base.py), and one row in tests/channels/test_contract.py. A platform defined
outside ``bot/`` registers itself the same way (tests/channels/site_platform.py does).

``channel`` in :func:`describe` is anything with ``platform``, ``token_env`` and either ``account_id``
(a store row) or the account field (the loader's channel config); ``unit_id`` and ``id`` are shown
when present.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bot.errors import BotError

if TYPE_CHECKING:
    from bot.channels.base import Channel, ChannelContext, ChannelError

# Variables that are secret whatever the platforms: the key that encrypts stored tokens.
COMMON_SECRETS: tuple[str, ...] = ("CAMPAIGN_SECRET_KEY",)
# Shorter values are not scrubbed (a 3-letter "secret" would blank ordinary words).
SCRUB_MIN_LEN = 6
SCRUB_LIMIT = 2000
# Token-bearing query parameters that may be echoed by a platform or a library in an error text.
_QUERY_SECRET = re.compile(r"(access_token|input_token|appsecret_proof|refresh_token|secret_key)=[^&\s'\"]+")
_BEARER = re.compile(r"(Bearer|OAuth)\s+[A-Za-z0-9._~+/=|-]{8,}")


class Outcome(StrEnum):
    """What the worker does with an error answer (see :class:`ErrorRule`)."""

    RETRY = "retry"  # transient: try again after a back-off (scope says what waits)
    PAUSE = "pause"  # throttled or too fast: pause the channel (or the app), then go on
    HOLD = "hold"  # a person must act (token, permission, setting): the channel is held
    REJECT = "reject"  # this one post will never go
    DUPLICATE = "duplicate"  # the platform says it already has this: look for it, count it once


@dataclass(frozen=True)
class ErrorRule:
    """One row of a platform's error table.

    ``code``/``subcode`` are the platform's numbers (``subcode=None`` matches any); ``match`` a
    lower-case fragment the platform's message must contain (for codes that mean several things,
    such as Facebook's 368). ``scope`` is what waits (``delivery``, ``channel``, ``app``);
    ``wait`` a default pause in seconds when the answer gives none; ``rest`` how long the channel rests
    after the rule fires (a policy block); ``key`` a short stable name the channel puts in
    ``ChannelError.code`` so that ``rest_after`` and the reports can recognise the case.
    """

    code: int
    outcome: Outcome
    subcode: int | None = None
    match: str | None = None
    scope: str = "delivery"
    wait: float | None = None
    rest: float | None = None
    key: str | None = None
    note: str = ""

    def matches(self, code: int | None, subcode: int | None, message: str) -> bool:
        if code != self.code:
            return False
        if self.subcode is not None and subcode != self.subcode:
            return False
        return self.match is None or self.match in message.lower()

    @property
    def specificity(self) -> int:
        return (2 if self.subcode is not None else 0) + (1 if self.match is not None else 0)


@dataclass(frozen=True)
class ErrorTable:
    """A platform's codes -> outcomes. :meth:`lookup` returns the most specific matching rule."""

    rules: tuple[ErrorRule, ...] = ()

    def lookup(self, code: int | None, subcode: int | None = None, message: str = "") -> ErrorRule | None:
        found = [r for r in self.rules if r.matches(code, subcode, message or "")]
        return max(found, key=lambda r: r.specificity) if found else None

    def by_key(self, key: str | None) -> ErrorRule | None:
        return next((r for r in self.rules if key is not None and (r.key or str(r.code)) == key), None)


@dataclass(frozen=True)
class Limits:
    """What a platform accepts. ``None`` means no limit known."""

    text_max: int | None = None  # characters of the post's text (NFC)
    title_max: int | None = None
    images_min: int = 0  # Zalo articles need a cover image
    images_max: int | None = None
    in_flight: int = 1  # posts in flight per account
    edit: frozenset[str] = frozenset()  # what an edit can change: {"text"}, {"text", "images"}
    remove: bool = False
    engagement: frozenset[str] = frozenset()  # reactions, comments, shares, views, reach…


ChannelFactory = Callable[[Any, "ChannelContext"], "Channel"]


@dataclass(frozen=True)
class PlatformSpec:
    """Everything the rest of the program needs to know about one platform.

    ``channel`` is ``"module:Class"`` (imported when first opened, so the loader never imports HTTP
    clients) or a factory ``(row, ctx) -> Channel``.
    """

    name: str
    label: str
    account: type[BaseModel]
    account_field: str
    channel: str | ChannelFactory
    secret_env: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    errors: ErrorTable = field(default_factory=ErrorTable)
    url_scheme: str = ""
    account_label: str = "tài khoản"  # "Trang", "OA": how the staff name the account
    notes: str = ""

    def validate_account(self, data: Mapping[str, Any]) -> BaseModel:
        """The account fields of one channel, checked (raises pydantic.ValidationError in Vietnamese)."""
        return self.account.model_validate(dict(data))

    def account_fields(self) -> tuple[str, ...]:
        return tuple(self.account.model_fields)

    def open(self, row: Any, ctx: ChannelContext) -> Channel:
        factory = self.channel
        if isinstance(factory, str):
            module_name, _, cls_name = factory.partition(":")
            factory = getattr(importlib.import_module(module_name), cls_name)
        return factory(row, ctx)  # type: ignore[operator]

    def rest_after(self, exc: ChannelError) -> float | None:
        """Seconds the channel must rest after ``exc`` (e.g. Facebook's policy block), or None."""
        rule = self.errors.by_key(getattr(exc, "code", None))
        return rule.rest if rule is not None else None


class UnknownPlatform(BotError, KeyError):
    """``platform:`` names a platform nobody registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.message = (f"nền tảng '{name}' không có | fix: dùng một trong: {', '.join(names())}")
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


_REGISTRY: dict[str, PlatformSpec] = {}
_BUILTINS = ("bot.channels.facebook.spec", "bot.channels.zalo.spec")
_loaded = False


def _ensure_builtins() -> None:
    """Import the built-in platforms' spec modules (light: pydantic only, no HTTP client)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTINS:
        importlib.import_module(module)


def register(platform: PlatformSpec, *, replace: bool = False) -> PlatformSpec:
    """Add a platform. A second spec under the same name is refused unless ``replace``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", platform.name) or platform.name == "outbox":
        raise ValueError(f"tên nền tảng không hợp lệ: {platform.name!r}")
    if platform.name in _REGISTRY and not replace and _REGISTRY[platform.name] is not platform:
        raise ValueError(f"nền tảng '{platform.name}' đã được đăng ký")
    _REGISTRY[platform.name] = platform
    return platform


def unregister(name: str) -> None:
    """Remove a platform (tests that register a fake one clean up with this)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> PlatformSpec:
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownPlatform(name) from None


def names() -> tuple[str, ...]:
    _ensure_builtins()
    return tuple(sorted(_REGISTRY))


def all_specs() -> list[PlatformSpec]:
    _ensure_builtins()
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


# --- outbox or live -------------------------------------------------------------------------------


def is_live(token_env: str | None, env: Mapping[str, str]) -> bool:
    """THE rule: a channel posts for real when its token variable is set (non-empty), else to the outbox."""
    return bool(token_env and env.get(token_env))


def uses_outbox(row: Any, env: Mapping[str, str]) -> bool:
    """The same rule for anything with ``token_env`` (a store row, a loaded channel config)."""
    return not is_live(getattr(row, "token_env", None), env)


# --- secrets --------------------------------------------------------------------------------------


def secret_names(token_envs: Iterable[str | None] = ()) -> list[str]:
    """Every variable whose value is a secret: the given token variables and each platform's secrets."""
    out = {n for n in token_envs if n}
    out.update(COMMON_SECRETS)
    for platform in all_specs():
        out.update(platform.secret_env)
    return sorted(out)


def secret_values(env: Mapping[str, str], token_envs: Iterable[str | None] = ()) -> list[str]:
    """The values of :func:`secret_names` that are set, longest first (so a longer one is scrubbed whole)."""
    values = {env[n] for n in secret_names(token_envs) if env.get(n) and len(env[n]) >= SCRUB_MIN_LEN}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str | None] = (), *, limit: int | None = SCRUB_LIMIT) -> str:
    """THE scrubber: every secret value becomes ``****``, and so does any token-like query value.

    ``limit`` bounds what is kept (a platform may answer with a page of HTML); None keeps all.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "****")
    text = _QUERY_SECRET.sub(r"\1=****", text)
    text = _BEARER.sub(r"\1 ****", text)
    return text[:limit] if limit is not None else text


def mask(secret: str | None) -> str:
    """How a secret is printed: never more than its last 4 characters."""
    if not secret:
        return "(chưa đặt)"
    return "…" + secret[-4:] if len(secret) > 12 else "****"


def _account_id(channel: Any, platform: PlatformSpec | None) -> str:
    value = getattr(channel, "account_id", None)
    if value is None and platform is not None:
        value = getattr(channel, platform.account_field, None)
    return str(value or "")


def describe(channel: Any, env: Mapping[str, str] | None = None, privacy: bool = True) -> str:
    """One line that names a channel, with its secret masked (Apprise's ``url(privacy=True)``).

    ``privacy=False`` prints the token itself: only for a person's own terminal, never a log or a report.
    """
    env = env or {}
    name = str(getattr(channel, "platform", "") or "")
    try:
        platform: PlatformSpec | None = get(name)
    except UnknownPlatform:
        platform = None
    token_env = getattr(channel, "token_env", None) or ""
    token = env.get(token_env) if token_env else None
    shown = (token or "(chưa đặt)") if not privacy else mask(token)
    scheme = platform.url_scheme if platform and platform.url_scheme else name
    target = "outbox" if not is_live(token_env, env) else "đăng thật"
    where = ", ".join(p for p in (
        platform.label if platform else name,
        f"đơn vị {channel.unit_id}" if getattr(channel, "unit_id", None) else "",
        f"{token_env}={shown}" if token_env else "chưa có biến token",
        target,
    ) if p)
    return f"{scheme}://{_account_id(channel, platform)} ({where})"


def labels() -> dict[str, str]:
    """platform name -> Vietnamese label, for reports and the CLI."""
    return {p.name: p.label for p in all_specs()}
