"""A few named threads that run blocking calls for the event loop, with the cheapest hand-off.

The hand-off dominates a short call: a primary-key read in SQLite costs far less than
`run_in_executor` or anyio's `to_thread` costs the loop (futures chained across threads,
wake-ups), the more so after an idle moment. Here a call is one queue put and one
`call_soon_threadsafe`. Each thread may keep state of its own
(`threading.local`), such as a database connection. A call sees the caller's context variables
(a log line it writes carries the request's id), as with `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[contextvars.Context, Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class Workers:
    """`size` threads serving calls in arrival order: never more than `size` at once."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def call(self, function: Callable[[], T]) -> T:
        """`function()` in one of the threads; the caller waits without blocking the loop.

        Cancelling the caller does not stop a call already running; its result is dropped.
        """
        return await self.submit(function)

    def submit(self, function: Callable[[], T]) -> asyncio.Future[T]:
        """Queue `function()` now (calls start in the order they were queued); await it later."""
        if len(self._threads) < self.size:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((contextvars.copy_context(), function, future, loop))
        return future

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(
                    target=_serve,
                    args=(self._jobs,),
                    name=f"{self.name}-{len(self._threads)}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def close(self) -> None:
        """Let queued calls finish, then end the threads (a later call starts new ones)."""
        with self._lock:
            jobs, threads = self._jobs, self._threads
            self._jobs, self._threads = queue.SimpleQueue(), []
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()
        # A call that raced with closing found no thread left: tell it instead of hanging.
        with contextlib.suppress(queue.Empty):
            while True:
                job = jobs.get_nowait()
                if job is not None:
                    _, _, future, loop = job
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_settle, future, None, RuntimeError("closed"))


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        context, function, future, loop = job
        try:
            result, error = context.run(function), None
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            result, error = None, exc
        # The loop may have closed meanwhile (its caller gone): nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, result, error)
        del job, context, function, future, loop, result, error


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
