"""The lookups' connections to a server database: psycopg connections in autocommit, pooled here.

A lookup is one short statement, and every signed-in request makes one or more. Through
SQLAlchemy's pool, checking a connection out and back in cost the event loop about as much as
the lookup itself (greenlet switches, pool events, a reset on return; bench/README.md). psycopg's
own pool would do the job, but while the server is down it lets a request wait out its whole
timeout for a connection, where the outage page must come at once. So this pool is small: the
idle connections in a list, a semaphore for the limit, and the same checks as the app's pool.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

Connect = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]


def hung_up(driver: Any) -> bool:
    """Whether the server has closed this idle connection (a restart, an administrator ending
    it). An idle connection has nothing to read: when its socket is readable the server has hung
    up (or sent what nobody waits for), which the kernel tells without a round trip."""
    try:
        socket = driver.pgconn.socket
    except (AttributeError, psycopg.Error):  # closed or broken: no socket to ask
        return True
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class ServerPool:
    """At most `size` connections; a request that finds none free for `wait` seconds gets
    SQLAlchemy's pool timeout, which the app answers with the busy page as for its own pool."""

    def __init__(self, connect: Connect, size: int, wait: float) -> None:
        self._connect, self._size, self._wait = connect, size, wait
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._free: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0  # connections opened before the last `clear` are not pooled again

    def _slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._free is None or loop is not self._loop:
            # A new event loop (a test's app served again): nothing of the old one is reusable.
            self._drop_idle()
            self._free, self._loop = asyncio.Semaphore(self._size), loop
        return self._free

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for one lookup or one pipeline of writes; back to the pool after, unless
        it was left mid-statement or broken (then it is closed)."""
        slots = self._slots()
        try:
            async with asyncio.timeout(self._wait):
                await slots.acquire()
        except TimeoutError:
            raise PoolTimeoutError("no lookup connection free in time") from None
        generation, conn = self._generation, None
        try:
            conn = self._take_idle() or await self._connect()
            yield conn
        finally:
            if conn is not None:
                reusable = not conn.closed and generation == self._generation
                if reusable and conn.info.transaction_status == TransactionStatus.IDLE:
                    self._idle.append(conn)
                else:
                    await conn.close()
            slots.release()

    def _take_idle(self) -> psycopg.AsyncConnection[Any] | None:
        while self._idle:
            conn = self._idle.pop()
            if not hung_up(conn):
                return conn
            conn.pgconn.finish()
        return None

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()

    def clear(self) -> None:
        """Close the idle connections, and those in use when they come back: after a server
        restart they are all dead."""
        self._generation += 1
        self._drop_idle()
