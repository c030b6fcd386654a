"""Change Password, from the Settings tab: the current password counts as a sign-in attempt."""

from __future__ import annotations

from portal.base.models import Extension
from portal.domain import accounts, audit
from portal.domain.accounts import Account
from portal.flows.newpassword import NewPassword, check_new_password
from portal.flows.signin.service import take_attempt
from portal.security.throttle import Refusal
from portal.web.shared import Shared

NO_CURRENT = "Enter your current password."
WRONG_CURRENT = "That is not your current password."
SAME_AS_CURRENT = "Choose a password different from your current one."


async def change_password(
    shared: Shared, account: Account, current: str, new: str, confirm: str, address: str
) -> NewPassword:
    """Check the form and, when it is all right, store the new password."""
    errors = check_new_password(
        new,
        confirm,
        shared.settings.password_min_length,
        username=account.username,
        tenant_code=account.tenant_code,
    )
    if not current:
        errors["current_password"] = NO_CURRENT
    else:
        problem = await _check_current(shared, account, current, address)
        if problem is not None:
            errors["current_password"] = problem
        elif new and new == current:
            errors["new_password"] = SAME_AS_CURRENT
    if errors:
        return NewPassword(errors)
    new_hash = await shared.passwords.hash(new)
    async with shared.db() as db:
        extension = await db.get(Extension, account.id)
        assert extension is not None
        audit.add(db, "password-change", "success", account.username, address)
        stamp = await accounts.replace_password(db, extension, new_hash, how="from the portal")
    shared.mail.wake()
    return NewPassword({}, stamp=stamp)


async def _check_current(
    shared: Shared, account: Account, current: str, address: str
) -> str | None:
    """None when `current` is right, else what to say; a wrong one counts as a failed sign-in."""
    attempt = await take_attempt(shared, account.username, address)
    if isinstance(attempt, Refusal):
        await _record(shared, account, "locked", address)
        return attempt.message
    async with attempt.checking():
        async with shared.db() as db:
            extension = await db.get(Extension, account.id)
        stored = extension.password_hash if extension else None
        verdict = await shared.passwords.verify(stored, current)  # no connection held meanwhile
    if verdict.ok:
        await attempt.succeeded()
        return None
    await attempt.failed()
    await _record(shared, account, "failure", address)
    return WRONG_CURRENT


async def _record(shared: Shared, account: Account, outcome: str, address: str) -> None:
    async with shared.db() as db:
        await audit.record(db, "password-change", outcome, account.username, address)
