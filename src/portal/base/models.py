"""The tables: tenants, their extensions, and server-side web sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.base.clock import as_utc, utcnow


class Tenant(SQLModel, table=True):
    __tablename__ = "tenant"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class Extension(SQLModel, table=True):
    __tablename__ = "extension"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_extension_tenant_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", ondelete="CASCADE", index=True)
    number: str = Field(max_length=16)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    password_changed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    disabled: bool = Field(default=False)
    # When an administrator (or a completed reset) last lifted a sign-in lockout.
    unlocked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


def credential_stamp(extension_id: int, password_changed_at: datetime) -> str:
    """Changes whenever an extension's password is set: a sign-in carries the one it checked,
    and a session is stored only while it is still the extension's."""
    return f"{extension_id}:{as_utc(password_changed_at).timestamp():.6f}"


class WebSession(SQLModel, table=True):
    """A server-side session; `id` is a keyed hash of the cookie value, never the value itself.

    `extension_id` indexes the sessions of one extension, so that ending them all (a password
    change, a reset, a disabled or deleted extension) is one indexed DELETE, never a scan.
    """

    __tablename__ = "web_session"
    __table_args__ = (
        Index("ix_web_session_expires_at", "expires_at"),
        Index("ix_web_session_extension_id", "extension_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    expires_at: float
    extension_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("extension.id", ondelete="CASCADE", name="fk_web_session_extension_id"),
            nullable=True,
        ),
    )


class ResetToken(SQLModel, table=True):
    """A password-reset link; only a keyed hash of its token is stored."""

    __tablename__ = "reset_token"

    id: int | None = Field(default=None, primary_key=True)
    extension_id: int = Field(foreign_key="extension.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class OutboxMessage(SQLModel, table=True):
    """An email waiting to be sent (or sent, or given up on); bodies are wiped once done."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "failed_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body_text: str
    body_html: str
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # Past this, sending is pointless (a reset link would have expired): give up.
    give_up_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    claimed_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    attempts: int = Field(default=0)
    sent_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    failed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_error: str | None = Field(default=None, max_length=500)


class AuditEvent(SQLModel, table=True):
    """Who did what to which account, when, from where, and how it ended."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    username: str = Field(max_length=80)  # canonical, even for extensions that do not exist
    event: str = Field(max_length=32)
    outcome: str = Field(max_length=16)
    client: str = Field(max_length=64)


class Passkey(SQLModel, table=True):
    """A passkey (WebAuthn credential) of an extension: what checks its signatures, never a
    secret. Found by `credential_id` at sign-in, so no username need be typed."""

    __tablename__ = "passkey"

    id: int | None = Field(default=None, primary_key=True)
    extension_id: int = Field(foreign_key="extension.id", ondelete="CASCADE", index=True)
    credential_id: str = Field(max_length=1400, unique=True)  # base64url, as browsers send it
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # COSE
    sign_count: int = Field(default=0)
    name: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class PasskeyChallenge(SQLModel, table=True):
    """A WebAuthn challenge on its way: single-use (deleted as it is read), short-lived, and
    found only by a keyed hash of the random handle in the visitor's cookie."""

    __tablename__ = "passkey_challenge"
    __table_args__ = (Index("ix_passkey_challenge_expires_at", "expires_at"),)

    id: str = Field(primary_key=True, max_length=64)
    challenge: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    purpose: str = Field(max_length=120)  # "sign-in", or "add:EXTENSION-ID:NAME"
    expires_at: float
