"""The database: engines for the app (async) and for migrations (sync), and SQLite's pragmas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


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


def make_engine(url: str) -> AsyncEngine:
    """The app's engine; PostgreSQL connections are checked before use so a restart heals."""
    _ensure_sqlite_dir(url)
    # hide_parameters: an error message must never carry a mail body or a hash into a log.
    engine = create_async_engine(async_url(url), pool_pre_ping=True, hide_parameters=True)
    configure(engine.sync_engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply alembic migrations up to `revision` (idempotent)."""
    from alembic import command
    from alembic.config import Config

    _ensure_sqlite_dir(url)
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "alembic"))
    config.attributes["database_url"] = sync_url(url)
    command.upgrade(config, revision)
