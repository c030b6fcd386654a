"""The worker threads that run blocking calls for the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from portal.base.threads import Workers
from tests.conftest import LoopProbe


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workers() -> Workers:
    pool = Workers(2, "test-workers")
    yield pool  # type: ignore[misc]
    pool.close()


@pytest.mark.anyio
async def test_calls_run_in_the_named_threads_and_bring_back_results(workers: Workers) -> None:
    names = await asyncio.gather(
        *(workers.call(lambda: threading.current_thread().name) for _ in range(6))
    )
    assert set(names) <= {"test-workers-0", "test-workers-1"}
    assert threading.current_thread().name not in names


REQUEST = contextvars.ContextVar("request", default="-")


@pytest.mark.anyio
async def test_a_call_sees_the_callers_context(workers: Workers) -> None:
    """A log line written in a worker thread carries the id of the request it works for."""
    REQUEST.set("r-42")
    assert await workers.call(REQUEST.get) == "r-42"
    REQUEST.set("r-43")
    assert await workers.call(REQUEST.get) == "r-43"


@pytest.mark.anyio
async def test_an_exception_is_raised_in_the_caller(workers: Workers) -> None:
    def broken() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await workers.call(broken)
    assert await workers.call(lambda: 42) == 42  # the thread lives on


@pytest.mark.anyio
async def test_never_more_than_size_at_once_and_one_thread_keeps_order() -> None:
    running = peak = 0
    lock = threading.Lock()
    order: list[int] = []

    def task(number: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        order.append(number)
        with lock:
            running -= 1

    for size in (1, 3):
        pool = Workers(size, "limited")
        running = peak = 0
        order.clear()
        await asyncio.gather(*(pool.call(lambda n=n: task(n)) for n in range(9)))
        pool.close()
        assert peak == size
        if size == 1:
            assert order == list(range(9))


@pytest.mark.anyio
async def test_the_loop_keeps_running_while_a_call_blocks(workers: Workers) -> None:
    probe = LoopProbe()
    assert await workers.call(probe.loop_answers)


@pytest.mark.anyio
async def test_a_cancelled_caller_leaves_the_call_to_finish_quietly(workers: Workers) -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        finished.set()

    caller = asyncio.create_task(workers.call(slow))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.to_thread(finished.wait, 5)
    assert await workers.call(lambda: "still serving") == "still serving"


@pytest.mark.anyio
async def test_submitted_calls_start_in_order_before_they_are_awaited() -> None:
    pool = Workers(1, "ordered")
    seen: list[str] = []
    first = pool.submit(lambda: seen.append("first"))
    second = pool.submit(lambda: seen.append("second"))
    await second
    assert first.done()
    assert seen == ["first", "second"]
    pool.close()


@pytest.mark.anyio
async def test_close_lets_queued_calls_finish_and_a_later_call_starts_afresh() -> None:
    pool = Workers(1, "closing")
    done: list[int] = []
    futures = [pool.submit(lambda n=n: (time.sleep(0.01), done.append(n))) for n in range(3)]
    await asyncio.to_thread(pool.close)
    assert done == [0, 1, 2]
    await asyncio.gather(*futures)
    assert not any(t.name.startswith("closing-") and t.is_alive() for t in threading.enumerate())
    assert await pool.call(lambda: threading.current_thread().name) == "closing-0"
    pool.close()
