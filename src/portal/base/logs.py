"""Logging: JSON lines when not on a terminal, and the request id on every line."""

from __future__ import annotations

import atexit
import collections
import contextvars
import json
import logging
import select
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served (or '-')."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps makes one per call


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


PLAIN = "%(asctime)s %(process)d %(levelname)s %(name)s [%(request_id)s] %(message)s"


# Lines that may wait for a log reader that fell behind; beyond them, new lines are dropped.
BACKLOG = 10_000


class NonBlockingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that never makes its caller wait on a reader that fell behind.

    A line is written at once when the stream can take it now: always for a file or a
    terminal, and for a pipe to the log collector while it has room. When the pipe is full,
    lines wait, in order, for a thread of this handler's that writes them as the reader catches
    up; the event loop goes on. Beyond `backlog` waiting lines new ones are dropped, and how
    many is said in a line of its own when there is room again. Lines still waiting at exit are
    written then, unless the reader stays stalled for a few seconds more.
    """

    def __init__(self, stream: TextIO, backlog: int = BACKLOG) -> None:
        super().__init__(stream)
        self.backlog = backlog
        self._poller = _poller(stream)
        self._waiting: collections.deque[str] = collections.deque()
        self._in_flight = False
        self._dropped = 0
        self._changed = threading.Condition(threading.Lock())
        self._writer: threading.Thread | None = None

    def setStream(self, stream: TextIO) -> TextIO | None:
        with self._changed:
            self._poller = _poller(stream)
        return super().setStream(stream)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)
            return
        with self._changed:
            direct = not self._waiting and not self._in_flight and self._room_now()
            if direct:
                line = self._dropped_note() + line
            else:
                self._wait_in_line(line)
        if direct:
            try:
                self.stream.write(line)
                self.stream.flush()
            except Exception:  # noqa: BLE001
                self.handleError(record)

    def flush(self) -> None:
        with self._changed:
            behind = bool(self._waiting) or self._in_flight
        if not behind:  # else the writer thread holds the stream, maybe for long
            super().flush()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the waiting lines to be written; whether they were."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._waiting and not self._in_flight, timeout
            )

    def _room_now(self) -> bool:
        if self._poller is None:
            return True  # no poll for this stream: write as StreamHandler does
        try:
            return bool(self._poller.poll(0))
        except OSError:
            return True

    def _wait_in_line(self, line: str) -> None:
        if len(self._waiting) >= self.backlog:
            self._dropped += 1
            return
        self._waiting.append(self._dropped_note() + line)
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_waiting, name="log-writer")
            self._writer.daemon = True
            self._writer.start()
        self._changed.notify_all()

    def _dropped_note(self) -> str:
        """A line saying how many were dropped since the last one written ("" if none)."""
        if not self._dropped:
            return ""
        note = logging.makeLogRecord(
            {
                "name": "portal.logs",
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": "%d log lines dropped: the log reader fell behind",
                "args": (self._dropped,),
                "request_id": "-",
            }
        )
        self._dropped = 0
        return self.format(note) + self.terminator

    def _write_waiting(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._waiting))
                line = self._waiting.popleft()
                self._in_flight = True
            try:
                self.stream.write(line)
                self.stream.flush()
            except Exception:  # noqa: BLE001, S110 - nowhere left to say it
                pass
            with self._changed:
                self._in_flight = False
                self._changed.notify_all()


def _poller(stream: TextIO) -> select.poll | None:
    """Asks whether `stream` can take a line now; made once per stream, asked for every line."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
    except (AttributeError, OSError, ValueError):
        return None  # no file descriptor (a StringIO), or no poll on this system
    return poller


def configure(*, json_lines: bool | None = None, level: int = logging.INFO) -> None:
    """Send every log line to stderr: JSON unless stderr is a terminal.

    A log collector that stops reading never holds up the event loop (see NonBlockingHandler).
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = NonBlockingHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(PLAIN))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # No line shows where it was logged from or which thread logged it: don't collect them
    # (the logging HOWTO's "Optimization"; finding the caller walks the stack on every line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False


@atexit.register
def _drain_at_exit() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, NonBlockingHandler):
            handler.drain(timeout=3.0)
