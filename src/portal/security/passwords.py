"""Password hashing (argon2id, off the event loop) and generation."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.base.settings import Settings
from portal.base.threads import Workers

T = TypeVar("T")

# Lower-case letters and digits without the look-alikes (0/o, 1/l/i): easy to read out and type.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used older parameters


def default_concurrency() -> int:
    """Hashes at a time: 2, but always one core fewer than the machine has, so that a sign-in
    burst leaves a core to the event loop (on 2 cores, 2 hashes at once doubled tab latency)."""
    return max(1, min(2, (os.cpu_count() or 1) - 1))


@dataclass
class Passwords:
    """Hashes and verifies in `concurrency` threads of its own, so at most that many at a time.

    A burst of sign-ins queues here instead of taking every core and stalling other requests.
    """

    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1
    concurrency: int = field(default_factory=default_concurrency)
    _hasher: PasswordHasher = field(init=False, repr=False)
    _workers: Workers = field(init=False, repr=False)
    _dummy_hash: str = field(init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        """The hasher `settings` ask for (tests and benchmarks make hashing cheaper)."""
        return cls(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
        )

    def __post_init__(self) -> None:
        self._hasher = PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=Type.ID,
        )
        # Unknown users are verified against this, so they cost what a real user costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self._workers = Workers(self.concurrency, "argon2")

    async def hash(self, password: str) -> str:
        """An argon2id hash of `password`, computed in a worker thread."""
        return await self._workers.call(lambda: self._hasher.hash(password))

    async def verify(self, stored_hash: str | None, password: str) -> Verdict:
        """Check `password` against `stored_hash`; `None` burns the same time and fails."""
        return await self._workers.call(lambda: self._verify_sync(stored_hash, password))

    async def verify_loaded(self, load: Callable[[], str | None], password: str) -> Verdict:
        """`verify`, with the stored hash read by `load()` in the hashing thread first."""
        return await self._workers.call(lambda: self._verify_sync(load(), password))

    async def in_hashing_thread(self, function: Callable[[], T]) -> T:
        """`function()` in a hashing thread, queued with the hashes (the benchmark's reference)."""
        return await self._workers.call(function)

    def close(self) -> None:
        """End the hashing threads once queued work is done (a later call starts them again)."""
        self._workers.close()

    def _verify_sync(self, stored_hash: str | None, password: str) -> Verdict:
        try:
            self._hasher.verify(stored_hash or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(ok=False)
        if stored_hash is None:
            return Verdict(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verdict(ok=True, new_hash=self._hasher.hash(password))
        return Verdict(ok=True)


def generate_password(groups: int = 4, size: int = 5) -> str:
    """A random password like `k7m2x-9qrtb-...`: 20 characters, about 99 bits."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))
