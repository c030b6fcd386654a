"""Lookups: the short reads every signed-in request makes, answered at once; and the writes a
sign-in's answer waits for, in one round trip, or in the writer's transaction on SQLite.

A lookup reads by key, or by an indexed column. Its SQL is compiled once per dialect by
SQLAlchemy and then runs on the driver itself: SQLAlchemy's execution steps, and on SQLite the
hand-off to a reader thread, cost several times what such a read costs. A `Write` is prepared
the same way, for `write_all`.
"""

from __future__ import annotations

import collections
import functools
import sqlite3
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Connection, Delete, Insert, Select
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.base import db

_SQLITE_DIALECT = SQLiteDialect_pysqlite()


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite said it cannot answer now (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Prepared(NamedTuple):
    sql: str
    names: list[str]  # the parameters, in the order the SQL takes them
    binds: list[Any]  # each parameter's conversion, or None
    results: list[Any]  # each column's conversion, or None
    fixed: dict[str, Any]  # literals in the statement, bound with their values


class Lookup:
    """A short read (by key, or by an indexed column), prepared once for `read`.

    Its SQL runs on the driver's connection itself: SQLAlchemy's execution steps cost several
    times what such a lookup costs, and every signed-in request makes one or more. Values
    pass through the column types' own conversions both ways; rows come back as named tuples.
    """

    def __init__(self, statement: Select[Any] | Insert | Delete) -> None:
        self.statement = statement
        self._columns = list(statement.selected_columns) if isinstance(statement, Select) else []
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
            prepared = _Prepared(compiled.string, names, binds, results, fixed)
            self._prepared[dialect.name] = prepared
        return prepared

    def _values(self, prepared: _Prepared, params: dict[str, Any]) -> list[Any]:
        if prepared.fixed:
            params = {**prepared.fixed, **params}
        return [
            bind(params[name]) if bind else params[name]
            for name, bind in zip(prepared.names, prepared.binds, strict=True)
        ]

    def _rows(self, prepared: _Prepared, rows: list[Any]) -> list[Any]:
        results, make = prepared.results, self.row._make
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
            prepared, raw.execute(prepared.sql, self._values(prepared, params)).fetchall()
        )

    async def on_psycopg(
        self, driver: psycopg.AsyncConnection[Any], dialect: Dialect, params: dict[str, Any]
    ) -> tuple[_Prepared, psycopg.AsyncCursor[Any]]:
        """Its SQL sent on `driver`, parameters named and converted."""
        prepared = self._prepare(dialect)
        values = dict(zip(prepared.names, self._values(prepared, params), strict=True))
        return prepared, await driver.execute(prepared.sql, values)

    async def on_server(
        self, driver: psycopg.AsyncConnection[Any], dialect: Dialect, params: dict[str, Any]
    ) -> list[Any]:
        prepared, cursor = await self.on_psycopg(driver, dialect, params)
        return self._rows(prepared, await cursor.fetchall())


class Write(Lookup):
    """One INSERT (or INSERT … SELECT) or DELETE whose values are all bound parameters, for
    `write_all` or `count_in`; it returns no rows, only how many it wrote."""

    def __init__(self, statement: Insert | Delete) -> None:
        super().__init__(statement)


async def write_all(engine: AsyncEngine, writes: list[tuple[Write, dict[str, Any]]]) -> list[int]:
    """Run `writes` on a server database in one round trip, as one transaction; each one's
    count of rows written.

    They go as a pipeline on the lookups' pool (`db.lookup_pool`): the statements up to its
    one Sync form a transaction of their own, so there is no BEGIN or COMMIT to wait for, and
    a failure in one writes none. Unlike a lookup, a write that fails is not tried again: it
    may have been committed before its connection died.
    """
    cursors = []
    async with db.lookup_pool(engine).connection() as driver, driver.pipeline():
        for write, params in writes:
            _, cursor = await write.on_psycopg(driver, engine.dialect, params)
            cursors.append(cursor)
    return [cursor.rowcount for cursor in cursors]


async def _read_on_server(engine: AsyncEngine, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
    pool = db.lookup_pool(engine)
    try:
        async with pool.connection() as driver:
            return await lookup.on_server(driver, engine.dialect, params)
    except psycopg.OperationalError:
        pool.clear()  # its other connections died too, if the server restarted
    async with pool.connection() as driver:
        return await lookup.on_server(driver, engine.dialect, params)


async def read(engine: AsyncEngine, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
    """`lookup`'s rows, answered at once.

    On SQLite it runs in the calling thread, the event loop's, on a connection of its own that
    never waits: in WAL mode a reader takes no lock a writer holds, the pages are in memory,
    and such a lookup takes microseconds, less than the hand-off to a thread costs the loop.
    When SQLite cannot answer at once (another process holds the database in exclusive mode,
    or a checkpoint is resetting the log), the lookup goes to a reader thread to wait there,
    as `db.run` does. On a server database it runs on the lookups' pool (`db.lookup_pool`).
    """
    workers = db.sqlite_workers(engine)
    if workers is None:
        return await _read_on_server(engine, lookup, params)
    work = functools.partial(lookup.on_sqlite, params=params)
    try:
        try:
            return workers.call_at_once(work)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
        return await workers.readers.submit(functools.partial(workers.call_waiting, work))
    except sqlite3.Error as error:
        raise _as_sqlalchemy(lookup, error, engine.dialect) from error


def _as_sqlalchemy(lookup: Lookup, error: sqlite3.Error, dialect: Dialect) -> StatementError:
    """SQLite's error as SQLAlchemy raises it, parameters hidden: callers and the error page
    (a passing outage is the busy page, not a 500) tell errors by SQLAlchemy's types."""
    sql = lookup._prepare(_SQLITE_DIALECT).sql
    return DBAPIError.instance(
        sql, None, error, sqlite3.Error, hide_parameters=True, dialect=dialect
    )


def _on_driver(conn: Connection, lookup: Lookup, params: dict[str, Any]) -> sqlite3.Cursor:
    prepared = lookup._prepare(_SQLITE_DIALECT)
    try:
        return db.driver(conn).execute(prepared.sql, lookup._values(prepared, params))
    except sqlite3.Error as error:
        raise _as_sqlalchemy(lookup, error, conn.dialect) from error


def rows_in(conn: Connection, lookup: Lookup, params: dict[str, Any]) -> list[Any]:
    """`lookup`'s rows, in `conn`'s transaction (a unit of `db.run`).

    On SQLite the writer's units run on its thread, one after the other, and a sign-in's answer
    waits for its unit: there the statement runs on the driver's connection itself, in the
    transaction SQLAlchemy began on it, as a lookup does. SQLAlchemy's execution steps cost
    several times what SQLite does for these statements.
    """
    if conn.dialect.name != "sqlite":
        return list(conn.execute(lookup.statement, params))
    return lookup._rows(
        lookup._prepare(_SQLITE_DIALECT), _on_driver(conn, lookup, params).fetchall()
    )


def count_in(conn: Connection, write: Write, params: dict[str, Any]) -> int:
    """How many rows `write` wrote, in `conn`'s transaction (see `rows_in`)."""
    if conn.dialect.name != "sqlite":
        # SQLAlchemy keeps the driver's count of an INSERT only when asked to.
        options = {"preserve_rowcount": True}
        return int(conn.execute(write.statement, params, execution_options=options).rowcount)
    return _on_driver(conn, write, params).rowcount
