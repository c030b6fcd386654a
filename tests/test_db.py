"""Migrations and database settings."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, event, text
from sqlmodel import SQLModel

import portal.base.models  # noqa: F401 - registers the tables
from portal.base import db
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
