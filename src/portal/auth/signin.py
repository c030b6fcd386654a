"""Signing in: the throttle, the password check and the record of every outcome."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from portal import accounts, audit
from portal.auth.ratelimit import Attempt, Refusal
from portal.services import Services


@dataclass(frozen=True)
class Outcome:
    status: Literal["success", "failure", "locked"]
    who: accounts.Credentials | None = None
    locked_message: str = ""
    device_cookie: str | None = None
    # The audit row: stored with the session the answer carries (sessions.store_alongside).
    record: audit.Pending | None = None


def canonical_username(raw: str, secret_key: str) -> str:
    """The name failures count and are recorded under: `201-WickedSprockets ` and
    `201-wickedsprockets` are one.

    Anything without the shape of a username (a password typed into the wrong box, say) counts
    exactly like a real name, but under `malformed:` and a keyed hash of it, so that what was
    typed reaches no log, no audit row and no Redis key, while repeated tries still correlate.
    """
    username = accounts.parse_username(raw)
    if username is not None:
        return str(username)
    text = raw.strip().lower().encode("utf-8", "replace")
    digest = hmac.new(secret_key.encode(), b"typed-username:" + text, hashlib.sha256)
    return "malformed:" + digest.hexdigest()[:12]


async def take_attempt(
    portal: Services, username: str, address: str, device: str | None = None
) -> Attempt | Refusal:
    """A place for one password check of `username` (canonical), or the refusal to show.

    A refusal by the account's counter first applies an administrator's unlock, if one was
    recorded since its failures began. Sign-in and Change Password both come this way.
    """
    throttle = portal.throttle
    counter = device or username
    taken = await throttle.attempt(counter, address)
    refused_here = isinstance(taken, Refusal) and not taken.by_address
    if refused_here and await _apply_unlock(portal, username, counter):
        taken = await throttle.attempt(counter, address)
    return taken


async def sign_in(
    portal: Services, raw_username: str, password: str, address: str, device_cookie: str | None
) -> Outcome:
    """Check one sign-in attempt; a refused attempt never reaches the password check."""
    key = canonical_username(raw_username, portal.settings.secret_key)
    throttle = portal.throttle
    device = throttle.device_key(key, device_cookie)
    attempt = await take_attempt(portal, key, address, device)
    if isinstance(attempt, Refusal):
        record = audit.pending("sign-in", "locked", key, address)
        return Outcome("locked", locked_message=attempt.message, record=record)

    async with attempt.checking():
        who = await accounts.authenticate(portal.engine, portal.passwords, raw_username, password)
    record = audit.pending("sign-in", "success" if who else "failure", key, address)
    if who is None:
        await attempt.failed()
        return Outcome("failure", record=record)
    await attempt.succeeded(*([key] if device else []))
    device_cookie = throttle.new_device_cookie(key)
    return Outcome("success", who, device_cookie=device_cookie, record=record)


async def _apply_unlock(portal: Services, username: str, counter: str) -> bool:
    parsed = accounts.parse_username(username)
    if parsed is None:
        return False
    async with portal.db() as db:
        unlocked_at = await accounts.unlocked_at(db, parsed)
    return unlocked_at is not None and await portal.throttle.lift(counter, unlocked_at)
