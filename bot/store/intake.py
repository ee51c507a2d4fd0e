"""The grassroots intake (issue 19): staff accounts, submissions and their photos, Zalo webhook
events, login attempts and the notices owed to submitters.

Why a table each: a submission lives in the store until a reviewer approves it — then the campaign
folder (a story file in ``content/``) becomes its truth and the row only remembers where it went.
Contacts are kept encrypted with ``CAMPAIGN_SECRET_KEY`` (``contact_enc``), passwords as Argon2
hashes; neither is ever shown in a page or written into a story file. Webhook events carry a unique
key so that a retried or replayed call is processed once; notices are unique per (submission, kind)
and claimed under a lease before they are sent, like the alerts, so a submitter is told once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.models import utcnow


class SubmissionState:
    DRAFT = "draft"  # a Zalo follower is still sending text and photos
    NEW = "new"  # waiting for a reviewer
    APPROVED = "approved"  # the story file is written
    REJECTED = "rejected"
    ALL = (DRAFT, NEW, APPROVED, REJECTED)


class StaffUser(SQLModel, table=True):
    """A reviewer or an admin; sees the submissions of ``unit_id`` and the units below it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)  # the login name, NFC, compared case-insensitively (stored lower-case)
    display_name: str
    unit_id: str = Field(index=True)
    role: str = "reviewer"  # reviewer | admin
    password_hash: str  # Argon2id (argon2-cffi), never the password
    active: bool = True
    failed_logins: int = 0  # consecutive failures; reset by a good login
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class LoginAttempt(SQLModel, table=True):
    """Every login try, for the lock-out by account and by address (the address as an HMAC, not clear)."""

    __table_args__ = (Index("ix_loginattempt_client_at", "client", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    client: str  # HMAC of the client address
    ok: bool = False
    at: datetime = Field(default_factory=utcnow, index=True)


class Submission(SQLModel, table=True):
    """A story sent from the submission page or the Zalo OA, until a reviewer decides."""

    __table_args__ = (Index("ix_submission_state_unit", "state", "unit_id"),)
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)  # the reference number the sender is given, e.g. GY-7K3P9Q
    source: str = "web"  # web | zalo
    state: str = Field(default=SubmissionState.NEW, index=True)
    title: str = ""
    body: str = ""
    unit_id: str = Field(default="", index=True)
    author_name: str = ""
    author_role: str = ""
    contact_kind: str | None = None  # email | phone | zalo
    contact_enc: str | None = None  # Fernet with CAMPAIGN_SECRET_KEY: an address, a phone or a Zalo user id
    consent: bool = False
    fingerprint: str = Field(default="", index=True)  # normalized title+body hash, for duplicates
    client: str | None = None  # HMAC of the sender's address (rate limits), never the address
    zalo_user: str | None = Field(default=None, index=True)  # HMAC of the follower's id (drafts are found by it)
    oa_id: str | None = None
    # the reviewer's choices, kept when a decision is made
    kind: str | None = None
    audience: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    platforms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    banner: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    reason: str | None = None  # why it was rejected (Vietnamese, told to the sender)
    content_id: str | None = Field(default=None, index=True)  # the story id once approved
    story_path: str | None = None  # content/… of the file written
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class SubmissionPhoto(SQLModel, table=True):
    """A photo re-encoded (JPEG, no EXIF) under a generated name in the intake folder, never the web root."""

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(index=True)
    position: int = 0
    stored_name: str = Field(unique=True)  # random hex + .jpg
    width: int = 0
    height: int = 0
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class WebhookEvent(SQLModel, table=True):
    """A Zalo webhook call that was verified and processed: its key is unique, so Zalo's retries and
    replays are answered without being processed again."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # sha256 of the signature (Zalo signs each call once) or of the message id
    event_name: str = ""
    received_at: datetime = Field(default_factory=utcnow, index=True)


class SubmitterNotice(SQLModel, table=True):
    """What a submitter is owed: ``received`` (Zalo acknowledgement), ``published`` or ``rejected``.

    Unique per (submission, kind): recorded once, claimed under a lease, sent, then marked sent."""

    __table_args__ = (UniqueConstraint("submission_id", "kind", name="uq_submitternotice"),)
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(index=True)
    kind: str  # received | published | rejected
    state: str = Field(default="pending", index=True)  # pending | sending | sent | retry | failed | skipped
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    created_at: datetime = Field(default_factory=utcnow)
