"""Change Password, from the Settings tab: the current password counts as a sign-in attempt."""

from __future__ import annotations

from portal import accounts, audit
from portal.accounts import Account
from portal.auth.ratelimit import Refusal
from portal.auth.resets import NewPassword, check_new_password
from portal.auth.signin import take_attempt
from portal.models import Extension
from portal.services import Services

NO_CURRENT = "Enter your current password."
WRONG_CURRENT = "That is not your current password."
SAME_AS_CURRENT = "Choose a password different from your current one."


async def change_password(
    portal: Services, account: Account, current: str, new: str, confirm: str, address: str
) -> NewPassword:
    """Check the form and, when it is all right, store the new password."""
    errors = check_new_password(
        new,
        confirm,
        portal.settings.password_min_length,
        username=account.username,
        tenant_code=account.tenant_code,
    )
    if not current:
        errors["current_password"] = NO_CURRENT
    else:
        problem = await _check_current(portal, account, current, address)
        if problem is not None:
            errors["current_password"] = problem
        elif new and new == current:
            errors["new_password"] = SAME_AS_CURRENT
    if errors:
        return NewPassword(errors)
    new_hash = await portal.passwords.hash(new)
    async with portal.db() as db:
        extension = await db.get(Extension, account.id)
        assert extension is not None
        audit.add(db, "password-change", "success", account.username, address)
        stamp = await accounts.replace_password(db, extension, new_hash, how="from the portal")
    portal.mail.wake()
    return NewPassword({}, stamp=stamp)


async def _check_current(
    portal: Services, account: Account, current: str, address: str
) -> str | None:
    """None when `current` is right, else what to say; a wrong one counts as a failed sign-in."""
    attempt = await take_attempt(portal, account.username, address)
    if isinstance(attempt, Refusal):
        await _record(portal, account, "locked", address)
        return attempt.message
    async with attempt.checking():
        async with portal.db() as db:
            extension = await db.get(Extension, account.id)
        stored = extension.password_hash if extension else None
        verdict = await portal.passwords.verify(stored, current)  # no connection held meanwhile
    if verdict.ok:
        await attempt.succeeded()
        return None
    await attempt.failed()
    await _record(portal, account, "failure", address)
    return WRONG_CURRENT


async def _record(portal: Services, account: Account, outcome: str, address: str) -> None:
    async with portal.db() as db:
        await audit.record(db, "password-change", outcome, account.username, address)
