"""Logs: JSON lines for collectors, a request id on every line of a request, and no secrets."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.logs import JsonFormatter, NonBlockingHandler, RequestIdFilter
from portal.base.settings import Settings
from tests.conftest import PASSWORD, Account, Auth, csrf_from

NEW = "a new and better passphrase"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def test_every_line_of_a_request_carries_its_id(
    auth: Auth, account: Account, collected: Collect
) -> None:
    response = auth.login(password="wrong password")
    rid = response.headers["X-Request-ID"]
    mine = [line for line in collected.lines if line["request_id"] == rid]
    messages = [str(line["message"]) for line in mine]
    assert any(m.startswith("sign-in failure username='201-wickedsprockets'") for m in messages)
    assert any('"POST /login" 200' in m for m in messages)  # the access line
    other = auth.client.get("/login").headers["X-Request-ID"]
    assert other != rid


def test_lines_are_json_with_the_expected_fields(collected: Collect, client: TestClient) -> None:
    client.get("/no-such-page")
    [access] = [line for line in collected.lines if line["logger"] == "portal.access"]
    assert set(access) >= {"time", "level", "logger", "process", "request_id", "message"}
    assert access["level"] == "INFO"


def test_no_password_reaches_a_log_line(auth: Auth, account: Account, collected: Collect) -> None:
    auth.login(password="hunter2 wrong guess")
    auth.login()
    text = json.dumps(collected.lines)
    assert "hunter2" not in text
    assert PASSWORD not in text


def test_an_unexpected_error_is_logged_once_with_the_id_its_page_carries(
    auth: Auth, account: Account, collected: Collect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One traceback per failure, under the request id the user's 500 page was sent with.

    The error is answered inside the app: the server never sees it (uvicorn would log a
    second traceback, without the id; this test client would raise it here).
    """
    auth.login()

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("portal.web.guard.current_account", broken)
    response = auth.client.get("/phone")
    assert response.status_code == 500
    assert "Something Went Wrong" in response.text
    rid = response.headers["X-Request-ID"]
    tracebacks = [line for line in collected.lines if "exception" in line]
    assert len(tracebacks) == 1
    assert tracebacks[0]["request_id"] == rid
    assert "RuntimeError: a bug" in str(tracebacks[0]["exception"])
    access = [line for line in collected.lines if line["logger"] == "portal.access"]
    assert any('"GET /phone" 500' in str(line["message"]) for line in access)


def test_a_stalled_log_reader_never_holds_up_the_caller() -> None:
    """A full pipe to the log collector: logging returns at once; the lines follow, in order,
    once the reader catches up, and those beyond the backlog are counted, not lost silently."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"\n" * 4096)  # filler: empty lines
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"\n")
    os.set_blocking(write_end, True)
    stream = open(write_end, "w")  # noqa: SIM115 - closed below
    handler = NonBlockingHandler(stream, backlog=50)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("portal.test.stalled")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    received = bytearray()
    try:
        done = threading.Event()

        def chatter() -> None:
            for number in range(200):
                logger.info("line %d", number)
            done.set()

        threading.Thread(target=chatter, daemon=True).start()
        assert done.wait(10), "a log call waited for the stalled reader"

        def read_until(text: bytes) -> None:
            deadline = time.monotonic() + 10
            while text not in received:
                assert time.monotonic() < deadline, f"{text!r} never arrived"
                received.extend(os.read(read_end, 65536))

        read_until(b"line 49\n")
        assert handler.drain(timeout=10)
        logger.info("after")
        read_until(b"after\n")
    finally:
        logger.removeHandler(handler)
        os.close(read_end)  # a write still blocked on the pipe ends (EPIPE)
        with contextlib.suppress(OSError, ValueError):
            stream.close()
    lines = [line for line in received.decode().split("\n") if line]
    # Read back in order: each line is the next one logged, or says how many were dropped
    # before the next (the writer thread may take its first line a moment late, so the gap
    # can fall just before the backlog's end as well as after it).
    expected = 0
    kept = 0
    for line in lines[:-1]:
        dropped = re.fullmatch(r"(\d+) log lines dropped: the log reader fell behind", line)
        if dropped:
            expected += int(dropped.group(1))
        else:
            assert line == f"line {expected}"
            expected += 1
            kept += 1
    assert expected == 200  # every line written or counted as dropped
    assert 50 <= kept <= 51  # the backlog, and the one being written when it filled
    assert lines[-1] == "after"


def reset_token_lines(collected: Collect, token: str) -> list[str]:
    """Every line the server logged, tracebacks included, that holds `token` (not the lines of
    the test's own HTTP client)."""
    return [
        text
        for line in collected.lines
        if not str(line["logger"]).startswith("httpx") and token in (text := json.dumps(line))
    ]


@pytest.fixture
def storage_down(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The app with its database out of reach: a SQLite file that cannot be opened, or a
    PostgreSQL server that is not there (Redis, in the production profile, still answers)."""
    unreachable = (
        f"sqlite:///{tmp_path}/no-such-directory/portal.db"
        if settings.redis_url is None
        else "postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    app = create_app(replace(settings, database_url=unreachable))
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        yield client


def test_no_reset_token_reaches_the_log_while_storage_is_down(
    storage_down: TestClient, collected: Collect
) -> None:
    """The 503 on a reset link: every line prints `/reset-password/…`, and the page, like the
    reset page itself, tells no one the link as a referrer."""
    logging.getLogger().setLevel(logging.DEBUG)
    client, token = storage_down, secrets.token_urlsafe(32)
    csrf_token = csrf_from(client.get("/login").text)  # needs no storage
    shown = client.get(f"/reset-password/{token}")
    posted = client.post(
        f"/reset-password/{token}",
        data={"new_password": NEW, "confirm_password": NEW, "csrf_token": csrf_token},
    )
    for response in (shown, posted):
        assert response.status_code == 503
        assert "Temporarily Unavailable" in response.text
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert reset_token_lines(collected, token) == []
    messages = [str(line["message"]) for line in collected.lines]
    assert any(m.startswith("storage unavailable on POST /reset-password/…") for m in messages)
    assert any('"POST /reset-password/…" 503' in m for m in messages)


def test_no_reset_token_reaches_the_log_when_a_bug_answers_500(
    client: TestClient, collected: Collect, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger().setLevel(logging.DEBUG)
    token = secrets.token_urlsafe(32)

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("portal.flows.reset.routes.complete_reset", broken)
    csrf_token = csrf_from(client.get("/login").text)
    response = client.post(
        f"/reset-password/{token}",
        data={"new_password": NEW, "confirm_password": NEW, "csrf_token": csrf_token},
    )
    assert response.status_code == 500
    assert response.headers["Referrer-Policy"] == "no-referrer"
    [traceback] = [line for line in collected.lines if "exception" in line]
    assert "RuntimeError: a bug" in str(traceback["exception"])
    assert str(traceback["message"]) == "unhandled error on POST /reset-password/…"
    assert reset_token_lines(collected, token) == []
