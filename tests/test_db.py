"""Migrations and database settings."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import portal.base.models  # noqa: F401 - registers the tables
from portal.base import db, lookups
from portal.base.db import async_url, configure, make_engine, sync_url, upgrade
from portal.base.settings import Settings


def test_migrations_match_the_models(settings: Settings) -> None:
    """A model change without a migration fails here, on SQLite and on PostgreSQL."""
    engine = configure(create_engine(sync_url(settings.database_url)))
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"render_as_batch": True}),
            SQLModel.metadata,
        )
    engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent_and_creates_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/dir/portal.db"
    upgrade(url)
    upgrade(url)
    assert (tmp_path / "nested/dir/portal.db").exists()


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_url: str) -> None:
    engine = configure(create_engine(sqlite_url))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with pytest.raises(Exception, match="FOREIGN KEY"):
            conn.execute(
                text(
                    "INSERT INTO extension (tenant_id, number, name, password_hash,"
                    " password_changed_at, disabled, created_at)"
                    " VALUES (999, '1', 'x', 'h', '2026-01-01', 0, '2026-01-01')"
                )
            )
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///./var/portal.db", "sqlite+aiosqlite:///./var/portal.db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ],
)
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _scratch_table(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE scratch (n INTEGER)"))


@pytest.mark.anyio
async def test_sqlite_writes_queue_on_one_writer_and_reads_run_beside_it(sqlite_url: str) -> None:
    """Writes never meet in SQLite's lock (whose busy handler sleeps for milliseconds)."""
    engine = make_engine(sqlite_url)
    running = peak = 0
    lock = threading.Lock()
    writers: set[str] = set()

    def write(conn: Connection, number: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        writers.add(threading.current_thread().name)
        conn.execute(text("INSERT INTO scratch (n) VALUES (:n)"), {"n": number})
        time.sleep(0.002)
        with lock:
            running -= 1

    def count(conn: Connection) -> tuple[str, int]:
        found = conn.execute(text("SELECT count(*) FROM scratch")).scalar_one()
        return threading.current_thread().name, found

    try:
        await db.run(engine, _scratch_table, write=True)
        await asyncio.gather(
            *(db.run(engine, functools.partial(write, number=n), write=True) for n in range(20))
        )
        reader, found = await db.run(engine, count)
    finally:
        await db.dispose(engine)
    assert found == 20
    assert peak == 1
    assert writers == {"sqlite-write-0"}
    assert reader.startswith("sqlite-read-")


@pytest.mark.anyio
async def test_postgresql_units_share_a_fixed_pool_of_connections(postgres_schema: str) -> None:
    """More units at once than the pool holds wait their turn on its connections: PostgreSQL
    sees at most POOL_SIZE connections from a process, and none is opened twice (SQLAlchemy's
    default overflow opened one per extra unit and closed it right after)."""
    engine = make_engine(postgres_schema)
    opened: list[int] = []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))

    def slow_read(conn: Connection) -> int:
        return int(conn.execute(text("SELECT 1 FROM pg_sleep(0.02)")).scalar_one())

    try:
        for _ in range(3):
            done = await asyncio.gather(*(db.run(engine, slow_read) for _ in range(40)))
            assert done == [1] * 40
    finally:
        await db.dispose(engine)
    assert len(opened) == db.POOL_SIZE


_SCRATCH = MetaData()
_LOOKED_UP = Table(
    "lookup_scratch",
    _SCRATCH,
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("at", DateTime),
    Column("blob", LargeBinary),
)
_BY_ID = lookups.Lookup(
    select(_LOOKED_UP.c.name, _LOOKED_UP.c.at, _LOOKED_UP.c.blob)
    .where(_LOOKED_UP.c.id >= bindparam("low"))
    .order_by(_LOOKED_UP.c.id)
)


@pytest.mark.anyio
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_lookup_answers_rows_typed_as_the_columns_say(
    database: str, request: pytest.FixtureRequest
) -> None:
    """Lookups skip SQLAlchemy's execution steps, not its types: dates come back as dates and
    bytes as bytes, in both databases, by column name."""
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_schema")
    engine = make_engine(url)
    when = datetime(2026, 11, 30, 17, 40, 5, 123000)

    def fill(conn: Connection) -> None:
        _SCRATCH.create_all(conn)
        conn.execute(_LOOKED_UP.insert(), [{"id": 1, "name": "a", "at": when, "blob": b"\x00\xff"}])
        conn.execute(_LOOKED_UP.insert(), [{"id": 2, "name": "b", "at": None, "blob": None}])

    try:
        await db.run(engine, fill, write=True)
        rows = await lookups.read(engine, _BY_ID, {"low": 1})
        none = await lookups.read(engine, _BY_ID, {"low": 3})
    finally:
        await db.run(engine, lambda conn: _SCRATCH.drop_all(conn), write=True)
        await db.dispose(engine)
    assert [tuple(row) for row in rows] == [("a", when, b"\x00\xff"), ("b", None, None)]
    assert rows[0].at == when and isinstance(rows[0].blob, bytes)
    assert none == []


@pytest.mark.anyio
async def test_a_sqlite_lookup_waits_off_the_event_loop_while_the_database_is_locked(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A lookup is answered in the event loop's thread only when SQLite can answer at once;
    while another process holds the database, it waits in a reader thread and the loop runs."""
    engine = make_engine(sqlite_url)

    def fill(conn: Connection) -> None:
        _SCRATCH.create_all(conn)
        conn.execute(_LOOKED_UP.insert(), [{"id": 1, "name": "a"}])

    await db.run(engine, fill, write=True)
    await db.dispose(engine)
    # Another process holds the whole database, WAL or not (exclusive locking mode).
    holder = sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO lookup_scratch (id, name) VALUES (2, 'b')")
    engine = make_engine(sqlite_url)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        reading = asyncio.ensure_future(lookups.read(engine, _BY_ID, {"low": 1}))
        await asyncio.sleep(0.3)
        assert not reading.done()
        assert ticks >= 10  # the loop ran while the lookup waited
        holder.execute("COMMIT")
        holder.close()  # the exclusive lock goes with the connection
        rows = await asyncio.wait_for(reading, 10)
    finally:
        ticker.cancel()
        holder.close()
        await db.dispose(engine)
    assert [row.name for row in rows] == ["a", "b"]


_ADD = lookups.Write(
    _LOOKED_UP.insert().values(id=bindparam("id"), name=bindparam("name"), at=bindparam("at"))
)


@pytest.mark.anyio
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_statements_in_a_unit_commit_with_it_and_fail_as_sqlalchemy_says(
    database: str, request: pytest.FixtureRequest
) -> None:
    """`rows_in` and `count_in` run in the unit's own transaction: a unit that fails after them
    keeps nothing, one that succeeds keeps all. Their errors are SQLAlchemy's (the error page
    tells an outage by them), and carry no parameter: a value may be a hash or a mail body."""
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_schema")
    engine = make_engine(url)
    when = datetime(2026, 12, 1, 5, 0, 0, 250000)

    def add_then_fail(conn: Connection) -> None:
        assert lookups.count_in(conn, _ADD, {"id": 1, "name": "kept?", "at": when}) == 1
        lookups.count_in(conn, _ADD, {"id": 1, "name": "secret-value", "at": when})

    def add(conn: Connection) -> list[object]:
        assert lookups.count_in(conn, _ADD, {"id": 2, "name": "b", "at": when}) == 1
        return lookups.rows_in(conn, _BY_ID, {"low": 0})

    await db.run(engine, lambda conn: _SCRATCH.create_all(conn), write=True)
    try:
        with pytest.raises(IntegrityError) as failed:
            await db.run(engine, add_then_fail, write=True)
        rows = await db.run(engine, add, write=True)
        kept = await lookups.read(engine, _BY_ID, {"low": 0})
    finally:
        await db.run(engine, lambda conn: _SCRATCH.drop_all(conn), write=True)
        await db.dispose(engine)
    assert "secret-value" not in str(failed.value)
    assert [(row.name, row.at) for row in rows] == [("b", when)]
    assert [(row.name, row.at) for row in kept] == [("b", when)]
