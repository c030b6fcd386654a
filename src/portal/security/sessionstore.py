"""Server-side session stores: in the database or in Redis, keyed by a keyed hash of the id.

Shaped after starsessions' store interface (its Redis store does the reads), closing the traps
of its 2.2.1 stores:
- `create` is the only way in, under a fresh server-issued id; it deletes the id being replaced
  in the same step, so an id in use before sign-in is dead after it; for a minute the store
  remembers that it was replaced, so that late answers about it do not delete the browser's new
  cookie;
- `write` only updates a live entry, so a request that loaded the session before sign-out cannot
  bring it back (no last-writer-wins resurrection);
- every entry expires in the store itself (database column or Redis TTL);
- `slide` lands only when nobody slid meanwhile, decided in the store itself, so sliding costs
  at most one write per session per refresh interval even when requests arrive together.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starsessions.stores.redis import RedisStore as StarsessionsRedisStore

from portal.base import db
from portal.base.clock import Clock
from portal.base.models import WebSession

SESSIONS: Table = WebSession.__table__  # type: ignore[attr-defined]
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # the shape of every id the server issues
SEEN = "_seen"  # when the expiry was last slid; the entry lives until SEEN + idle
REPLACED_SECONDS = 60.0  # an id replaced by a new one is known as such: longer than requests take


class Alongside(Protocol):
    """Database work committed with a request's session write, and told once it is stored."""

    def store(self, conn: Connection) -> None: ...

    def stored(self) -> None: ...


def store_all(conn: Connection, items: Sequence[Alongside]) -> None:
    for item in items:
        item.store(conn)


class Slide(Enum):
    """What a conditional slide did."""

    SLID = "slid"  # written: the expiry moved
    FRESH = "fresh"  # another request slid it within the refresh interval: nothing written
    GONE = "gone"  # the session ended meanwhile: nothing written


def new_session_id() -> str:
    """256 random bits, URL-safe: the only kind of id the server accepts back."""
    return secrets.token_urlsafe(32)


class PortalStore:
    """A session store, keyed by a keyed hash of the id, with update-only writes.

    `create` is the only way in; `write` updates a live entry and says False when it is gone.
    """

    in_database = False  # whether `create` can commit `alongside` work in its own transaction

    def __init__(self, secret_key: str, clock: Clock | None = None) -> None:
        self._key = hashlib.sha256(b"portal-session:" + secret_key.encode()).digest()
        self._replaced_key = hashlib.sha256(b"portal-replaced:" + secret_key.encode()).digest()
        self.clock = clock or Clock()
        self.writes = 0  # store writes since start, for tests and benchmarks

    def storage_key(self, session_id: str) -> str:
        """A database or Redis leak yields no usable cookie values."""
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()

    def replaced_key(self, session_id: str) -> str:
        """Where the store notes that `session_id` was replaced: never a session's key."""
        return hmac.new(self._replaced_key, session_id.encode(), hashlib.sha256).hexdigest()

    async def create(
        self,
        data: bytes,
        ttl: float,
        replacing: str | None = None,
        alongside: Sequence[Alongside] = (),
    ) -> str:
        """Store a new session under a fresh server-issued id and return that id.

        `replacing` (an id being rotated away) is deleted in the same step, and noted as
        replaced for REPLACED_SECONDS; `alongside` work is committed in the same transaction,
        which only a store `in_database` can do.
        """
        raise NotImplementedError

    async def replaced(self, session_id: str) -> bool:
        """Whether `session_id` was replaced by a new id within the last REPLACED_SECONDS."""
        raise NotImplementedError

    async def read(self, session_id: str, lifetime: int) -> bytes:
        """The session's data; b"" when it is unknown, expired or gone."""
        raise NotImplementedError

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: float) -> bool:
        """Update a live session; False when it is gone (never re-creates it)."""
        raise NotImplementedError

    async def remove(self, session_id: str) -> None:
        """Delete the session now."""
        raise NotImplementedError

    async def slide(
        self, session_id: str, data: bytes, seen: float, ttl: float, gap: float
    ) -> Slide:
        """Write `data` (whose SEEN is `seen`) unless the stored SEEN is within `gap` of it.

        Requests of one session that arrive together all see an old SEEN; the store lets the
        first one slide and tells the others it is FRESH, so sliding stays one write a minute.
        """
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise when the storage does not answer."""
        raise NotImplementedError


# Built once: every request reads its session, and building a statement costs more than running it.
_LIVE = (SESSIONS.c.id == bindparam("key")) & (SESSIONS.c.expires_at > bindparam("now"))
_READ = select(SESSIONS.c.data).where(_LIVE)
_FOUND = select(SESSIONS.c.id).where(_LIVE)
_INSERT = insert(SESSIONS)
_REMOVE = delete(SESSIONS).where(SESSIONS.c.id == bindparam("key"))
_REPLACED = insert(SESSIONS).values(id=bindparam("mark"), data=b"", expires_at=bindparam("until"))
_WRITE = update(SESSIONS).where(_LIVE).values(data=bindparam("data"), expires_at=bindparam("until"))
# A slide lands only when the stored expiry is older than the refresh interval allows.
_SLIDE_UPDATE = _WRITE.where(SESSIONS.c.expires_at <= bindparam("stale"))


class DatabaseStore(PortalStore):
    """Sessions in the `web_session` table (the embedded default); replaced ids noted there too."""

    in_database = True

    def __init__(self, engine: AsyncEngine, secret_key: str, clock: Clock | None = None) -> None:
        super().__init__(secret_key, clock)
        self.engine = engine

    async def create(
        self,
        data: bytes,
        ttl: float,
        replacing: str | None = None,
        alongside: Sequence[Alongside] = (),
    ) -> str:
        session_id, now = new_session_id(), self.clock()
        row = {"id": self.storage_key(session_id), "data": data, "expires_at": now + ttl}

        def work(conn: Connection) -> None:
            store_all(conn, alongside)
            if replacing is not None:
                self._retire(conn, replacing, now)
            conn.execute(_INSERT, row)

        await db.run(self.engine, work, write=True)
        self.writes += 1
        return session_id

    def _retire(self, conn: Connection, session_id: str, now: float) -> None:
        """Delete the entry and note the id as replaced, once: by whoever deleted the entry."""
        if conn.execute(_REMOVE, {"key": self.storage_key(session_id)}).rowcount:
            until = now + REPLACED_SECONDS
            conn.execute(_REPLACED, {"mark": self.replaced_key(session_id), "until": until})

    async def read(self, session_id: str, lifetime: int) -> bytes:
        params = {"key": self.storage_key(session_id), "now": self.clock()}
        value = await db.run(self.engine, lambda conn: conn.scalar(_READ, params))
        return bytes(value) if value is not None else b""

    async def replaced(self, session_id: str) -> bool:
        params = {"key": self.replaced_key(session_id), "now": self.clock()}
        return await db.run(self.engine, lambda conn: conn.scalar(_FOUND, params)) is not None

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: float) -> bool:
        now = self.clock()
        params = {"key": self.storage_key(session_id), "now": now, "data": data, "until": now + ttl}
        done = await db.run(
            self.engine, lambda conn: conn.execute(_WRITE, params).rowcount > 0, write=True
        )
        if done:
            self.writes += 1
        return bool(done)

    async def slide(
        self, session_id: str, data: bytes, seen: float, ttl: float, gap: float
    ) -> Slide:
        now, key = self.clock(), self.storage_key(session_id)
        # expires_at is the stored SEEN + idle, and SEEN + idle is now + ttl here.
        until = now + ttl
        params = {"key": key, "now": now, "data": data, "until": until, "stale": until - gap}

        def work(conn: Connection) -> Slide:
            if conn.execute(_SLIDE_UPDATE, params).rowcount:
                return Slide.SLID
            found = conn.scalar(_FOUND, params)
            return Slide.FRESH if found is not None else Slide.GONE

        outcome = await db.run(self.engine, work, write=True)
        if outcome is Slide.SLID:
            self.writes += 1
        return outcome

    async def remove(self, session_id: str) -> None:
        params = {"key": self.storage_key(session_id)}
        await db.run(self.engine, lambda conn: conn.execute(_REMOVE, params), write=True)

    async def purge_expired(self) -> int:
        """Delete expired rows; Redis does this by itself."""
        statement = delete(SESSIONS).where(SESSIONS.c.expires_at <= self.clock())
        return await db.run(self.engine, lambda conn: conn.execute(statement).rowcount, write=True)

    async def ping(self) -> None:
        await db.run(self.engine, lambda conn: conn.scalar(select(1)))


# KEYS[1] the session; ARGV: data, its SEEN, ttl in ms, gap, the SEEN field's name. Compares
# SEEN as stored in the data (the app's clock) and writes only over a live key, in one atomic step.
_SLIDE = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local ok, data = pcall(cjson.decode, stored)
local seen = ok and type(data) == 'table' and tonumber(data[ARGV[5]]) or 0
if seen > tonumber(ARGV[2]) - tonumber(ARGV[4]) then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3], 'XX')
return 1
"""


class RedisStore(PortalStore):
    """Sessions in Redis, through starsessions' RedisStore for reads and removals."""

    def __init__(
        self,
        redis: Redis,
        secret_key: str,
        prefix: str = "portal:",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(secret_key, clock)
        self.redis = redis
        self._inner = StarsessionsRedisStore(
            connection=redis, prefix=lambda sid: f"{prefix}session:{self.storage_key(sid)}"
        )
        self._replaced_prefix = f"{prefix}replaced:"
        self._slide = redis.register_script(_SLIDE)

    async def create(
        self,
        data: bytes,
        ttl: float,
        replacing: str | None = None,
        alongside: Sequence[Alongside] = (),
    ) -> str:
        if alongside:
            raise ValueError("Redis shares no transaction with the database: commit it apart")
        session_id = new_session_id()
        async with self.redis.pipeline(transaction=True) as pipe:
            if replacing is not None:
                pipe.delete(self._inner.prefix(replacing))
                # Until when, by the app's clock (which tests move), as the key's TTL says.
                until = repr(self.clock() + REPLACED_SECONDS)
                mark = self._replaced_prefix + self.replaced_key(replacing)
                pipe.set(mark, until, px=_ms(REPLACED_SECONDS))
            pipe.set(self._inner.prefix(session_id), data, px=_ms(ttl), nx=True)
            await pipe.execute()
        self.writes += 1
        return session_id

    async def read(self, session_id: str, lifetime: int) -> bytes:
        return await self._inner.read(session_id, lifetime)

    async def replaced(self, session_id: str) -> bool:
        until = await self.redis.get(self._replaced_prefix + self.replaced_key(session_id))
        return until is not None and float(until) > self.clock()

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: float) -> bool:
        # XX: only while the key still exists, so a removed session stays removed.
        done = await self.redis.set(self._inner.prefix(session_id), data, px=_ms(ttl), xx=True)
        if done:
            self.writes += 1
        return bool(done)

    async def slide(
        self, session_id: str, data: bytes, seen: float, ttl: float, gap: float
    ) -> Slide:
        key = self._inner.prefix(session_id)
        outcome = await self._slide(keys=[key], args=[data, repr(seen), _ms(ttl), repr(gap), SEEN])
        if outcome == 1:
            self.writes += 1
            return Slide.SLID
        return Slide.FRESH if outcome == 2 else Slide.GONE

    async def remove(self, session_id: str) -> None:
        await self._inner.remove(session_id)

    async def ping(self) -> None:
        await self.redis.ping()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
