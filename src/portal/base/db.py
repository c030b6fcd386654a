"""The database: engines for the app (async) and for migrations (sync), and SQLite's pragmas."""

from __future__ import annotations

import asyncio
import collections
import functools
import select
import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Select, create_engine, event
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base.resources import migrations_dir
from portal.base.threads import Workers

T = TypeVar("T")
_SQLITE_DIALECT = SQLiteDialect_pysqlite()


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
    administrator ending it)? Then the pool opens a new one instead.

    An idle connection has nothing to read: when its socket is readable the server has hung up
    (or sent what nobody waits for), which the kernel tells without a round trip. SQLAlchemy's
    pre-ping asks the server instead, a round trip and several thread or task switches for
    every unit of work.
    """
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    try:
        socket = driver.pgconn.socket
    except (AttributeError, psycopg.Error) as error:  # closed or broken: no socket to ask
        raise DisconnectionError from error
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLPRI)
    if poller.poll(0):
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

    def lookup_at_once(self, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
        """`lookup` on this thread's own driver connection, which never waits for a lock, not
        even while it opens: SQLITE_BUSY at once (sqlite3.OperationalError) where another
        connection holds one. Reads need none of the pragmas the other connections set (the
        file is in WAL mode for good once any of them opened it)."""
        raw: sqlite3.Connection | None = getattr(self.local, "at_once", None)
        if raw is None:
            # Closed by `close`, from another thread, once nothing uses it any more.
            raw = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            self.local.at_once = raw
            with self.lock:
                self.raw_connections.append(raw)
        return lookup.on_sqlite(raw, params)

    def lookup_waiting(self, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
        """`lookup` on this (reader) thread's connection, waiting for a lock as long as any
        unit does."""
        return self.call(lambda conn: lookup.on_sqlite(_driver(conn), params), write=False)

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


def _sqlite_workers(engine: AsyncEngine) -> _SQLiteWorkers | None:
    if engine.dialect.name != "sqlite":
        return None
    workers = _WORKERS.get(engine)
    if workers is None:
        workers = _WORKERS[engine] = _SQLiteWorkers(engine.url.set(drivername="sqlite"))
    return workers


def local_reader(engine: AsyncEngine) -> Callable[[Callable[[Connection], T]], T] | None:
    """For SQLite: run a read unit in the calling thread (a worker thread of our own, never the
    event loop), on a connection of that thread's. None for a server database."""
    workers = _sqlite_workers(engine)
    if workers is None:
        return None
    return functools.partial(workers.call, write=False)


async def run(engine: AsyncEngine, work: Callable[[Connection], T], *, write: bool = False) -> T:
    """`work(connection)` as one transaction (committed when `write`), off the event loop."""
    workers = _sqlite_workers(engine)
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


def _driver(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def _busy(error: BaseException) -> bool:
    """Whether SQLite said it cannot answer now (SQLITE_BUSY or SQLITE_LOCKED), raised by the
    driver or, from a connection being opened, wrapped by SQLAlchemy."""
    if isinstance(error, DBAPIError):
        error = error.orig if error.orig is not None else error
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


_Prepared = tuple[str, list[str], list[Any], list[Any], dict[str, Any]]


class Lookup:
    """A short read (by key, or by an indexed column), prepared once for `read`.

    Its SQL runs on the driver's connection itself: SQLAlchemy's execution steps cost several
    times what such a lookup costs, and every signed-in request makes one or more. Values
    pass through the column types' own conversions both ways; rows come back as named tuples.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._columns = list(statement.selected_columns)
        names = [str(column.key) for column in self._columns]
        self.row: Any = collections.namedtuple("Row", names)  # type: ignore[misc]
        self._prepared: dict[str, _Prepared] = {}

    def _prepare(self, dialect: Dialect) -> _Prepared:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            compiled = self.statement.compile(dialect=dialect)
            names = list(compiled.positiontup or compiled.binds)
            # Literals in the statement are binds too, with their values given.
            fixed = {
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if not bind.required
            }
            binds = [
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            ]
            results = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self._columns
            ]
            prepared = (compiled.string, names, binds, results, fixed)
            self._prepared[dialect.name] = prepared
        return prepared

    def _values(self, prepared: _Prepared, params: dict[str, Any]) -> list[Any]:
        _, names, binds, _, fixed = prepared
        if fixed:
            params = {**fixed, **params}
        return [
            bind(params[name]) if bind else params[name]
            for name, bind in zip(names, binds, strict=True)
        ]

    def _rows(self, prepared: _Prepared, rows: list[Any]) -> list[Any]:
        results, make = prepared[3], self.row._make
        if not any(results):
            return [make(row) for row in rows]
        return [
            make(
                convert(value) if convert else value
                for convert, value in zip(results, row, strict=True)
            )
            for row in rows
        ]

    def on_sqlite(self, raw: sqlite3.Connection, params: dict[str, Any]) -> list[Any]:
        prepared = self._prepare(_SQLITE_DIALECT)
        return self._rows(
            prepared, raw.execute(prepared[0], self._values(prepared, params)).fetchall()
        )

    async def on_server(self, conn: AsyncConnection, params: dict[str, Any]) -> list[Any]:
        prepared = self._prepare(conn.dialect)
        values = dict(zip(prepared[1], self._values(prepared, params), strict=True))
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        cursor = await driver.execute(prepared[0], values)
        return self._rows(prepared, await cursor.fetchall())


# Lookups on a server database use a pool of their own, in autocommit: a lookup is one
# statement, so it needs no BEGIN or ROLLBACK round trip. A connection the server closed is
# dropped at checkout, as in the app's pool; one that dies under its lookup fails it once: then
# the pool is emptied and the lookup runs again on a new connection.
LOOKUP_POOL_SIZE = 5
_LOOKUPS: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def _lookups(engine: AsyncEngine) -> AsyncEngine:
    found = _LOOKUPS.get(engine)
    if found is None:
        found = _LOOKUPS[engine] = create_async_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            hide_parameters=True,
            pool_size=LOOKUP_POOL_SIZE,
            max_overflow=0,
            pool_timeout=POOL_WAIT,
        )
        event.listen(found.sync_engine, "checkout", _closed_by_the_server)
    return found


async def _read_on_server(engine: AsyncEngine, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
    lookups = _lookups(engine)
    async with lookups.connect() as conn:
        try:
            return await lookup.on_server(conn, params)
        except psycopg.OperationalError:
            await conn.invalidate()  # closed, and never pooled again
    await lookups.dispose()  # its other connections died too, if the server restarted
    async with lookups.connect() as conn:
        try:
            return await lookup.on_server(conn, params)
        except psycopg.OperationalError:
            await conn.invalidate()
            raise


async def read(engine: AsyncEngine, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
    """`lookup`'s rows, answered at once.

    On SQLite it runs in the calling thread, the event loop's, on a connection of its own that
    never waits: in WAL mode a reader takes no lock a writer holds, the pages are in memory,
    and such a lookup takes microseconds, less than the hand-off to a thread costs the loop.
    When SQLite cannot answer at once (another process holds the database in exclusive mode,
    or a checkpoint is resetting the log), the lookup goes to a reader thread to wait there,
    as `run` does. On a server database it runs on the lookups' pool.
    """
    workers = _sqlite_workers(engine)
    if workers is None:
        return await _read_on_server(engine, lookup, params)
    try:
        return workers.lookup_at_once(lookup, params)
    except (sqlite3.OperationalError, DBAPIError) as error:
        if not _busy(error):
            raise
    return await workers.readers.submit(functools.partial(workers.lookup_waiting, lookup, params))


async def dispose(engine: AsyncEngine) -> None:
    """Close the engine's connections, and its SQLite workers'."""
    workers = _WORKERS.pop(engine, None)
    if workers is not None:
        await asyncio.to_thread(workers.close)
    lookups = _LOOKUPS.pop(engine, None)
    if lookups is not None:
        await lookups.dispose()
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
