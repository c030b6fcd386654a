"""Failure counters that lock: N failures within a window, then a wait of the full window.

Each attempt takes a place (a hold) on its counters before its password check, atomically, and
is refused while the failures counted and the holds of checks in flight fill the allowance. A
wrong password turns the hold into a failure, and the one that makes N locks the counter for a
whole window from that moment; a right one gives the hold back and forgets the failures. So a
burst lets at most N checks through, and a burst of right passwords is never refused: the
attempts beyond the allowance wait for the checks in flight to end instead (see `Full`).

Kept in memory (one process) or in Redis, shared by every worker and surviving restarts. Both
take the time from the caller, so the app's clock (which tests may move) is the one that counts.
`limits`, which throttles reset requests, has neither holds given back nor a lock that outlasts
its window, and reads the wall clock itself: hence these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

# How long a hold outlives a check that never ended (its process died): until then, it counts.
HOLD_SECONDS = 60.0
_SWEEP_EVERY = 1024  # memory: operations between sweeps of counters left idle


@dataclass(frozen=True)
class Limit:
    """One counter an attempt counts on, and the failures it allows within a window."""

    key: str
    max_failures: int


@dataclass(frozen=True)
class Taken:
    """A place on every counter, held for this attempt's check."""


@dataclass(frozen=True)
class Full:
    """`limits[index]` is not locked, but checks in flight hold its remaining places."""

    index: int


@dataclass(frozen=True)
class Locked:
    """`limits[index]` is locked `until` (a Unix time); its counted failures began at `since`."""

    index: int
    until: float
    since: float


Take = Taken | Full | Locked


class Counters(Protocol):
    """Where the counts live. Every operation is atomic across all the keys it is given."""

    async def take(self, limits: Sequence[Limit], token: str, now: float) -> Take:
        """Hold a place on every counter for `token`, or say why not (nothing is held then)."""

    async def fail(self, limits: Sequence[Limit], token: str, now: float) -> list[int]:
        """Turn `token`'s holds into failures; the one that reaches a maximum locks.

        Answers, for each counter, the failures it still allows before it locks (0: locked).
        """

    async def release(
        self, keys: Sequence[str], token: str, now: float, forget: Sequence[str] = ()
    ) -> None:
        """Give `token`'s holds back, and forget the failures and the lock of `forget`."""

    async def lift(self, key: str, unlocked_at: float, now: float) -> bool:
        """End `key`'s lock if it counts failures from before `unlocked_at`; whether it did."""


# --- in memory ------------------------------------------------------------------------------


@dataclass
class _Count:
    failures: list[float] = field(default_factory=list)
    holds: dict[str, float] = field(default_factory=dict)
    locked_until: float = 0.0
    locked_since: float = 0.0

    def prune(self, now: float, window: float) -> None:
        self.failures = [at for at in self.failures if at > now - window]
        self.holds = {token: lapse for token, lapse in self.holds.items() if lapse > now}
        if self.locked_until <= now:
            self.locked_until = self.locked_since = 0.0

    def forget(self) -> None:
        self.failures, self.locked_until, self.locked_since = [], 0.0, 0.0

    @property
    def idle(self) -> bool:
        return not self.failures and not self.holds and not self.locked_until


class MemoryCounters:
    """Counts of this process. No operation awaits, so each is atomic on the event loop."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._counts: dict[str, _Count] = {}
        self._operations = 0

    def _count(self, key: str, now: float) -> _Count:
        self._operations += 1
        if self._operations % _SWEEP_EVERY == 0:
            self._sweep(now)
        count = self._counts.setdefault(key, _Count())
        count.prune(now, self.window)
        return count

    def _sweep(self, now: float) -> None:
        for key, count in list(self._counts.items()):
            count.prune(now, self.window)
            if count.idle:
                del self._counts[key]

    async def take(self, limits: Sequence[Limit], token: str, now: float) -> Take:
        counts = [self._count(limit.key, now) for limit in limits]
        for index, count in enumerate(counts):
            if count.locked_until:
                return Locked(index, count.locked_until, count.locked_since)
        for index, (limit, count) in enumerate(zip(limits, counts, strict=True)):
            used = len(count.failures) + len(count.holds)
            if token not in count.holds and used >= limit.max_failures:
                return Full(index)
        for count in counts:
            count.holds[token] = now + HOLD_SECONDS
        return Taken()

    async def fail(self, limits: Sequence[Limit], token: str, now: float) -> list[int]:
        left = []
        for limit in limits:
            count = self._count(limit.key, now)
            if count.holds.pop(token, None) is not None and not count.locked_until:
                count.failures.append(now)
                if len(count.failures) >= limit.max_failures:
                    count.locked_until, count.locked_since = now + self.window, count.failures[0]
                    count.failures = []
            left.append(_left(limit, len(count.failures), count.locked_until))
        return left

    async def release(
        self, keys: Sequence[str], token: str, now: float, forget: Sequence[str] = ()
    ) -> None:
        for key in keys:
            self._count(key, now).holds.pop(token, None)
        for key in forget:
            self._count(key, now).forget()

    async def lift(self, key: str, unlocked_at: float, now: float) -> bool:
        count = self._count(key, now)
        if not count.locked_until or count.locked_since >= unlocked_at:
            return False
        count.forget()
        return True


def _left(limit: Limit, failures: int, locked_until: float) -> int:
    return 0 if locked_until else max(0, limit.max_failures - failures)


# --- in Redis -------------------------------------------------------------------------------
# One JSON value per counter: f, the failures' times; h, holds by token with when they lapse;
# u and s, the lock's end and the first failure it counts (0 when unlocked). Times are integer
# milliseconds passed by the caller. Each value expires when nothing in it matters any more.

_COMMON = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local function load(key)
  local c = {f = {}, h = {}, u = 0, s = 0}
  local raw = redis.call('GET', key)
  if raw then
    local stored = cjson.decode(raw)
    for _, at in ipairs(stored.f) do if at > now - window then c.f[#c.f + 1] = at end end
    for token, lapse in pairs(stored.h) do if lapse > now then c.h[token] = lapse end end
    if stored.u > now then c.u, c.s = stored.u, stored.s end
  end
  return c
end
local function holds(c)
  local n = 0
  for _ in pairs(c.h) do n = n + 1 end
  return n
end
local function save(key, c)
  local last = c.u
  for _, at in ipairs(c.f) do last = math.max(last, at + window) end
  for _, lapse in pairs(c.h) do last = math.max(last, lapse) end
  if last <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, cjson.encode(c), 'PX', last - now)
  end
end
"""

# ARGV: now, window, token, hold lapse, then each key's maximum.
_TAKE = (
    _COMMON
    + """
local token, lapse, counts = ARGV[3], tonumber(ARGV[4]), {}
for i, key in ipairs(KEYS) do
  counts[i] = load(key)
  if counts[i].u > 0 then return {1, i - 1, counts[i].u, counts[i].s} end
end
for i = 1, #KEYS do
  local c = counts[i]
  if c.h[token] == nil and #c.f + holds(c) >= tonumber(ARGV[4 + i]) then return {2, i - 1} end
end
for i, key in ipairs(KEYS) do
  counts[i].h[token] = lapse
  save(key, counts[i])
end
return {0}
"""
)

# ARGV: now, window, token, then each key's maximum. Answers each key's failures left.
_FAIL = (
    _COMMON
    + """
local token, left = ARGV[3], {}
for i, key in ipairs(KEYS) do
  local c, most = load(key), tonumber(ARGV[3 + i])
  if c.h[token] ~= nil then
    c.h[token] = nil
    if c.u == 0 then
      c.f[#c.f + 1] = now
      if #c.f >= most then c.u, c.s, c.f = now + window, c.f[1], {} end
    end
    save(key, c)
  end
  if c.u > 0 then left[i] = 0 else left[i] = math.max(0, most - #c.f) end
end
return left
"""
)

# ARGV: now, window, token, how many of KEYS are held (the rest are forgotten).
_RELEASE = (
    _COMMON
    + """
local token, held = ARGV[3], tonumber(ARGV[4])
for i, key in ipairs(KEYS) do
  local c = load(key)
  if i <= held then c.h[token] = nil else c.f, c.u, c.s = {}, 0, 0 end
  save(key, c)
end
"""
)

# ARGV: now, window, the unlock's time.
_LIFT = (
    _COMMON
    + """
local c = load(KEYS[1])
if c.u == 0 or c.s >= tonumber(ARGV[3]) then return 0 end
c.f, c.u, c.s = {}, 0, 0
save(KEYS[1], c)
return 1
"""
)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisCounters:
    """Counts shared by every worker: each operation is one Lua script, atomic in Redis.

    Every script may run twice (the client retries once after a broken connection) and still
    count once: holds are by token, and only a held token becomes a failure.
    """

    def __init__(self, redis: Redis, prefix: str, window: float) -> None:
        self.prefix = prefix
        self.window = _ms(window)
        self._take = redis.register_script(_TAKE)
        self._fail = redis.register_script(_FAIL)
        self._release = redis.register_script(_RELEASE)
        self._lift = redis.register_script(_LIFT)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [self.prefix + key for key in keys]

    async def take(self, limits: Sequence[Limit], token: str, now: float) -> Take:
        keys = self._keys([limit.key for limit in limits])
        lapse = _ms(now + HOLD_SECONDS)
        maxima = [limit.max_failures for limit in limits]
        answer = await self._take(keys, [_ms(now), self.window, token, lapse, *maxima])
        if answer[0] == 1:
            return Locked(int(answer[1]), answer[2] / 1000, answer[3] / 1000)
        if answer[0] == 2:
            return Full(int(answer[1]))
        return Taken()

    async def fail(self, limits: Sequence[Limit], token: str, now: float) -> list[int]:
        keys = self._keys([limit.key for limit in limits])
        maxima = [limit.max_failures for limit in limits]
        left = await self._fail(keys, [_ms(now), self.window, token, *maxima])
        return [int(n) for n in left]

    async def release(
        self, keys: Sequence[str], token: str, now: float, forget: Sequence[str] = ()
    ) -> None:
        every = self._keys([*keys, *forget])
        await self._release(every, [_ms(now), self.window, token, len(keys)])

    async def lift(self, key: str, unlocked_at: float, now: float) -> bool:
        lifted = await self._lift(self._keys([key]), [_ms(now), self.window, _ms(unlocked_at)])
        return bool(lifted)
