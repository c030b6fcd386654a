"""The audit trail: sign-ins, failures, lockouts, unlocks, password changes, resets, sign-outs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal import db as database
from portal.models import AuditEvent, utcnow

log = logging.getLogger("portal.audit")
COMMAND_LINE = "command-line"
_TABLE: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_INSERT = insert(_TABLE)


def _entry(event: str, outcome: str, username: str, client: str) -> dict[str, Any]:
    """The row for an event: one place for both ways of storing it."""
    return {
        "at": utcnow(),
        "username": username[:80],
        "event": event,
        "outcome": outcome,
        "client": client[:64],
    }


def add(db: AsyncSession, event: str, outcome: str, username: str, client: str) -> None:
    """Record an event in the caller's transaction, and log the same line."""
    db.add(AuditEvent(**_entry(event, outcome, username, client)))
    _log(event, outcome, username, client)


async def record(db: AsyncSession, event: str, outcome: str, username: str, client: str) -> None:
    """Record an event in a transaction of its own."""
    add(db, event, outcome, username, client)
    await db.commit()


async def write(engine: AsyncEngine, event: str, outcome: str, username: str, client: str) -> None:
    """Record an event in a transaction of its own, through `db.run` (the sign-in path)."""
    await submit(engine, event, outcome, username, client)


def submit(
    engine: AsyncEngine, event: str, outcome: str, username: str, client: str
) -> asyncio.Future[None]:
    """`write`, started now and awaited later, while the request goes on (see `db.submit`)."""
    row = _entry(event, outcome, username, client)

    def insert(conn: Connection) -> None:
        conn.execute(_INSERT, row)

    def stored(done: asyncio.Future[None]) -> None:
        # Runs in the context it was added in: the line carries the request's id.
        if not done.cancelled() and done.exception() is None:
            _log(event, outcome, username, client)

    future = database.submit(engine, insert)
    future.add_done_callback(stored)
    return future


def _log(event: str, outcome: str, username: str, client: str) -> None:
    log.info("%s %s username=%r client=%s", event, outcome, username, client)


async def recent(db: AsyncSession, username: str | None, limit: int = 50) -> list[AuditEvent]:
    """The newest events, of one account or of all; newest first."""
    statement = select(AuditEvent).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    if username is not None:
        statement = statement.where(AuditEvent.username == username)
    return list((await db.exec(statement.limit(limit))).all())
