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

Each signed-in session is indexed by its owner (the extension) with every write, so that
`end_owned` deletes exactly one extension's sessions at once (a password change, a reset, a
disabled extension, signing out everywhere) and `owned` lists them, without a scan. A new
session is stored only while the credential stamp its sign-in checked is still the owner's, so
a sign-in whose password check straddled a change cannot outlive it (`StaleCredentials`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Delete, Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.base import db, lookups
from portal.base.clock import Clock
from portal.base.models import Extension, WebSession, credential_stamp
from portal.security.alongside import Alongside, store_all

SESSIONS: Table = WebSession.__table__  # type: ignore[attr-defined]
_COLUMNS = ("id", "data", "expires_at", "extension_id")  # what `create` writes
_EXTENSIONS: Table = Extension.__table__  # type: ignore[attr-defined]
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # the shape of every id the server issues
SEEN = "_seen"  # when the expiry was last slid; the entry lives until SEEN + idle
REPLACED_SECONDS = 60.0  # an id replaced by a new one is known as such: longer than requests take
# How long a list kept for its owner (`fill_cached`) lasts: every change drops it at once, so this
# only bounds a change whose drop was lost (Redis down), as the name kept in a session is.
CACHED_SECONDS = 60.0


@dataclass(frozen=True)
class OwnerRead:
    """What a page about its owner reads with its session (`read_with_owned`): the owner's
    sessions as `owned` lists them, and the lists `fill_cached` kept for the owner, with the
    version `fill_cached` must be given to add another."""

    owner: int
    sessions: list[tuple[str, bytes]]
    cached: dict[str, bytes]
    version: str


# A session's data, and what a page about its owner reads with it (None: nothing more).
Listed = tuple[bytes, OwnerRead | None]


class Slide(Enum):
    """What a conditional slide did."""

    SLID = "slid"  # written: the expiry moved
    FRESH = "fresh"  # another request slid it within the refresh interval: nothing written
    GONE = "gone"  # the session ended meanwhile: nothing written


@dataclass(frozen=True)
class Owner:
    """Who signs in: the extension, and the credential stamp its password check saw."""

    id: int
    stamp: str


class StaleCredentials(Exception):
    """The owner's password changed, or it was disabled or deleted, since its sign-in checked
    it: the session was not stored."""


DISABLED = "disabled"  # as `end_owned`'s stamp: no sign-in may store a session now


def new_session_id() -> str:
    """256 random bits, URL-safe: the only kind of id the server accepts back."""
    return secrets.token_urlsafe(32)


class PortalStore:
    """A session store, keyed by a keyed hash of the id, with update-only writes.

    `create` is the only way in; `write` updates a live entry and says False when it is gone.
    """

    in_database = False  # whether `create` can commit `alongside` work in its own transaction
    keeps_lists = False  # whether `fill_cached` keeps anything

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
        owner: Owner | None = None,
    ) -> str:
        """Store a new session under a fresh server-issued id and return that id.

        `replacing` (an id being rotated away) is deleted in the same step, and noted as
        replaced for REPLACED_SECONDS; `alongside` work is committed in the same transaction,
        which only a store `in_database` can do. With an `owner`, the session is indexed under
        it, and stored only while `owner.stamp` is still the owner's: else StaleCredentials
        (the alongside work is committed all the same).
        """
        raise NotImplementedError

    async def read_with_owned(self, session_id: str, lifetime: int, owner_field: str) -> Listed:
        """`read`, and, when the data's `owner_field` names an owner, an `OwnerRead` of it in
        the same step, where the store can do both at the cost of one (Redis: one round trip).
        None in its place: call `owned` if the list is wanted."""
        return await self.read(session_id, lifetime), None

    async def fill_cached(self, owner: int, name: str, value: bytes, version: str) -> None:
        """Keep `value` as the owner's list `name` for CACHED_SECONDS, unless the owner's lists
        changed (`drop_cached`) since `version` was read: a read racing a change never keeps
        the list from before it. A store that reads its lists at once keeps nothing."""

    async def drop_cached(self, owner: int) -> None:
        """The owner's lists changed (committed): forget those kept."""

    async def replaced(self, session_id: str) -> bool:
        """Whether `session_id` was replaced by a new id within the last REPLACED_SECONDS."""
        raise NotImplementedError

    async def read(self, session_id: str, lifetime: int) -> bytes:
        """The session's data; b"" when it is unknown, expired or gone."""
        raise NotImplementedError

    async def write(
        self, session_id: str, data: bytes, lifetime: int, ttl: float, owner: int | None = None
    ) -> bool:
        """Update a live session; False when it is gone (never re-creates it, nor its index)."""
        raise NotImplementedError

    async def remove(self, session_id: str) -> None:
        """Delete the session now."""
        raise NotImplementedError

    async def slide(
        self,
        session_id: str,
        data: bytes,
        seen: float,
        ttl: float,
        gap: float,
        owner: int | None = None,
    ) -> Slide:
        """Write `data` (whose SEEN is `seen`) unless the stored SEEN is within `gap` of it.

        Requests of one session that arrive together all see an old SEEN; the store lets the
        first one slide and tells the others it is FRESH, so sliding stays one write a minute.
        """
        raise NotImplementedError

    async def end_owned(
        self, owner: int, *, keep: str | None = None, stamp: str | None = None
    ) -> int:
        """Delete every session of `owner` but `keep` (a session id) now; how many went.

        `stamp`, when given, is the owner's credential stamp from now on (DISABLED: none): a
        sign-in that checked another cannot store its session afterwards. The database store
        reads the extension's row for that instead.
        """
        raise NotImplementedError

    def end_owned_statement(self, owner: int, keep: str | None = None) -> Delete | None:
        """`end_owned` as a statement to run in the caller's transaction (database store)."""
        return None

    async def owned(self, owner: int) -> list[tuple[str, bytes]]:
        """`owner`'s live sessions as (handle, data): the handle is the storage key, never
        usable as a cookie. Costs the owner's index, never a scan of all sessions."""
        raise NotImplementedError

    async def end_one(self, owner: int, key: str) -> bool:
        """Delete the session stored under `key` (a storage key from `owned`) now, only if it
        is `owner`'s; whether one went."""
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise when the storage does not answer."""
        raise NotImplementedError


# Built once: every request reads its session, and building a statement costs more than running it.
_UNEXPIRED = SESSIONS.c.expires_at > bindparam("now")
_LIVE = (SESSIONS.c.id == bindparam("key")) & _UNEXPIRED
_READ = select(SESSIONS.c.data).where(_LIVE)
_FOUND = select(SESSIONS.c.id).where(_LIVE)
_INSERT = lookups.Write(insert(SESSIONS).values({name: bindparam(name) for name in _COLUMNS}))
_REMOVE = lookups.Write(delete(SESSIONS).where(SESSIONS.c.id == bindparam("key")))
_REPLACED = lookups.Write(
    insert(SESSIONS).values(id=bindparam("mark"), data=b"", expires_at=bindparam("until"))
)
_WRITE = update(SESSIONS).where(_LIVE).values(data=bindparam("data"), expires_at=bindparam("until"))
_OWNED = select(SESSIONS.c.id, SESSIONS.c.data).where(
    (SESSIONS.c.extension_id == bindparam("owner")) & _UNEXPIRED
)
_READ_NOW, _FOUND_NOW = lookups.Lookup(_READ), lookups.Lookup(_FOUND)
_OWNED_NOW = lookups.Lookup(_OWNED)
# A session with its owner's live sessions (itself among them), by the owner's index.
_OWNER_OF = select(SESSIONS.c.extension_id).where(_LIVE).scalar_subquery()
_WITH_OWNED = lookups.Lookup(
    select(SESSIONS.c.id, SESSIONS.c.data, SESSIONS.c.extension_id).where(
        (SESSIONS.c.extension_id == _OWNER_OF) & _UNEXPIRED
    )
)
# Read after the new row is inserted, in its transaction: a password change or a disabling
# that commits later waits for it (row lock, or SQLite's single writer) and deletes the row.
_CREDENTIALS = lookups.Lookup(
    select(_EXTENSIONS.c.password_changed_at, _EXTENSIONS.c.disabled)
    .where(_EXTENSIONS.c.id == bindparam("owner"))
    .with_for_update(read=True)
)
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
        owner: Owner | None = None,
    ) -> str:
        session_id, now = new_session_id(), self.clock()
        key = self.storage_key(session_id)
        row = {
            "id": key,
            "data": data,
            "expires_at": now + ttl,
            "extension_id": owner.id if owner else None,
        }

        def work(conn: Connection) -> bool:
            store_all(conn, alongside)
            if replacing is not None:
                self._retire(conn, replacing, now)
            lookups.count_in(conn, _INSERT, row)
            if owner is None:
                return True
            found: Any = next(iter(lookups.rows_in(conn, _CREDENTIALS, {"owner": owner.id})), None)
            live = found is not None and not found.disabled
            if live and credential_stamp(owner.id, found.password_changed_at) == owner.stamp:
                return True
            lookups.count_in(conn, _REMOVE, {"key": key})  # the alongside work still counts
            return False

        if not await db.run(self.engine, work, write=True):
            raise StaleCredentials
        self.writes += 1
        return session_id

    def _retire(self, conn: Connection, session_id: str, now: float) -> None:
        """Delete the entry and note the id as replaced, once: by whoever deleted the entry."""
        if lookups.count_in(conn, _REMOVE, {"key": self.storage_key(session_id)}):
            until = now + REPLACED_SECONDS
            lookups.count_in(
                conn, _REPLACED, {"mark": self.replaced_key(session_id), "until": until}
            )

    async def read_with_owned(self, session_id: str, lifetime: int, owner_field: str) -> Listed:
        # One lookup for both: the owner's index holds the session itself. A session without
        # an owner (not signed in) lists nothing, and is read as it is.
        key = self.storage_key(session_id)
        rows = await lookups.read(self.engine, _WITH_OWNED, {"key": key, "now": self.clock()})
        owned = [(row.id, bytes(row.data)) for row in rows]
        mine = [data for found, data in owned if found == key]
        if not mine:
            return await self.read(session_id, lifetime), None
        return mine[0], OwnerRead(rows[0].extension_id, owned, {}, "")

    async def read(self, session_id: str, lifetime: int) -> bytes:
        params = {"key": self.storage_key(session_id), "now": self.clock()}
        rows = await lookups.read(self.engine, _READ_NOW, params)
        return bytes(rows[0].data) if rows else b""

    async def replaced(self, session_id: str) -> bool:
        params = {"key": self.replaced_key(session_id), "now": self.clock()}
        return bool(await lookups.read(self.engine, _FOUND_NOW, params))

    async def write(
        self, session_id: str, data: bytes, lifetime: int, ttl: float, owner: int | None = None
    ) -> bool:
        now = self.clock()
        params = {"key": self.storage_key(session_id), "now": now, "data": data, "until": now + ttl}
        done = await db.run(
            self.engine, lambda conn: conn.execute(_WRITE, params).rowcount > 0, write=True
        )
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
        await db.run(self.engine, lambda conn: lookups.count_in(conn, _REMOVE, params), write=True)

    def end_owned_statement(self, owner: int, keep: str | None = None) -> Delete:
        statement = delete(SESSIONS).where(SESSIONS.c.extension_id == owner)
        if keep is not None:
            statement = statement.where(SESSIONS.c.id != self.storage_key(keep))
        return statement

    async def end_owned(
        self, owner: int, *, keep: str | None = None, stamp: str | None = None
    ) -> int:
        statement = self.end_owned_statement(owner, keep)
        ended = await db.run(self.engine, lambda conn: conn.execute(statement).rowcount, write=True)
        return int(ended)

    async def owned(self, owner: int) -> list[tuple[str, bytes]]:
        params = {"owner": owner, "now": self.clock()}
        rows = await lookups.read(self.engine, _OWNED_NOW, params)
        return [(row.id, bytes(row.data)) for row in rows]

    async def end_one(self, owner: int, key: str) -> bool:
        statement = delete(SESSIONS).where(
            (SESSIONS.c.id == key) & (SESSIONS.c.extension_id == owner)
        )
        ended = await db.run(self.engine, lambda conn: conn.execute(statement).rowcount, write=True)
        return bool(ended)

    async def purge_expired(self) -> int:
        """Delete expired rows; Redis does this by itself."""
        statement = delete(SESSIONS).where(SESSIONS.c.expires_at <= self.clock())
        return await db.run(self.engine, lambda conn: conn.execute(statement).rowcount, write=True)

    async def ping(self) -> None:
        await db.run(self.engine, lambda conn: conn.scalar(select(1)))
