"""Sessions in Redis, with an index of each extension's sessions beside them.

Every session key is `session:<storage key>`. A signed-in session's owner has a sorted set
`owner:<extension id>` of its sessions' storage keys, scored by when each expires (the app's
clock, in ms). Every script that writes a session adds it there, drops members already expired
and keeps the set's own TTL at least the newest session's, so the set never outgrows its live
sessions and vanishes with the last of them. `ended:<extension id>` holds the credential stamp
an ending established (for ENDED_SECONDS): a sign-in that checked another stores nothing.

Each step is one Lua script, atomic in Redis: a write racing an ending either lands first (and
is deleted with the rest) or finds its key gone and writes nothing, index included. The ending
script deletes session keys it reads from the set (not passed as KEYS): fine on one Redis
server, as this store has always assumed, not on a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from starsessions.stores.redis import RedisStore as StarsessionsRedisStore

from portal.base.clock import Clock
from portal.security.alongside import Alongside
from portal.security.sessionstore import (
    CACHED_SECONDS,
    REPLACED_SECONDS,
    SEEN,
    Listed,
    Owner,
    OwnerRead,
    PortalStore,
    Slide,
    StaleCredentials,
    new_session_id,
)

# Longer than any sign-in takes from reading the password hash to storing its session.
ENDED_SECONDS = 600.0

# ARGV[n..n+2]: the member, its expiry score (ms), now (ms); ttl (ms) comes first in each script.
_INDEX = """
local function index(key, member, expiry, now, ttl)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, expiry, member)
  if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
end
"""

# KEYS: the new session, the owner's index, its ended mark [, the id replaced, its mark].
# ARGV: data, ttl, member, expiry, now, the stamp the sign-in checked ('' no owner), the
# replaced id's member, its mark's value (the app's clock) and TTL.
_CREATE = (
    _INDEX
    + """
if KEYS[4] then
  redis.call('DEL', KEYS[4])
  redis.call('SET', KEYS[5], ARGV[8], 'PX', ARGV[9])
  if ARGV[6] ~= '' then redis.call('ZREM', KEYS[2], ARGV[7]) end
end
if ARGV[6] ~= '' then
  local ended = redis.call('GET', KEYS[3])
  if ended and ended ~= ARGV[6] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
if ARGV[6] ~= '' then index(KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[2]) end
return 1
"""
)

# KEYS: the session [, its owner's index]. ARGV: data, ttl, member, expiry, now.
_WRITE = (
    _INDEX
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then return 0 end
if KEYS[2] then index(KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[2]) end
return 1
"""
)

# KEYS: the session [, its owner's index]. ARGV: data, ttl, member, expiry, now, its SEEN, the
# gap, the SEEN field's name. Compares SEEN as stored in the data (the app's clock).
_SLIDE = (
    _INDEX
    + """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local ok, data = pcall(cjson.decode, stored)
local seen = ok and type(data) == 'table' and tonumber(data[ARGV[8]]) or 0
if seen > tonumber(ARGV[6]) - tonumber(ARGV[7]) then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX')
if KEYS[2] then index(KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[2]) end
return 1
"""
)

# KEYS: the owner's index, its ended mark. ARGV: the session keys' prefix, the member to keep
# ('' none), the stamp from now on ('' leaves the mark alone), the mark's TTL.
_END = """
local ended = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. member)
    redis.call('ZREM', KEYS[1], member)
  end
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
return ended
"""

# The owner's live sessions, appended to `found` as (member, data) pairs; members expired by
# `now` (ms) or whose session is gone (signed out one by one) are dropped on the way.
_LIST = """
local function list(index, prefix, now, found)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local data = redis.call('GET', prefix .. member)
    if data then
      found[#found + 1] = member
      found[#found + 1] = data
    else
      redis.call('ZREM', index, member)
    end
  end
  return found
end
"""

# KEYS: the owner's index. ARGV: the session keys' prefix, now (ms).
_OWNED = _LIST + "return list(KEYS[1], ARGV[1], ARGV[2], {})"

# KEYS: the session. ARGV: the owner's field in its data, the owners' indexes' prefix, the
# session keys' prefix, now (ms), the owners' kept lists' prefix. The session's data ({} when
# gone), then, when it names an owner: the owner's id, the number of items of its kept lists'
# hash that follow (names and values, `v` the version among them), and the owner's live
# sessions as `_OWNED` lists them.
_READ_OWNED = (
    _LIST
    + """
local data = redis.call('GET', KEYS[1])
if not data then return {} end
local ok, decoded = pcall(cjson.decode, data)
local owner = ok and type(decoded) == 'table' and decoded[ARGV[1]]
if type(owner) ~= 'number' or owner ~= math.floor(owner) then return {data} end
owner = string.format('%d', owner)
local kept = redis.call('HGETALL', ARGV[5] .. owner)
local found = {data, owner, #kept}
for _, item in ipairs(kept) do found[#found + 1] = item end
return list(ARGV[2] .. owner, ARGV[3], ARGV[4], found)
"""
)

# KEYS: the owner's kept lists. ARGV: the list's name, its value, the version it was read at
# ('' none), the TTL (ms). Kept only if no change came since that version.
_FILL = """
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: the owner's kept lists. ARGV: the TTL (ms). A new version, no list: a fill that read
# the old version is turned away, for at least the TTL.
_DROP = """
local version = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', version)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return version
"""

# KEYS: the owner's index, the session. Only a member of the owner's index is deleted.
_END_ONE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('DEL', KEYS[2])
"""


class RedisStore(PortalStore):
    """Sessions in Redis, through starsessions' RedisStore for reads and removals."""

    keeps_lists = True

    def __init__(
        self,
        redis: Redis,
        secret_key: str,
        prefix: str = "portal:",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(secret_key, clock)
        self.redis = redis
        self._session_prefix = f"{prefix}session:"
        self._inner = StarsessionsRedisStore(
            connection=redis, prefix=lambda sid: self._session_prefix + self.storage_key(sid)
        )
        self._replaced_prefix = f"{prefix}replaced:"
        self._owner_prefix = f"{prefix}owner:"
        self._ended_prefix = f"{prefix}ended:"
        self._create = redis.register_script(_CREATE)
        self._write = redis.register_script(_WRITE)
        self._slide = redis.register_script(_SLIDE)
        self._end = redis.register_script(_END)
        self._owned = redis.register_script(_OWNED)
        self._read_owned = redis.register_script(_READ_OWNED)
        self._fill = redis.register_script(_FILL)
        self._drop = redis.register_script(_DROP)
        self._kept_prefix = f"{prefix}kept:"
        self._end_one = redis.register_script(_END_ONE)

    def _index_keys(self, owner: int | None) -> list[str]:
        return [] if owner is None else [f"{self._owner_prefix}{owner}"]

    def _index_args(self, key: str, ttl: float) -> list[bytes | str | int]:
        """ttl, member, expiry, now: what every indexing script takes first."""
        now = self.clock()
        return [_ms(ttl), key, _ms(now + ttl), _ms(now)]

    async def create(
        self,
        data: bytes,
        ttl: float,
        replacing: str | None = None,
        alongside: Sequence[Alongside] = (),
        owner: Owner | None = None,
    ) -> str:
        if alongside:
            raise ValueError("Redis shares no transaction with the database: commit it apart")
        session_id = new_session_id()
        key = self.storage_key(session_id)
        # One script, one round trip: the owner's index and ended mark are placeholders (never
        # touched) for a session without an owner.
        where = "" if owner is None else str(owner.id)
        keys = [self._session_prefix + key, self._owner_prefix + where, self._ended_prefix + where]
        args = [data, *self._index_args(key, ttl), owner.stamp if owner else ""]
        if replacing is not None:
            keys += [
                self._inner.prefix(replacing),
                self._replaced_prefix + self.replaced_key(replacing),
            ]
            # Until when, by the app's clock (which tests move), as the key's TTL says.
            until = repr(self.clock() + REPLACED_SECONDS)
            args += [self.storage_key(replacing), until, _ms(REPLACED_SECONDS)]
        if not await self._create(keys, args):
            raise StaleCredentials
        self.writes += 1
        return session_id

    async def read(self, session_id: str, lifetime: int) -> bytes:
        return await self._inner.read(session_id, lifetime)

    async def read_with_owned(self, session_id: str, lifetime: int, owner_field: str) -> Listed:
        # One script, one round trip: the page that lists the sessions reads its own with them.
        found = await self._read_owned(
            [self._inner.prefix(session_id)],
            [
                owner_field,
                self._owner_prefix,
                self._session_prefix,
                _ms(self.clock()),
                self._kept_prefix,
            ],
        )
        if len(found) < 2:
            return (found[0] if found else b""), None
        end = 3 + int(found[2])
        kept = dict(_pairs(found[3:end]))
        version = kept.pop("v", b"").decode()
        return found[0], OwnerRead(int(found[1]), _pairs(found[end:]), kept, version)

    async def fill_cached(self, owner: int, name: str, value: bytes, version: str) -> None:
        keys = [f"{self._kept_prefix}{owner}"]
        await self._fill(keys, [name, value, version, _ms(CACHED_SECONDS)])

    async def drop_cached(self, owner: int) -> None:
        await self._drop([f"{self._kept_prefix}{owner}"], [_ms(CACHED_SECONDS)])

    async def replaced(self, session_id: str) -> bool:
        until = await self.redis.get(self._replaced_prefix + self.replaced_key(session_id))
        return until is not None and float(until) > self.clock()

    async def write(
        self, session_id: str, data: bytes, lifetime: int, ttl: float, owner: int | None = None
    ) -> bool:
        # XX: only while the key still exists, so a removed session stays removed.
        key = self.storage_key(session_id)
        keys = [self._session_prefix + key, *self._index_keys(owner)]
        done = await self._write(keys, [data, *self._index_args(key, ttl)])
        if done:
            self.writes += 1
        return bool(done)

    async def slide(
        self,
        session_id: str,
        data: bytes,
        seen: float,
        ttl: float,
        gap: float,
        owner: int | None = None,
    ) -> Slide:
        key = self.storage_key(session_id)
        keys = [self._session_prefix + key, *self._index_keys(owner)]
        args = [data, *self._index_args(key, ttl), repr(seen), repr(gap), SEEN]
        outcome = await self._slide(keys, args)
        if outcome == 1:
            self.writes += 1
            return Slide.SLID
        return Slide.FRESH if outcome == 2 else Slide.GONE

    async def remove(self, session_id: str) -> None:
        await self._inner.remove(session_id)

    async def end_owned(
        self, owner: int, *, keep: str | None = None, stamp: str | None = None
    ) -> int:
        keys = [f"{self._owner_prefix}{owner}", f"{self._ended_prefix}{owner}"]
        kept = self.storage_key(keep) if keep is not None else ""
        args: list[str | int] = [self._session_prefix, kept, stamp or "", _ms(ENDED_SECONDS)]
        return int(await self._end(keys, args))

    async def owned(self, owner: int) -> list[tuple[str, bytes]]:
        found = await self._owned(
            [f"{self._owner_prefix}{owner}"], [self._session_prefix, _ms(self.clock())]
        )
        return _pairs(found)

    async def end_one(self, owner: int, key: str) -> bool:
        keys = [f"{self._owner_prefix}{owner}", self._session_prefix + key]
        return bool(await self._end_one(keys, [key]))

    async def ping(self) -> None:
        await self.redis.ping()


def _pairs(found: list[bytes]) -> list[tuple[str, bytes]]:
    """(storage key, data) pairs from a script's flat [member, data, member, data, ...]."""
    return [(found[i].decode(), found[i + 1]) for i in range(0, len(found), 2)]


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
