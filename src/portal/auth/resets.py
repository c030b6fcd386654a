"""Password-reset links: asked for by extension, emailed, used once, then gone."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from portal import accounts, audit, emails, mail
from portal.auth.policy import policy_error
from portal.auth.signin import canonical_username
from portal.models import Extension, ResetToken, Tenant, utcnow
from portal.services import Services

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def token_hash(secret_key: str, token: str) -> str:
    """What the database keeps of a token: a keyed hash, useless to whoever reads it."""
    return hmac.new(secret_key.encode(), b"reset:" + token.encode(), hashlib.sha256).hexdigest()


def describe_seconds(seconds: int) -> str:
    """3600 → '1 hour', 5400 → '90 minutes'."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' * (count != 1)}"
    return f"{seconds} seconds"


async def request_reset(portal: Services, raw_username: str, address: str) -> None:
    """Email a reset link when the extension exists and has an address; otherwise nothing.

    Runs after the answer is sent, so the answer is the same, in content and timing, for
    every case; limited per extension and per address, never locking anything.
    """
    key = canonical_username(raw_username, portal.settings.secret_key)
    if not await portal.throttle.allow_reset(key, address):
        async with portal.db() as db:
            await audit.record(db, "reset-request", "limited", key, address)
        return
    username = accounts.parse_username(raw_username)
    settings = portal.settings
    async with portal.db() as db:
        found = await accounts.find_account(db, username) if username else None
        if found is None or found[0].disabled or not found[0].email:
            await audit.record(db, "reset-request", "no-address", key, address)
            return
        extension, tenant = found
        assert extension.email is not None
        token = secrets.token_urlsafe(32)
        # A newer link voids the older ones.
        await db.exec(delete(ResetToken).where(col(ResetToken.extension_id) == extension.id))
        db.add(
            ResetToken(
                extension_id=extension.id,  # type: ignore[arg-type]
                token_hash=token_hash(settings.secret_key, token),
                expires_at=utcnow() + timedelta(seconds=settings.reset_token_seconds),
            )
        )
        message = emails.reset_link(
            extension.email,
            username=key,
            tenant_name=tenant.name,
            link=f"{settings.base_url}/reset-password/{token}",
            hours=describe_seconds(settings.reset_token_seconds),
        )
        await mail.enqueue(db, message, give_up_after=settings.reset_token_seconds)
        audit.add(db, "reset-request", "sent", key, address)
        await db.commit()
    portal.mail.wake()


async def find_reset(portal: Services, token: str) -> tuple[Extension, Tenant] | None:
    """The extension a live link resets, or None for an expired, used or mangled one."""
    if not _TOKEN.fullmatch(token):
        return None
    async with portal.db() as db:
        row = (
            await db.exec(
                select(Extension, Tenant)
                .join(ResetToken, col(ResetToken.extension_id) == col(Extension.id))
                .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
                .where(
                    ResetToken.token_hash == token_hash(portal.settings.secret_key, token),
                    col(ResetToken.expires_at) > utcnow(),
                )
            )
        ).first()
    if row is None or row[0].disabled:
        return None
    return row[0], row[1]


@dataclass(frozen=True)
class NewPassword:
    """The outcome of a form that sets a new password: errors by field, or done."""

    errors: dict[str, str]
    invalid_link: bool = False
    stamp: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.invalid_link


def check_new_password(
    new: str, confirm: str, min_length: int, *, username: str, tenant_code: str
) -> dict[str, str]:
    """Field errors for a new password and its confirmation (one policy everywhere)."""
    errors = {}
    if not new:
        errors["new_password"] = "Enter a new password."
    elif reason := policy_error(new, min_length, username=username, tenant_code=tenant_code):
        errors["new_password"] = reason
    if not confirm:
        errors["confirm_password"] = "Enter the new password again."
    elif confirm != new:
        errors["confirm_password"] = "The two passwords do not match."
    return errors


async def complete_reset(
    portal: Services, token: str, new: str, confirm: str, address: str
) -> NewPassword:
    """Set the new password through a link; the link is used up in the same transaction."""
    found = await find_reset(portal, token)
    if found is None:
        return NewPassword({}, invalid_link=True)
    extension, tenant = found
    username = f"{extension.number}-{tenant.code}"
    errors = check_new_password(
        new,
        confirm,
        portal.settings.password_min_length,
        username=username,
        tenant_code=tenant.code,
    )
    if errors:
        return NewPassword(errors)
    new_hash = await portal.passwords.hash(new)
    async with portal.db() as db:
        used = await db.exec(
            delete(ResetToken).where(
                col(ResetToken.token_hash) == token_hash(portal.settings.secret_key, token),
                col(ResetToken.expires_at) > utcnow(),
            )
        )
        if used.rowcount != 1:  # spent by a simultaneous request: single use holds
            await db.rollback()
            return NewPassword({}, invalid_link=True)
        current = await db.get(Extension, extension.id)
        assert current is not None
        audit.add(db, "password-reset", "success", username, address)
        stamp = await accounts.replace_password(
            db, current, new_hash, how="with a reset link", clear_lockout=True
        )
    await portal.throttle.clear(username)
    portal.mail.wake()
    return NewPassword({}, stamp=stamp)
