"""Server-side sessions: the stores and the sliding-expiry middleware.

Built on starsessions' store interface, closing the traps of its 2.2.1 middleware:
- an id is only ever issued by the server; a cookie naming an unknown id starts a new session;
- `rotate()` deletes the old entry in the same step that stores the new one, before the answer
  leaves, so an id in use before sign-in is dead after it; for a minute the store remembers
  that it was replaced, so that late answers about it do not delete the browser's new cookie;
- writes to an existing session only update a live entry, so a request that loaded the session
  before sign-out cannot bring it back (no last-writer-wins resurrection);
- every entry expires in the store itself (database column or Redis TTL);
- sliding costs at most one write per session per refresh interval (about a minute), even when
  many requests of one session arrive at once: a slide only lands when nobody slid meanwhile,
  decided in the store itself; requests marked passive (the page's own expiry check) never slide.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starsessions.stores.base import SessionStore
from starsessions.stores.redis import RedisStore as StarsessionsRedisStore

from portal import csrf, db
from portal.models import WebSession

Clock = Callable[[], float]
SESSIONS: Table = WebSession.__table__  # type: ignore[attr-defined]
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
SEEN = "_seen"  # when the expiry was last slid; the entry lives until SEEN + idle
REPLACED_SECONDS = 60.0  # an id replaced by a new one is known as such: longer than requests take


class Alongside(Protocol):
    """Database work committed with a request's session write, and told once it is stored."""

    def store(self, conn: Connection) -> None: ...

    def stored(self) -> None: ...


def _store_all(conn: Connection, items: Sequence[Alongside]) -> None:
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


class PortalStore(SessionStore):
    """starsessions' store interface, keyed by a keyed hash of the id, with update-only writes.

    `write` updates a live entry and returns "" when it is gone; `create` is the only way in.
    """

    in_database = False  # whether `create` can commit `alongside` work in its own transaction

    def __init__(self, secret_key: str, clock: Clock = time.time) -> None:
        self._key = hashlib.sha256(b"portal-session:" + secret_key.encode()).digest()
        self._replaced_key = hashlib.sha256(b"portal-replaced:" + secret_key.encode()).digest()
        self.clock = clock
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

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: float) -> str:
        """Update a live session; "" when it is gone (never re-creates it)."""
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

    def __init__(self, engine: AsyncEngine, secret_key: str, clock: Clock = time.time) -> None:
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
            _store_all(conn, alongside)
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

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: float) -> str:
        now = self.clock()
        params = {"key": self.storage_key(session_id), "now": now, "data": data, "until": now + ttl}
        done = await db.run(
            self.engine, lambda conn: conn.execute(_WRITE, params).rowcount > 0, write=True
        )
        if done:
            self.writes += 1
        return session_id if done else ""

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
        self, redis: Redis, secret_key: str, prefix: str = "portal:", clock: Clock = time.time
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

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: float) -> str:
        # XX: only while the key still exists, so a removed session stays removed.
        done = await self.redis.set(self._inner.prefix(session_id), data, px=_ms(ttl), xx=True)
        if done:
            self.writes += 1
        return session_id if done else ""

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


@dataclass
class SessionState:
    """One request's view of its session, kept in the ASGI scope beside `scope["session"]`."""

    id: str | None = None
    replacing: str | None = None  # rotated away: deleted when the new id is stored
    loaded: bytes = b""
    cookie: str | None = None  # the session cookie the browser sent, if any
    passive: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    alongside: list[Alongside] = field(default_factory=list)


def _state(connection: HTTPConnection) -> SessionState:
    state: SessionState = connection.scope["portal.session"]
    return state


def _store(connection: HTTPConnection) -> PortalStore:
    store: PortalStore = connection.scope["state"]["services"].store
    return store


async def _remove(state: SessionState, store: PortalStore) -> None:
    """Delete the session's entry, and one it was rotated away from, from the store now."""
    for session_id in (state.id, state.replacing):
        if session_id is not None:
            await store.remove(session_id)
    state.id = state.replacing = None


async def rotate(request: Request) -> None:
    """Give the session a new id: the old one is deleted, in the same store step that saves the
    new one, before the answer leaves; it can never be used again."""
    state = _state(request)
    if state.id is not None:
        state.replacing, state.id = state.id, None


async def end(request: Request) -> None:
    """Delete the session on the server now and clear it; the response expires the cookie."""
    await _remove(_state(request), _store(request))
    request.session.clear()


def mark_passive(request: Request) -> None:
    """This request is not user interaction: it must not slide the idle timer."""
    _state(request).passive = True


def store_alongside(request: Request, item: Alongside) -> None:
    """Commit `item` when this request's session is saved, before the answer leaves: in the same
    transaction as a new session's row when sessions live in the database, on its own otherwise."""
    _state(request).alongside.append(item)


def remaining_seconds(request: Request, idle_seconds: int, clock: Clock = time.time) -> float:
    """Seconds until the session expires for lack of interaction (0 when there is none)."""
    seen = request.session.get(SEEN)
    if seen is None:
        return 0.0
    return max(0.0, float(seen) + idle_seconds - clock())


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


class SessionMiddleware:
    """Loads the session before the app and saves it, only when needed, at response start."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cookie_name: str = "portal_session",
        idle_seconds: int = 14400,
        refresh_seconds: float = 60.0,
        https_only: bool = False,
        skip_prefixes: tuple[str, ...] = ("/static/", "/healthz"),
        clock: Clock = time.time,
    ) -> None:
        self.app = app
        self.cookie_name = cookie_name
        self.idle = idle_seconds
        self.refresh = refresh_seconds
        self.flags = "HttpOnly; SameSite=Lax" + ("; Secure" if https_only else "")
        self.skip_prefixes = skip_prefixes
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        store = _store(connection)
        state = await self._load(connection, store)
        scope["portal.session"] = state
        scope["session"] = state.data

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await self._save_with_alongside(state, store, connection)
                for value in (cookie, csrf.set_cookie_header(connection)):
                    if value is not None:
                        MutableHeaders(scope=message).append("Set-Cookie", value)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _load(self, connection: HTTPConnection, store: PortalStore) -> SessionState:
        state = SessionState()
        raw = state.cookie = connection.cookies.get(self.cookie_name)
        if raw is None or not _ID_PATTERN.fullmatch(raw):
            return state
        blob = await store.read(raw, self.idle)
        if not blob:
            return state  # unknown or expired: never adopt an id the store does not hold
        try:
            data = json.loads(blob)
        except ValueError:
            data = None
        if not isinstance(data, dict) or float(data.get(SEEN, 0)) + self.idle <= self.clock():
            await store.remove(raw)
            return state
        state.id, state.loaded, state.data = raw, blob, data
        return state

    async def _save_with_alongside(
        self, state: SessionState, store: PortalStore, connection: HTTPConnection
    ) -> str | None:
        """`_save`, and the request's alongside work: in a new session's transaction when the
        store can, else beside the save; the answer goes only once both landed."""
        items, state.alongside = state.alongside, []
        created = state.id is None and bool(state.data)
        together = items if created and store.in_database else []
        apart = [] if together else items
        if apart:
            engine = connection.scope["state"]["services"].engine
            cookie, _ = await asyncio.gather(
                self._save(state, store, together),
                db.run(engine, lambda conn: _store_all(conn, apart), write=True),
            )
        else:
            cookie = await self._save(state, store, together)
        for item in items:
            item.stored()
        return cookie

    async def _save(
        self, state: SessionState, store: PortalStore, alongside: Sequence[Alongside] = ()
    ) -> str | None:
        """Persist what changed; return the Set-Cookie value to send, if any."""
        data = state.data
        if not data:
            await _remove(state, store)
            return await self._cleared(state, store)
        now = self.clock()
        if state.id is None:
            data[SEEN] = now
            session_id = await store.create(
                _dump(data), self.idle, replacing=state.replacing, alongside=alongside
            )
            return self._cookie(session_id, self.idle)
        slide = not state.passive and now - float(data.get(SEEN, 0)) >= self.refresh
        blob = _dump(data)
        changed = blob != state.loaded  # the request itself changed the data
        if slide:
            data[SEEN] = now
            blob = _dump(data)
        elif not changed:
            return None
        if slide and not changed:
            # Only the expiry moves: let the store decide, so that requests arriving together
            # slide once between them.
            done = await store.slide(state.id, blob, now, self.idle, self.refresh)
            if done is Slide.GONE:
                return await self._cleared(state, store)  # ended meanwhile: stay ended
            return self._cookie(state.id, self.idle) if done is Slide.SLID else None
        ttl = float(data[SEEN]) + self.idle - now
        if not await store.write(state.id, blob, self.idle, ttl):
            return await self._cleared(state, store)  # ended meanwhile: stay ended
        return self._cookie(state.id, self.idle) if slide else None

    async def _cleared(self, state: SessionState, store: PortalStore) -> str | None:
        """The Set-Cookie that deletes the browser's session cookie, if it sent one; not for an
        id replaced moments ago (sign-in, password change): a late answer about it would delete
        the new cookie the browser holds by now. The old id is dead all the same."""
        if state.cookie is None:
            return None
        if _ID_PATTERN.fullmatch(state.cookie) and await store.replaced(state.cookie):
            return None
        return self._cookie("", 0)

    def _cookie(self, value: str, max_age: int) -> str:
        return f"{self.cookie_name}={value}; Path=/; Max-Age={max_age}; {self.flags}"


FLASH = "_flash"


def flash(request: Request, message: str) -> None:
    """A message for the next page this browser shows (after a redirect)."""
    request.session[FLASH] = message


def take_flash(request: Request) -> str | None:
    """The pending message, once."""
    message = request.session.pop(FLASH, None)
    return message if isinstance(message, str) else None
