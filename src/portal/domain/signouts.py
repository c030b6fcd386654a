"""What signs an extension out everywhere: a new password (changed, reset or set by an
administrator), disabling it, or its owner asking. Each deletes that extension's sessions from
the store at once, through the store's per-extension index."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base.clock import utcnow
from portal.base.models import Extension, ResetToken, Tenant
from portal.domain import accounts, audit, emails, mail
from portal.security.passwords import Passwords, generate_password
from portal.security.sessionstore import DISABLED, PortalStore

NOTICE_GIVE_UP_SECONDS = 24 * 3600


async def set_password(
    db: AsyncSession,
    passwords: Passwords,
    sessions: PortalStore,
    code: str,
    password: str | None = None,
    *,
    min_length: int = 8,
) -> str:
    """Set a new password (generated when none is given); every session of it is signed out."""
    username = accounts.parse_extension_code(code)
    if password is None:
        password = generate_password()
    else:
        accounts.check_policy(password, min_length, username)
    extension = await _named(db, code)
    new_hash = await passwords.hash(password)
    audit.add(db, "password-set", "success", str(username), audit.COMMAND_LINE)
    await replace_password(
        db, sessions, extension, new_hash, how="by your system administrator", clear_lockout=True
    )
    return password


async def replace_password(
    db: AsyncSession,
    sessions: PortalStore,
    extension: Extension,
    new_hash: str,
    *,
    how: str,
    clear_lockout: bool = False,
    keep: str | None = None,
) -> str:
    """Store a new password hash in one transaction; returns the new credential stamp.

    Every session of the extension but `keep` (the session id that made the change) is
    deleted, every outstanding reset link is void, and its email address, if any, is told.
    """
    now = utcnow()
    extension.password_hash = new_hash
    extension.password_changed_at = now
    if clear_lockout:
        extension.unlocked_at = now
    db.add(extension)
    await db.exec(delete(ResetToken).where(col(ResetToken.extension_id) == extension.id))
    if extension.email:
        tenant = await db.get(Tenant, extension.tenant_id)
        assert tenant is not None
        notice = emails.password_changed(
            extension.email,
            username=f"{extension.number}-{tenant.code}",
            tenant_name=tenant.name,
            how=how,
        )
        await mail.enqueue(db, notice, give_up_after=NOTICE_GIVE_UP_SECONDS)
    stamp = accounts.credential_stamp(extension)
    await commit_ending_sessions(db, sessions, extension, keep=keep, stamp=stamp)
    return stamp


async def commit_ending_sessions(
    db: AsyncSession,
    sessions: PortalStore,
    extension: Extension,
    *,
    keep: str | None = None,
    stamp: str | None = None,
) -> int:
    """Commit `db`'s work and end the extension's sessions but `keep`: in the same transaction
    when sessions live in the database, right after the commit when they live in Redis.

    `stamp` is the credential stamp from now on (`sessionstore.DISABLED`: none), so that a
    sign-in that checked an older one stores nothing even if it lands after the ending.
    Returns how many sessions ended.
    """
    assert extension.id is not None
    statement = sessions.end_owned_statement(extension.id, keep)
    ended = (await db.exec(statement)).rowcount if statement is not None else 0
    await db.commit()
    if statement is None:
        ended = await sessions.end_owned(extension.id, keep=keep, stamp=stamp)
    return int(ended)


async def _named(db: AsyncSession, code: str) -> Extension:
    username = accounts.parse_extension_code(code)
    await accounts.find_tenant(db, username.tenant_code)
    extension = await accounts.find_extension(db, username)
    if extension is None:
        raise accounts.AccountError(f"unknown extension {username}")
    return extension


async def sign_out(db: AsyncSession, sessions: PortalStore, code: str) -> int:
    """`portal extension sign-out`: end every session of `code` now; how many ended."""
    extension = await _named(db, code)
    audit.add(db, "sign-out-everywhere", "success", code, audit.COMMAND_LINE)
    return await commit_ending_sessions(db, sessions, extension)


async def set_disabled(db: AsyncSession, sessions: PortalStore, code: str, disabled: bool) -> None:
    """Disable `code` (its sessions end now and it cannot sign in) or enable it again."""
    extension = await _named(db, code)
    extension.disabled = disabled
    db.add(extension)
    audit.add(db, "disable" if disabled else "enable", "success", code, audit.COMMAND_LINE)
    stamp = DISABLED if disabled else accounts.credential_stamp(extension)
    await commit_ending_sessions(db, sessions, extension, stamp=stamp)


async def sign_out_everywhere(
    db: AsyncSession, sessions: PortalStore, extension_id: int, keep: str | None = None
) -> None:
    """End every session of the extension but `keep` (its owner's own, when it asks)."""
    extension = await db.get(Extension, extension_id)
    if extension is None:
        return
    await commit_ending_sessions(db, sessions, extension, keep=keep)
