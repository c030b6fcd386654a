"""Throttles: failed sign-ins per account (and per remembered device) and per address, and
password-reset requests per extension and per address.

Counting uses the `limits` package's async API, in memory by default or in Redis when
PORTAL_REDIS_URL is set, so that workers and restarts share the counts.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass, field

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis

from portal.settings import Settings

DEVICE_COOKIE = "portal_device"
DEVICE_COOKIE_SECONDS = 180 * 24 * 3600
RESETS_PER_EXTENSION = 3
RESETS_PER_ADDRESS = 20
RESET_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Decision:
    allowed: bool
    wait_seconds: float = 0.0

    @property
    def wait_minutes(self) -> int:
        return max(1, math.ceil(self.wait_seconds / 60))

    @property
    def message(self) -> str:
        minutes = self.wait_minutes
        return f"Too many failed attempts. Try again in {minutes} minute{'s' * (minutes != 1)}."


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


@dataclass
class Throttle:
    """Decides whether a sign-in attempt may reach the password check, and a reset be sent."""

    storage: object
    max_failures: int
    window_seconds: int
    address_max_failures: int
    secret_key: str
    _limiter: MovingWindowRateLimiter = field(init=False)
    _account: RateLimitItemPerSecond = field(init=False)
    _address: RateLimitItemPerSecond = field(init=False)

    def __post_init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(self.storage)  # type: ignore[arg-type]
        self._account = RateLimitItemPerSecond(
            self.max_failures, self.window_seconds, namespace="signin"
        )
        self._address = RateLimitItemPerSecond(
            self.address_max_failures, self.window_seconds, namespace="signin-addr"
        )
        self._reset = RateLimitItemPerSecond(
            RESETS_PER_EXTENSION, RESET_WINDOW_SECONDS, namespace="reset"
        )
        self._reset_address = RateLimitItemPerSecond(
            RESETS_PER_ADDRESS, RESET_WINDOW_SECONDS, namespace="reset-addr"
        )

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None) -> Throttle:
        return cls(
            storage=make_storage(settings, redis),
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_lockout_seconds,
            address_max_failures=settings.login_ip_max_failures,
            secret_key=settings.secret_key,
        )

    async def attempt(self, key: str, address: str) -> Decision:
        """Take one attempt from `key`'s allowance; refused when it or the address is spent.

        The account's count is taken with hit(), atomically, so a burst of simultaneous
        attempts lets at most `max_failures` through to the password check.
        """
        if not await self._limiter.test(self._address, address):
            return await self._refusal(self._address, address)
        if await self._limiter.hit(self._account, key):
            return Decision(allowed=True)
        return await self._refusal(self._account, key)

    async def _refusal(self, item: RateLimitItemPerSecond, key: str) -> Decision:
        stats = await self._limiter.get_window_stats(item, key)
        return Decision(allowed=False, wait_seconds=max(1.0, stats.reset_time - time.time()))

    async def failed(self, address: str) -> None:
        """Count a wrong password against the address's ceiling."""
        await self._limiter.hit(self._address, address)

    async def clear(self, *keys: str) -> None:
        """Forget these keys' failures (a successful sign-in, an unlock, a reset)."""
        for key in keys:
            await self._limiter.clear(self._account, key)

    async def apply_unlock(self, key: str, unlocked_at: float) -> bool:
        """Clear `key` if failures from before an unlock at `unlocked_at` (Unix time) count.

        The command line cannot reach a server's memory, so an unlock is recorded in the
        database and applied by the next refused attempt. Failures made after the unlock are
        newer than it, so they lock again, on every worker.
        """
        stats = await self._limiter.get_window_stats(self._account, key)
        oldest = stats.reset_time - self.window_seconds
        if stats.remaining >= self.max_failures or oldest >= unlocked_at:
            return False
        await self.clear(key)
        return True

    async def allow_reset(self, key: str, address: str) -> bool:
        """Whether another reset link may be sent for `key` from `address` (never locks)."""
        if not await self._limiter.test(self._reset_address, address):
            return False
        return await self._limiter.hit(self._reset, key) and await self._limiter.hit(
            self._reset_address, address
        )

    # --- remembered devices -----------------------------------------------------------------
    # A browser that signed in as a user before gets a signed cookie; its attempts count on a
    # counter of its own, so an attacker hammering the account cannot lock its owner out.

    def _device_signature(self, username: str, nonce: str) -> str:
        message = f"device:{username}:{nonce}".encode()
        return hmac.new(self.secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]

    def new_device_cookie(self, username: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._device_signature(username, nonce)}"

    def device_key(self, username: str, cookie: str | None) -> str | None:
        """The counter of this remembered device for `username`, if the cookie is genuine."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 100:
            return None
        nonce, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._device_signature(username, nonce)):
            return None
        return f"{username}#device:{nonce}"
