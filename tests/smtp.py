"""A real SMTP server for tests: the demo's MailSink, plus waiting, refusing and stalling."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import pytest

from portal.domain.mailsink import MailSink, ReceivedMail, SinkHandler
from tests.servers import free_port


class TestHandler(SinkHandler):
    sink: TestSink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.sink.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink.in_data.set()
        if self.sink.stall:
            await asyncio.sleep(self.sink.stall)
        return await super().handle_DATA(server, session, envelope)


class TestSink(MailSink):
    """`refused` recipients get a 550; `stall` seconds pass before a message is accepted."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port)
        self.handler = TestHandler(self)
        self.refused: set[str] = set()
        self.stall = 0.0
        self.in_data = threading.Event()
        self._arrived = threading.Condition()

    def receive(self, mail: ReceivedMail) -> None:
        super().receive(mail)
        with self._arrived:
            self._arrived.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until `count` messages have arrived; newest first."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} of {count} messages in {timeout}s")
        return self.messages

    def wait_until(
        self, wanted: Callable[[ReceivedMail], bool], timeout: float = 10.0
    ) -> ReceivedMail:
        """Block until a message `wanted` accepts has arrived (others may come between, such
        as a new-device notice); the first such to arrive."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: any(map(wanted, self.messages)), timeout):
                subjects = [m.subject for m in self.messages]
                raise AssertionError(f"no such message in {timeout}s among {subjects}")
        return next(m for m in self.messages if wanted(m))

    async def arrival(self, count: int = 1, within: float = 10.0) -> list[ReceivedMail]:
        """wait_for, without blocking the event loop a sender runs on."""
        return await anyio.to_thread.run_sync(self.wait_for, count, within)


@pytest.fixture
def smtp_sink() -> Iterator[TestSink]:
    sink = TestSink(free_port())
    sink.start()
    yield sink
    sink.stop()
