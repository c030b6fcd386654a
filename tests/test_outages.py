"""Faults: Redis stopping and returning; the portal fails closed and heals without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base import db, lookups
from portal.base.settings import Settings
from portal.web.shared import Shared
from tests.conftest import (
    IN_CI,
    PASSWORD,
    POSTGRES_DSN,
    Auth,
    assert_busy_page,
    csrf_from,
    held,
    make_account_in,
    run,
    truncate_postgres,
)
from tests.servers import free_port


class RedisServer:
    """A redis-server of this test's own, which it may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("SKIPPED LOUDLY: " + message)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_stopping_fails_closed_and_heals_by_itself(
    sqlite_url: str, own_redis: RedisServer
) -> None:
    settings = Settings(secret_key="k", database_url=sqlite_url, redis_url=own_redis.url)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        make_account_in(client)
        auth = Auth(client)
        auth.login()
        assert client.get("/phone").status_code == 200

        own_redis.stop()
        assert client.get("/healthz").status_code == 503
        page = client.get("/phone")
        assert_busy_page(page)
        # The login form needs no storage (its token is bound to a cookie, not a session)...
        client.cookies.clear()
        form = client.get("/login")
        assert form.status_code == 200
        # ...but signing in fails closed: no password is checked without the attempt counter.
        attempt = client.post(
            "/login",
            data={
                "username": "201-wickedsprockets",
                "password": PASSWORD,
                "csrf_token": csrf_from(form.text),
            },
        )
        assert attempt.status_code == 503
        assert "portal_session" not in attempt.headers.get("set-cookie", "")

        own_redis.start()  # empty: sessions are gone, the portal carries on
        assert client.get("/healthz").status_code == 200
        assert auth.login().headers["location"] == "/phone"
        assert client.get("/phone").status_code == 200


def test_database_unreachable_is_a_clear_page(settings: Settings) -> None:
    broken = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(broken), follow_redirects=False) as client:
        # The login page stores nothing: it is served all the same.
        page = client.get("/login")
        assert page.status_code == 200
        signed = client.post(
            "/login",
            data={"username": "201-x", "password": "y", "csrf_token": csrf_from(page.text)},
        )
        assert_busy_page(signed)
        assert client.get("/phone").status_code == 303  # no session: to the (working) login


class TcpProxy:
    """127.0.0.1:port → target, which a test can cut like a database restart would."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.links: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the "server" is down
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Stop listening and drop every open connection, as a restarting server does."""
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.links:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.links.clear()


def test_a_postgresql_restart_fails_clearly_then_heals_by_itself(
    postgres_schema: str, sqlite_url: str
) -> None:
    proxy = TcpProxy(5432)
    proxy.start()
    url = postgres_schema.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = Settings(secret_key="k", database_url=url)
    truncate_postgres(postgres_schema)
    try:
        with TestClient(
            create_app(settings), follow_redirects=False, raise_server_exceptions=False
        ) as client:
            make_account_in(client)
            auth = Auth(client)
            auth.login()
            assert client.get("/phone").status_code == 200

            proxy.cut()
            down = client.get("/phone")
            assert down.status_code == 503
            assert "Temporarily Unavailable" in down.text
            assert client.get("/healthz").status_code == 503

            proxy.start()  # back, on the same port; the pool's dead connections are dropped
            assert client.get("/healthz").status_code == 200
            assert client.get("/phone").status_code == 200  # the session survived in the database
    finally:
        proxy.cut()


def test_no_database_connection_free_in_time_is_the_busy_page_then_heals(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pooled connection busy past the wait: the clear 503 page, not a 500; and the next
    request, once one is free, goes through."""
    monkeypatch.setattr(db, "POOL_SIZE", 1)
    monkeypatch.setattr(db, "POOL_WAIT", 0.3)
    truncate_postgres(postgres_schema)
    settings = Settings(secret_key="k", database_url=postgres_schema)
    with TestClient(
        create_app(settings), follow_redirects=False, raise_server_exceptions=False
    ) as client:
        make_account_in(client)
        with held(client, lambda shared: shared.engine.connect()):
            page = client.get("/login")  # stores nothing, reads nothing: served all the same
            form = {"username": "201-wickedsprockets", "password": PASSWORD}
            busy = client.post("/login", data={**form, "csrf_token": csrf_from(page.text)})
        assert_busy_page(busy)
        signed = client.post("/login", data={**form, "csrf_token": csrf_from(page.text)})
        assert signed.headers["location"] == "/phone"


def test_after_a_redis_restart_every_request_succeeds(
    sqlite_url: str, own_redis: RedisServer
) -> None:
    """Connections pooled before the outage are dead after it: none of them may fail a request."""
    settings = Settings(secret_key="k", database_url=sqlite_url, redis_url=own_redis.url)
    with TestClient(
        create_app(settings), follow_redirects=False, raise_server_exceptions=False
    ) as client:

        async def fill_the_pool(shared: Shared) -> None:
            assert shared.redis is not None
            await asyncio.gather(*(shared.redis.ping() for _ in range(10)))

        run(client, fill_the_pool)
        own_redis.stop()
        own_redis.start()  # returns once the new server answers
        assert [client.get("/healthz").status_code for _ in range(20)] == [200] * 20


def test_after_postgresql_drops_every_connection_every_request_succeeds(
    postgres_schema: str,
) -> None:
    """A restart ends every pooled connection: the pools see the closed sockets at checkout and
    open new connections before a request uses one."""
    name = f"portal-test-{uuid.uuid4().hex[:8]}"
    truncate_postgres(postgres_schema)
    settings = Settings(secret_key="k", database_url=f"{postgres_schema}&application_name={name}")
    with TestClient(
        create_app(settings), follow_redirects=False, raise_server_exceptions=False
    ) as client:
        make_account_in(client)
        Auth(client).login()

        async def fill_the_pools(shared: Shared) -> None:
            async def one() -> None:
                async with shared.engine.connect() as conn:
                    await conn.execute(text("SELECT pg_sleep(0.05)"))

            slept = lookups.Lookup(select(func.pg_sleep(0.05).label("slept")))
            await asyncio.gather(
                *(one() for _ in range(db.POOL_SIZE)),
                *(lookups.read(shared.engine, slept, {}) for _ in range(db.LOOKUP_POOL_SIZE)),
            )

        run(client, fill_the_pools)
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            ).fetchone()
            assert ended is not None
            assert ended[0] == db.POOL_SIZE + db.LOOKUP_POOL_SIZE
            # pg_terminate_backend only signals: as after a restart, wait until they are gone.
            deadline = time.monotonic() + 10
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchone() != (0,):
                assert time.monotonic() < deadline, "the terminated backends did not exit"
                time.sleep(0.01)
        # /phone reads its session with a lookup: every lookup connection is dead too.
        pages = [client.get(path).status_code for path in ("/healthz", "/phone") * 10]
        assert pages == [200] * 20


def test_a_sqlite_lookup_that_fails_is_the_busy_page(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup SQLite cannot answer for another reason than a lock (a disk I/O error, say) is
    a passing outage like the others: the busy page, never a 500."""
    settings = Settings(secret_key="test-secret-key-lookup", database_url=sqlite_url)

    def failing(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with TestClient(create_app(settings), follow_redirects=False) as client:
        monkeypatch.setattr(lookups.Lookup, "on_sqlite", failing)
        answer = client.get("/phone", headers={"Cookie": "portal_session=" + "A" * 43})
    assert_busy_page(answer)
