"""Fixtures: the app against each storage profile, a client, and an `auth` helper.

Server tests run twice: `embedded` (SQLite, sessions in the database) and `production`
(PostgreSQL at 127.0.0.1:5432 database `test`, sessions in Redis at 127.0.0.1:6379). Under CI=true
a missing service fails the run; elsewhere those tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base import db
from portal.base.clock import Clock
from portal.base.settings import Settings
from portal.domain import accounts
from portal.security.passwords import Passwords, Verdict
from portal.web.shared import Shared
from tests.netns import netns, netns_browser, netns_portal, sip  # noqa: F401 - phone tests
from tests.smtp import smtp_sink  # noqa: F401 - a fixture for every test module

T = TypeVar("T")

POSTGRES_DSN = os.environ.get("PORTAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"
PASSWORD = "correct horse battery staple"


def missing_service(what: str, error: Exception) -> None:
    """Fail under CI (the service must be there); skip loudly elsewhere."""
    message = f"{what} is not reachable ({type(error).__name__}: {error})".splitlines()[0]
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}; start it to run these tests")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in this thread
    while its browser is open, and tests that call asyncio.run cannot run beside it."""
    browser_dir = Path(__file__).parent / "browser"
    items.sort(key=lambda item: browser_dir in Path(str(item.path)).parents)


# --- storage --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for every test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "portal.db"
    db.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A schema of our own in database `test`, migrated once, dropped at the end."""
    schema = f"portal_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        missing_service("PostgreSQL at 127.0.0.1:5432", exc)
    url = postgres_url(schema)
    db.upgrade(url)
    yield url
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def postgres_url(schema: str) -> str:
    base = POSTGRES_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}?options=-csearch_path%3D{schema}"


TABLES = ("extension", "tenant", "web_session", "outbox", "reset_token", "audit_event")


def truncate_postgres(url: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    tables = ", ".join(f'"{schema}".{table}' for table in TABLES)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def redis_available() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        missing_service("Redis at 127.0.0.1:6379", exc)
    return REDIS_URL


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """Keys of one test, deleted after it."""
    prefix = f"portal-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    if "redis_available" in request.fixturenames:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)


# --- settings and the app -----------------------------------------------------------------


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "portal.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["embedded", "production"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(profile: str, request: pytest.FixtureRequest, redis_prefix: str) -> Settings:
    """Settings for this test's profile; tests shrink numbers with `dataclasses.replace`."""
    base = Settings(secret_key="test-secret-key-" + uuid.uuid4().hex, redis_prefix=redis_prefix)
    if profile == "embedded":
        return replace(base, database_url=request.getfixturevalue("sqlite_url"))
    url = request.getfixturevalue("postgres_schema")
    redis_url = request.getfixturevalue("redis_available")
    truncate_postgres(url)
    return replace(base, database_url=url, redis_url=redis_url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Starlette:
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        yield client


def run(client: TestClient, work: Callable[[Shared], Awaitable[T]]) -> T:
    """Run async `work` on the app's own event loop, with what the app shares."""
    shared: Shared = client.app.state.shared  # type: ignore[attr-defined]

    async def go() -> T:
        return await work(shared)

    return client.portal.call(go)


@contextlib.contextmanager
def held(
    client: TestClient, take: Callable[[Shared], contextlib.AbstractAsyncContextManager[Any]]
) -> Iterator[None]:
    """`take(shared)` (a pool's only connection, say) held on the app's own event loop while
    the block runs, and given back after it."""
    taken, release = threading.Event(), threading.Event()
    shared: Shared = client.app.state.shared  # type: ignore[attr-defined]

    async def hold() -> None:
        async with take(shared):
            taken.set()
            await asyncio.to_thread(release.wait, 10)

    holding = client.portal.start_task_soon(hold)  # type: ignore[union-attr]
    try:
        assert taken.wait(5)
        yield
    finally:
        release.set()
        holding.result(5)


def assert_busy_page(response: Any) -> None:
    """The clear 503 page of a service down or a pool with no connection free in time: never a
    500, never a traceback."""
    assert response.status_code == 503
    assert "Temporarily Unavailable" in response.text
    assert "Traceback" not in response.text


@dataclass
class Account:
    username: str
    password: str
    id: int


def make_account_in(
    client: TestClient,
    username: str = "201-wickedsprockets",
    password: str = PASSWORD,
    name: str = "Ada Lovelace",
    email: str | None = "ada@example.com",
) -> Account:
    """Create a tenant (once) and an extension in it, in `client`'s app; returns its credentials."""
    code = username.split("-", 1)[1]

    async def work(shared: Shared) -> Account:
        async with shared.db() as session:
            with contextlib.suppress(accounts.AccountError):  # made by an earlier call
                await accounts.create_tenant(session, code, code.title())
            ext, _ = await accounts.create_extension(
                session, shared.passwords, username, name, email=email, password=password
            )
            assert ext.id is not None
            return Account(username, password, ext.id)

    return run(client, work)


@pytest.fixture
def make_account(client: TestClient) -> Callable[..., Account]:
    """`make_account_in` the test's client."""

    def make(username: str = "201-wickedsprockets", **kwargs: Any) -> Account:
        return make_account_in(client, username, **kwargs)

    return make


class Auth:
    """flaskr-style helper: `auth.login()`, `auth.logout()`."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        page = self.client.get(path)
        return csrf_from(page.text)

    def login(
        self,
        username: str = "201-wickedsprockets",
        password: str = PASSWORD,
        htmx: bool = False,
        **extra: str,
    ) -> Any:
        token = self.csrf()
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token, **extra},
            headers=headers,
        )

    def logout(self) -> Any:
        token = csrf_from(self.client.get("/phone").text)
        return self.client.post("/logout", data={"csrf_token": token})


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def verifies(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every password check the server makes, in order."""
    calls: list[str | None] = []
    passwords: Passwords = client.app.state.shared.passwords  # type: ignore[attr-defined]
    real = passwords._verify_sync

    def spy(stored: str | None, password: str) -> Verdict:
        calls.append(stored)
        return real(stored, password)

    monkeypatch.setattr(passwords, "_verify_sync", spy)
    return calls


@pytest.fixture
def auth(client: TestClient) -> Auth:
    return Auth(client)


@pytest.fixture
def account(make_account: Callable[..., Account]) -> Account:
    return make_account()


class LoopProbe:
    """Lets blocking work ask whether the event loop runs beside it, without timing anything.

    The work asks the loop to answer and waits for the answer: a loop that runs answers at
    once; work that blocks the loop itself never hears back, and the wait ends unanswered.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()

    def loop_answers(self, timeout: float = 5.0) -> bool:
        """Called from the work: whether the loop ran a callback while the work waited."""
        answered = threading.Event()
        self._loop.call_soon_threadsafe(answered.set)
        return answered.wait(timeout)
