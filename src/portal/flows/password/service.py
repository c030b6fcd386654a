"""Change Password, from the Settings tab: the current password counts as a sign-in attempt."""

from __future__ import annotations

from dataclasses import dataclass

from portal.base.models import Extension
from portal.domain import audit, signouts
from portal.domain.accounts import Account
from portal.flows.newpassword import NewPassword, check_new_password
from portal.flows.signin.service import take_attempt
from portal.security.throttle import Refusal
from portal.web.shared import Shared

NO_CURRENT = "Enter your current password."
WRONG_CURRENT = "That is not your current password."
SAME_AS_CURRENT = "Choose a password different from your current one."
REPEAT_SECONDS = 60.0  # how long an identical repeat of a change (a double click) is harmless


@dataclass(frozen=True)
class JustReplaced:
    """The password this session replaced a moment ago: its hash, and when."""

    old_hash: str
    at: float


async def _is_repeat(
    shared: Shared, account: Account, current: str, new: str, replaced: JustReplaced | None
) -> bool:
    """Whether this form is the change this session just made, sent again (a double click):
    its current password is the one just replaced and its new one is the password now.

    Only a session that just changed the password gets here, within a minute; anything else
    goes the ordinary way, where a wrong current password counts as a failed sign-in.
    """
    if replaced is None or not current or not new:
        return False
    if not 0 <= shared.clock() - replaced.at <= REPEAT_SECONDS:
        return False
    if not (await shared.passwords.verify(replaced.old_hash, current)).ok:
        return False
    async with shared.db() as db:
        extension = await db.get(Extension, account.id)
    stored = extension.password_hash if extension else None
    return (await shared.passwords.verify(stored, new)).ok


async def change_password(
    shared: Shared,
    account: Account,
    current: str,
    new: str,
    confirm: str,
    address: str,
    replaced: JustReplaced | None = None,
    keep: str | None = None,
) -> NewPassword:
    """Check the form and, when it is all right, store the new password.

    `replaced` is the change this session made last, if any: the same form sent again answers
    as the first did, changing and counting nothing. Every session of the extension but `keep`
    (the one asking) ends.
    """
    if new == confirm and await _is_repeat(shared, account, current, new, replaced):
        return NewPassword({}, stamp=account.stamp)
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
        old_hash = extension.password_hash
        audit.add(db, "password-change", "success", account.username, address)
        stamp = await signouts.replace_password(
            db, shared.store, extension, new_hash, how="from the portal", keep=keep
        )
    shared.mail.wake()
    return NewPassword({}, stamp=stamp, replaced_hash=old_hash)


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
