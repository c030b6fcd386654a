"""Password-reset links: asked for by extension, emailed, used once, then gone."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from portal.base.clock import utcnow
from portal.base.models import Extension, ResetToken, Tenant
from portal.domain import accounts, audit, emails, mail, signouts
from portal.flows.newpassword import NewPassword, check_new_password
from portal.flows.signin.service import canonical_username
from portal.web.shared import Shared

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


async def request_reset(shared: Shared, raw_username: str, address: str) -> None:
    """Email a reset link when the extension exists and has an address; otherwise nothing.

    Runs after the answer is sent, so the answer is the same, in content and timing, for
    every case; limited per extension and per address, never locking anything.
    """
    key = canonical_username(raw_username, shared.settings.secret_key)
    if not await shared.throttle.allow_reset(key, address):
        async with shared.db() as db:
            await audit.record(db, "reset-request", "limited", key, address)
        return
    username = accounts.parse_username(raw_username)
    settings = shared.settings
    async with shared.db() as db:
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
    shared.mail.wake()


async def find_reset(shared: Shared, token: str) -> tuple[Extension, Tenant] | None:
    """The extension a live link resets, or None for an expired, used or mangled one."""
    if not _TOKEN.fullmatch(token):
        return None
    async with shared.db() as db:
        row = (
            await db.exec(
                select(Extension, Tenant)
                .join(ResetToken, col(ResetToken.extension_id) == col(Extension.id))
                .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
                .where(
                    ResetToken.token_hash == token_hash(shared.settings.secret_key, token),
                    col(ResetToken.expires_at) > utcnow(),
                )
            )
        ).first()
    if row is None or row[0].disabled:
        return None
    return row[0], row[1]


async def complete_reset(
    shared: Shared, token: str, new: str, confirm: str, address: str
) -> NewPassword:
    """Set the new password through a link; the link is used up in the same transaction."""
    found = await find_reset(shared, token)
    if found is None:
        return NewPassword({}, invalid_link=True)
    extension, tenant = found
    username = f"{extension.number}-{tenant.code}"
    errors = check_new_password(
        new,
        confirm,
        shared.settings.password_min_length,
        username=username,
        tenant_code=tenant.code,
    )
    if errors:
        return NewPassword(errors)
    new_hash = await shared.passwords.hash(new)
    async with shared.db() as db:
        used = await db.exec(
            delete(ResetToken).where(
                col(ResetToken.token_hash) == token_hash(shared.settings.secret_key, token),
                col(ResetToken.expires_at) > utcnow(),
            )
        )
        if used.rowcount != 1:  # spent by a simultaneous request: single use holds
            await db.rollback()
            return NewPassword({}, invalid_link=True)
        current = await db.get(Extension, extension.id)
        assert current is not None
        audit.add(db, "password-reset", "success", username, address)
        stamp = await signouts.replace_password(
            db, shared.store, current, new_hash, how="with a reset link", clear_lockout=True
        )
    await shared.throttle.clear(username)
    shared.mail.wake()
    return NewPassword({}, stamp=stamp)
