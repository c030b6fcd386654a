"""Work committed with a request's session write: the sign-in's audit row and new-device notice,
in the new session's transaction when sessions live in the database, in one of their own
otherwise (`store_apart`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.base import db, lookups


class Alongside(Protocol):
    """One statement committed with a request's session write, and told once it is stored."""

    def write(self) -> tuple[lookups.Write, dict[str, Any]]:
        """The statement and its parameters."""
        ...

    def wrote(self, rows: int) -> None:
        """How many rows it wrote (before the commit: only say so in `stored`)."""
        ...

    def stored(self) -> None: ...


def store_all(conn: Connection, items: Sequence[Alongside]) -> None:
    """`items` in `conn`'s transaction."""
    for item in items:
        write, params = item.write()
        item.wrote(lookups.count_in(conn, write, params))


async def store_apart(engine: AsyncEngine, items: Sequence[Alongside]) -> None:
    """Commit `items` in a transaction of their own: on a server database in one round trip
    (the sign-in's answer waits for it), where BEGIN, each statement and COMMIT took one each."""
    if db.sqlite_workers(engine) is not None:
        await db.run(engine, lambda conn: store_all(conn, items), write=True)
        return
    counts = await lookups.write_all(engine, [item.write() for item in items])
    for item, rows in zip(items, counts, strict=True):
        item.wrote(rows)
