"""Throttles: failed sign-ins per account (and per remembered device) and per address, and
password-reset requests per extension and per address.

Sign-in failures count on `lockout`'s counters; reset requests on the `limits` package's moving
window. Both in memory by default, or in Redis when PORTAL_REDIS_URL is set, so that workers and
restarts share the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis

from portal.base.clock import Clock
from portal.base.settings import Settings
from portal.security.lockout import (
    HOLD_SECONDS,
    Counters,
    Limit,
    Locked,
    MemoryCounters,
    RedisCounters,
    Taken,
)

DEVICE_COOKIE = "portal_device"
DEVICE_COOKIE_SECONDS = 180 * 24 * 3600
RESETS_PER_EXTENSION = 3
RESETS_PER_ADDRESS = 20
RESET_WINDOW_SECONDS = 3600
# Passkey challenges handed to visitors who have not signed in (each one a row for a few
# minutes): enough for a page load a few seconds apart, not for a bot filling the table.
CHALLENGES_PER_ADDRESS = 60
CHALLENGE_WINDOW_SECONDS = 300
# How often an attempt looks again while checks in flight hold every place it could take.
WAIT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Refusal:
    """An attempt that may not reach the password check, and how long until one may."""

    wait_seconds: float
    by_address: bool = False  # the address's ceiling refused, not the account's counter

    @property
    def wait_minutes(self) -> int:
        return max(1, math.ceil(self.wait_seconds / 60))

    @property
    def message(self) -> str:
        minutes = self.wait_minutes
        return f"Too many failed attempts. Try again in {minutes} minute{'s' * (minutes != 1)}."


@dataclass(frozen=True)
class Attempt:
    """A place held on the counters for one password check: given back, or counted as failed."""

    throttle: Throttle
    limits: tuple[Limit, ...]
    token: str

    async def succeeded(self, *also: str) -> None:
        """A right password: nothing counts, and the failures of this counter (and of the
        accounts `also`) end."""
        keys = [limit.key for limit in self.limits]
        forget = [keys[-1], *map(_account, also)]
        await self.throttle.counters.release(keys, self.token, self.throttle.clock(), forget)

    async def failed(self) -> int:
        """A wrong password: a failure on every counter; the one that fills one locks it.

        Answers how many more failures may follow before a wait (0: this one began it)."""
        left = await self.throttle.counters.fail(self.limits, self.token, self.throttle.clock())
        return min(left)

    @contextlib.asynccontextmanager
    async def checking(self) -> AsyncIterator[None]:
        """Around the password check: if the check itself fails (an outage), nothing counts."""
        try:
            yield
        except Exception:
            keys = [limit.key for limit in self.limits]
            with contextlib.suppress(Exception):  # the check's own error is the one to answer
                await self.throttle.counters.release(keys, self.token, self.throttle.clock())
            raise


def _account(key: str) -> str:
    return "account:" + key


def make_storage(settings: Settings, redis: Redis | None) -> object:
    """Memory, or the app's Redis (made in the lifespan, on its event loop) shared by workers."""
    if redis is not None and settings.redis_url:
        return storage_from_string(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix=settings.redis_prefix + "limits",
            # Documented by limits, though its type hints only admit scalars.
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
    return storage_from_string("async+memory://")


def make_counters(settings: Settings, redis: Redis | None) -> Counters:
    window = settings.login_lockout_seconds
    if redis is not None and settings.redis_url:
        return RedisCounters(redis, settings.redis_prefix + "lockout:", window)
    return MemoryCounters(window)


@dataclass
class Throttle:
    """Decides whether a sign-in attempt may reach the password check, and a reset be sent."""

    counters: Counters
    storage: object
    max_failures: int
    address_max_failures: int
    secret_key: str
    clock: Clock = field(default_factory=Clock)
    _limiter: MovingWindowRateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(self.storage)  # type: ignore[arg-type]
        self._reset = RateLimitItemPerSecond(
            RESETS_PER_EXTENSION, RESET_WINDOW_SECONDS, namespace="reset"
        )
        self._reset_address = RateLimitItemPerSecond(
            RESETS_PER_ADDRESS, RESET_WINDOW_SECONDS, namespace="reset-addr"
        )
        self._challenge = RateLimitItemPerSecond(
            CHALLENGES_PER_ADDRESS, CHALLENGE_WINDOW_SECONDS, namespace="passkey-challenge"
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: Redis | None, clock: Clock | None = None
    ) -> Throttle:
        return cls(
            counters=make_counters(settings, redis),
            storage=make_storage(settings, redis),
            max_failures=settings.login_max_failures,
            address_max_failures=settings.login_ip_max_failures,
            secret_key=settings.secret_key,
            clock=clock or Clock(),
        )

    async def attempt(self, key: str, address: str) -> Attempt | Refusal:
        """A place for one password check on `key`'s counter and `address`'s, or a refusal.

        Taken atomically, so a burst of simultaneous attempts lets at most `max_failures`
        through to the password check; the rest wait for those checks to end, then go on
        (after successes) or are refused (after failures that locked).
        """
        return await self._take(
            Limit("address:" + address, self.address_max_failures),
            Limit(_account(key), self.max_failures),
        )

    async def passkey_attempt(self, address: str, key: str | None) -> Attempt | Refusal:
        """A place for one passkey check, on counters of their own: passkey failures lock
        passkeys (of the account `key`, when the credential names one, and of the address),
        and a password lockout never blocks a passkey sign-in."""
        by_address = Limit("passkey-address:" + address, self.address_max_failures)
        if key is None:
            return await self._take(by_address)
        return await self._take(by_address, Limit(_account("passkey:" + key), self.max_failures))

    async def _take(self, *limits: Limit) -> Attempt | Refusal:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + HOLD_SECONDS
        while True:
            now = self.clock()
            taken = await self.counters.take(limits, token, now)
            if isinstance(taken, Taken):
                return Attempt(self, limits, token)
            if isinstance(taken, Locked):
                return Refusal(max(1.0, taken.until - now), by_address=taken.index == 0)
            if time.monotonic() > deadline:  # held all along by checks that never end
                return Refusal(HOLD_SECONDS, by_address=taken.index == 0)
            await asyncio.sleep(WAIT_POLL_SECONDS)

    async def clear(self, key: str) -> None:
        """Forget `key`'s failures and lock (a reset)."""
        await self.counters.release([], "", self.clock(), forget=[_account(key)])

    async def lift(self, key: str, unlocked_at: float) -> bool:
        """End `key`'s lock if it counts failures from before an unlock at `unlocked_at`.

        The command line cannot reach a server's memory, so an unlock is recorded in the
        database and applied by the next refused attempt. Failures made after the unlock are
        newer than it, so they lock again, on every worker.
        """
        return await self.counters.lift(_account(key), unlocked_at, self.clock())

    async def allow_reset(self, key: str, address: str) -> bool:
        """Whether another reset link may be sent for `key` from `address` (never locks)."""
        if not await self._limiter.test(self._reset_address, address):
            return False
        return await self._limiter.hit(self._reset, key) and await self._limiter.hit(
            self._reset_address, address
        )

    async def allow_challenge(self, address: str) -> bool:
        """Whether `address` may have another passkey sign-in challenge (never locks)."""
        return await self._limiter.hit(self._challenge, address)

    # --- remembered devices -----------------------------------------------------------------
    # A browser that signed in as a user before gets a signed cookie, `NAME.NONCE.SIGNATURE`;
    # its attempts count on a counter of its own, so an attacker hammering the account cannot
    # lock its owner out, and its login page offers NAME again. Without the name (`NONCE.SIGNATURE`,
    # after "Not you?") it still vouches for the device when NAME is typed.

    def _device_signature(self, username: str, nonce: str) -> str:
        message = f"device:{username}:{nonce}".encode()
        return hmac.new(self.secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]

    def _genuine(self, username: str, nonce: str, signature: str) -> bool:
        expected = self._device_signature(username, nonce)
        return hmac.compare_digest(signature.encode(), expected.encode())

    def new_device_cookie(self, username: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{username}.{nonce}.{self._device_signature(username, nonce)}"

    def device_key(self, username: str, cookie: str | None) -> str | None:
        """The counter of this remembered device for `username`, if the cookie is genuine."""
        parts = _device_parts(cookie)
        if parts is None or not self._genuine(username, parts[1], parts[2]):
            return None
        return f"{username}#device:{parts[1]}"

    def remembered(self, cookie: str | None) -> str | None:
        """The username a genuine device cookie names: one that signed in here, never a
        password typed in the wrong box."""
        parts = _device_parts(cookie)
        if parts is None or not parts[0] or not self._genuine(*parts):
            return None
        return parts[0]

    def without_name(self, cookie: str | None) -> str | None:
        """A genuine named cookie without its name ("Not you?"); None for any other."""
        if self.remembered(cookie) is None:
            return None
        _, nonce, signature = _device_parts(cookie) or ("", "", "")
        return f"{nonce}.{signature}"


def _device_parts(cookie: str | None) -> tuple[str, str, str] | None:
    """(name or "", nonce, signature) of a cookie shaped like ours; None for anything else."""
    if not cookie or len(cookie) > 160 or not cookie.isascii():
        return None  # not one we made (a sibling subdomain may plant anything)
    parts = cookie.split(".")
    if len(parts) == 2:
        return ("", parts[0], parts[1])
    if len(parts) == 3 and parts[0]:
        return (parts[0], parts[1], parts[2])
    return None
