"""The database: engines for the app (async) and for migrations (sync), and SQLite's pragmas."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base import serverpool
from portal.base.resources import migrations_dir
from portal.base.threads import Workers

T = TypeVar("T")


def _with_sqlite_driver(url: str, driver: str) -> str:
    # psycopg 3 serves both sides under one name; SQLite needs aiosqlite for asyncio.
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername=driver)
    elif parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The same database through an asyncio driver (aiosqlite for SQLite, psycopg 3 as is)."""
    return _with_sqlite_driver(url, "sqlite+aiosqlite")


def sync_url(url: str) -> str:
    """The same database through a blocking driver, for alembic."""
    return _with_sqlite_driver(url, "sqlite")


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def configure(engine: Engine) -> Engine:
    """Turn on WAL and foreign keys on every SQLite connection the engine opens."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# A server database's connections per process. All of them stay open: above the pool, a unit
# waits its turn instead of opening a connection of its own, which SQLAlchemy's default overflow
# did and closed again right after, costing a connection set-up under every burst. Units are
# short, so ten serve a whole event loop (bench/README.md); with the lookups' pool below,
# `--workers N` holds up to N x 15 of PostgreSQL's connections (100 by default).
POOL_SIZE = 10
POOL_WAIT = 10.0  # seconds a unit waits for a connection before the request gets the 503 page


def make_engine(url: str) -> AsyncEngine:
    """The app's engine; PostgreSQL connections are checked before use so a restart heals."""
    _ensure_sqlite_dir(url)
    # hide_parameters: an error message must never carry a mail body or a hash into a log.
    sqlite = make_url(url).get_backend_name() == "sqlite"
    pool = {} if sqlite else {"pool_size": POOL_SIZE, "max_overflow": 0, "pool_timeout": POOL_WAIT}
    engine = create_async_engine(async_url(url), hide_parameters=True, **pool)
    configure(engine.sync_engine)
    if not sqlite:  # a SQLite file does not restart under us
        event.listen(engine.sync_engine, "checkout", _closed_by_the_server)
    return engine


def _closed_by_the_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Before a pooled connection is used: has the server closed it (a restart, an
    administrator ending it)? Then the pool opens a new one instead. The kernel tells
    (`serverpool.hung_up`); SQLAlchemy's pre-ping asks the server instead, a round trip and
    several thread or task switches for every unit of work."""
    if serverpool.hung_up(getattr(dbapi_connection, "driver_connection", dbapi_connection)):
        raise DisconnectionError


# aiosqlite runs each cursor call in its own thread and waits for it: a small query costs
# about eight thread hops, and a pool checkout more. On SQLite, `run` does a whole unit of work
# in one hop instead, on threads that each hold their own blocking connection: a few readers,
# and one writer, so that writes queue here in order instead of sleeping in SQLite's busy
# handler (a writer that finds the lock taken retries after 1, 2, 5... ms).
# Elsewhere (PostgreSQL, truly async) it runs on a connection of the async engine.
READER_THREADS = 3


class _SQLiteWorkers:
    def __init__(self, url: URL) -> None:
        self.engine = configure(create_engine(url, hide_parameters=True))
        self.readers = Workers(READER_THREADS, "sqlite-read")
        self.writer = Workers(1, "sqlite-write")
        self.local = threading.local()
        self.path = url.database or ""
        self.connections: list[Connection] = []
        self.raw_connections: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

    def call(self, work: Callable[[Connection], T], write: bool) -> T:
        connection: Connection | None = getattr(self.local, "connection", None)
        if connection is None or connection.closed:
            connection = self.local.connection = self.engine.connect()
            with self.lock:
                self.connections.append(connection)
        with connection.begin() as transaction:
            result = work(connection)
            if not write:
                transaction.rollback()  # nothing to keep; ends the read snapshot
        return result

    def call_at_once(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on this thread's own driver connection, which never waits for a lock, not even
        while it opens: SQLITE_BUSY at once (sqlite3.OperationalError) where another connection
        holds one. Reads need none of the pragmas the other connections set (the file is in WAL
        mode for good once any of them opened it)."""
        raw: sqlite3.Connection | None = getattr(self.local, "at_once", None)
        if raw is None:
            # Closed by `close`, from another thread, once nothing uses it any more.
            raw = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            self.local.at_once = raw
            with self.lock:
                self.raw_connections.append(raw)
        return work(raw)

    def call_waiting(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on this (reader) thread's driver connection, waiting for a lock as long as
        any unit does."""
        return self.call(lambda conn: work(driver(conn)), write=False)

    def submit(self, work: Callable[[Connection], T], write: bool) -> asyncio.Future[T]:
        workers = self.writer if write else self.readers
        return workers.submit(functools.partial(self.call, work, write))

    def close(self) -> None:
        self.readers.close()
        self.writer.close()
        with self.lock:
            connections, self.connections = self.connections, []
            raw_connections, self.raw_connections = self.raw_connections, []
        for connection in connections:
            connection.close()
        for raw in raw_connections:
            raw.close()
        self.engine.dispose()


_WORKERS: weakref.WeakKeyDictionary[AsyncEngine, _SQLiteWorkers] = weakref.WeakKeyDictionary()


def sqlite_workers(engine: AsyncEngine) -> _SQLiteWorkers | None:
    """The threads and connections that serve a SQLite engine; None for a server database."""
    if engine.dialect.name != "sqlite":
        return None
    workers = _WORKERS.get(engine)
    if workers is None:
        workers = _WORKERS[engine] = _SQLiteWorkers(engine.url.set(drivername="sqlite"))
    return workers


def local_reader(engine: AsyncEngine) -> Callable[[Callable[[Connection], T]], T] | None:
    """For SQLite: run a read unit in the calling thread (a worker thread of our own, never the
    event loop), on a connection of that thread's. None for a server database."""
    workers = sqlite_workers(engine)
    if workers is None:
        return None
    return functools.partial(workers.call, write=False)


async def run(engine: AsyncEngine, work: Callable[[Connection], T], *, write: bool = False) -> T:
    """`work(connection)` as one transaction (committed when `write`), off the event loop."""
    workers = sqlite_workers(engine)
    if workers is not None:
        return await workers.submit(work, write)
    if write:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    # A read unit is one statement: outside a transaction it needs no ROLLBACK round trip
    # when the connection goes back to the pool.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await conn.run_sync(work)


def driver(conn: Connection) -> sqlite3.Connection:
    """The SQLite driver's own connection under `conn` (a unit of `run`)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


# Lookups on a server database use a pool of their own (`serverpool`), in autocommit: a lookup
# is one statement, so it needs no BEGIN or ROLLBACK round trip. A connection the server closed
# is dropped at checkout, as in the app's pool; one that dies under its lookup fails it once:
# then the pool is emptied and the lookup runs again on a new connection.
LOOKUP_POOL_SIZE = 5
_LOOKUPS: weakref.WeakKeyDictionary[AsyncEngine, serverpool.ServerPool] = (
    weakref.WeakKeyDictionary()
)


def lookup_pool(engine: AsyncEngine) -> serverpool.ServerPool:
    """The pool lookups use beside `engine`'s (a server database), made on first use and
    closed with it; its connections are made as the engine's are, from the same URL."""
    found = _LOOKUPS.get(engine)
    if found is None:
        args, params = engine.dialect.create_connect_args(engine.url)

        async def connect() -> psycopg.AsyncConnection[Any]:
            return await psycopg.AsyncConnection.connect(*args, **params, autocommit=True)

        found = _LOOKUPS[engine] = serverpool.ServerPool(connect, LOOKUP_POOL_SIZE, POOL_WAIT)
    return found


async def dispose(engine: AsyncEngine) -> None:
    """Close the engine's connections, and its SQLite workers'."""
    workers = _WORKERS.pop(engine, None)
    if workers is not None:
        await asyncio.to_thread(workers.close)
    lookups = _LOOKUPS.pop(engine, None)
    if lookups is not None:
        lookups.clear()
    await engine.dispose()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply alembic migrations up to `revision` (idempotent)."""
    from alembic import command
    from alembic.config import Config

    _ensure_sqlite_dir(url)
    config = Config()  # no alembic.ini: the scripts ship inside the package
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = sync_url(url)
    command.upgrade(config, revision)
