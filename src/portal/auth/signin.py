"""Signing in: the throttle, the password check and the record of every outcome."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from portal import accounts, audit
from portal.services import Services


@dataclass(frozen=True)
class Outcome:
    status: Literal["success", "failure", "locked"]
    who: accounts.Credentials | None = None
    locked_message: str = ""
    device_cookie: str | None = None
    # The audit row: stored with the session the answer carries (sessions.store_alongside).
    record: audit.Pending | None = None


def canonical_username(raw: str) -> str:
    """The key failures count under: `201-WickedSprockets ` and `201-wickedsprockets` are one.

    Malformed names count too, exactly like real ones, under a bounded key.
    """
    username = accounts.parse_username(raw)
    if username is not None:
        return str(username)
    text = raw.strip().lower()
    if len(text) <= accounts.MAX_USERNAME and text.isprintable():
        return text
    return "malformed:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


async def sign_in(
    portal: Services, raw_username: str, password: str, address: str, device_cookie: str | None
) -> Outcome:
    """Check one sign-in attempt; a refused attempt never reaches the password check."""
    key = canonical_username(raw_username)
    throttle = portal.throttle
    device = throttle.device_key(key, device_cookie)
    counter = device or key
    decision = await throttle.attempt(counter, address)
    if not decision.allowed and await _apply_unlock(portal, raw_username, counter):
        decision = await throttle.attempt(counter, address)
    if not decision.allowed:
        record = audit.pending("sign-in", "locked", key, address)
        return Outcome("locked", locked_message=decision.message, record=record)

    who = await accounts.authenticate(portal.engine, portal.passwords, raw_username, password)
    outcome = "success" if who else "failure"
    record = audit.pending("sign-in", outcome, key, address)
    keys = (key, device) if device else (key,)
    await (throttle.clear(*keys) if who else throttle.failed(address))
    if who is None:
        return Outcome("failure", record=record)
    device_cookie = throttle.new_device_cookie(key)
    return Outcome("success", who, device_cookie=device_cookie, record=record)


async def _apply_unlock(portal: Services, raw_username: str, counter: str) -> bool:
    username = accounts.parse_username(raw_username)
    if username is None:
        return False
    async with portal.db() as db:
        unlocked_at = await accounts.unlocked_at(db, username)
    return unlocked_at is not None and await portal.throttle.apply_unlock(counter, unlocked_at)
