"""The audit trail: sign-ins, failures, lockouts, unlocks, password changes, resets, sign-outs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.base import lookups
from portal.base.clock import utcnow
from portal.base.models import AuditEvent

log = logging.getLogger("portal.audit")
COMMAND_LINE = "command-line"
_TABLE: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_COLUMNS = ("at", "username", "event", "outcome", "client")
_INSERT = lookups.Write(insert(_TABLE).values({name: bindparam(name) for name in _COLUMNS}))


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


@dataclass(frozen=True)
class Pending:
    """An event to store in a transaction that is coming anyway, and to log once it is stored."""

    row: dict[str, Any]

    def write(self) -> tuple[lookups.Write, dict[str, Any]]:
        return _INSERT, self.row

    def wrote(self, rows: int) -> None:
        pass

    def stored(self) -> None:
        _log(self.row["event"], self.row["outcome"], self.row["username"], self.row["client"])


def pending(event: str, outcome: str, username: str, client: str) -> Pending:
    """The sign-in's record, stored with the session it opens (`sessions.alongside`)."""
    return Pending(_entry(event, outcome, username, client))


def _log(event: str, outcome: str, username: str, client: str) -> None:
    log.info("%s %s username=%r client=%s", event, outcome, username, client)


async def recent(db: AsyncSession, username: str | None, limit: int = 50) -> list[AuditEvent]:
    """The newest events, of one account or of all; newest first."""
    statement = select(AuditEvent).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    if username is not None:
        statement = statement.where(AuditEvent.username == username)
    return list((await db.exec(statement.limit(limit))).all())
