"""Signing in: the throttle, the password check and the record of every outcome."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from portal.domain import accounts, audit
from portal.security.alongside import Alongside
from portal.security.throttle import Attempt, Refusal
from portal.web.shared import Shared

Later = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    status: Literal["success", "failure", "locked"]
    who: accounts.Account | None = None
    locked_message: str = ""
    device_cookie: str | None = None
    attempts_left: int | None = None  # a failure's: how many more may follow before a wait
    new_device: bool = False  # a success from a browser with no genuine device cookie for it


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
    shared: Shared, username: str, address: str, device: str | None = None
) -> Attempt | Refusal:
    """A place for one password check of `username` (canonical), or the refusal to show.

    A refusal by the account's counter first applies an administrator's unlock, if one was
    recorded since its failures began. Sign-in and Change Password both come this way.
    """
    throttle = shared.throttle
    counter = device or username
    taken = await throttle.attempt(counter, address)
    refused_here = isinstance(taken, Refusal) and not taken.by_address
    if refused_here and await _apply_unlock(shared, username, counter):
        taken = await throttle.attempt(counter, address)
    return taken


async def check_sign_in(
    shared: Shared,
    raw_username: str,
    password: str,
    address: str,
    device_cookie: str | None,
    alongside: list[Alongside],
    before_answer: list[Later] | None = None,
) -> Outcome:
    """Check one sign-in attempt; a refused attempt never reaches the password check.

    Its audit row goes on `alongside` (`sessions.alongside(request)`): committed with the
    session the answer carries, before the answer leaves. A success gives its place on the
    counters back through `before_answer` (`sessions.before_answer(request)`), beside the
    session's write instead of before it; without it, at once.
    """
    key = canonical_username(raw_username, shared.settings.secret_key)
    throttle = shared.throttle
    device = throttle.device_key(key, device_cookie)
    early = accounts.read_early(shared.engine, raw_username)  # overlaps the counters' trip
    attempt = await take_attempt(shared, key, address, device)
    if isinstance(attempt, Refusal):
        if early is not None:
            with contextlib.suppress(Exception):  # not needed: only let it end
                await early
        alongside.append(audit.pending("sign-in", "locked", key, address))
        return Outcome("locked", locked_message=attempt.message)

    async with attempt.checking():
        who = await accounts.authenticate(
            shared.engine, shared.passwords, raw_username, password, early
        )
    alongside.append(audit.pending("sign-in", "success" if who else "failure", key, address))
    if who is None:
        return Outcome("failure", attempts_left=await attempt.failed())
    also = [key] if device else []
    if before_answer is None:
        await attempt.succeeded(*also)
    else:
        before_answer.append(lambda: attempt.succeeded(*also))
    device_cookie = throttle.new_device_cookie(key)
    return Outcome("success", who, device_cookie=device_cookie, new_device=device is None)


async def _apply_unlock(shared: Shared, username: str, counter: str) -> bool:
    parsed = accounts.parse_username(username)
    if parsed is None:
        return False
    async with shared.db() as db:
        unlocked_at = await accounts.unlocked_at(db, parsed)
    return unlocked_at is not None and await shared.throttle.lift(counter, unlocked_at)
