"""Connection pools under load: a burst waits its turn for Redis; too long a wait is the 503."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from portal import app as app_module
from portal.app import create_app
from portal.base import db
from portal.base.settings import Settings
from portal.web.shared import Shared
from tests.conftest import (
    PASSWORD,
    Auth,
    assert_busy_page,
    csrf_from,
    held,
    make_account_in,
    run,
    truncate_postgres,
)
from tests.servers import portal_command, portal_server

BURST = 200  # simultaneous requests: more than redis-py's default pool of 100 connections


def test_no_redis_connection_free_in_time_is_the_busy_page_then_heals(
    sqlite_url: str, redis_available: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pooled Redis connection busy past the wait: the 503 page; then it goes through."""
    monkeypatch.setattr(app_module, "REDIS_POOL_SIZE", 1)
    monkeypatch.setattr(app_module, "REDIS_POOL_WAIT", 0.3)
    settings = Settings(
        secret_key="k",
        database_url=sqlite_url,
        redis_url=redis_available,
        redis_prefix=redis_prefix,
    )
    with TestClient(
        create_app(settings), follow_redirects=False, raise_server_exceptions=False
    ) as client:
        make_account_in(client)
        Auth(client).login()

        async def take(shared: Shared) -> Any:
            assert shared.redis is not None
            return await shared.redis.connection_pool.get_connection()

        async def give_back(shared: Shared) -> None:
            assert shared.redis is not None
            await shared.redis.connection_pool.release(taken)

        taken = run(client, take)
        busy = client.get("/phone")
        run(client, give_back)
        assert_busy_page(busy)
        assert client.get("/phone").status_code == 200


def test_no_lookup_connection_free_in_time_is_the_busy_page_then_heals(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection of the lookups' pool busy past the wait: a signed-in page, whose session
    is a lookup, is the 503 page; then it goes through."""
    monkeypatch.setattr(db, "LOOKUP_POOL_SIZE", 1)
    monkeypatch.setattr(db, "POOL_WAIT", 0.3)
    truncate_postgres(postgres_schema)
    settings = Settings(secret_key="k", database_url=postgres_schema)
    with TestClient(
        create_app(settings), follow_redirects=False, raise_server_exceptions=False
    ) as client:
        make_account_in(client)
        Auth(client).login()
        with held(client, lambda shared: db.lookup_pool(shared.engine).connection()):
            busy = client.get("/phone")
        assert_busy_page(busy)
        assert client.get("/phone").status_code == 200


@pytest.fixture
def production_env(postgres_schema: str, redis_available: str, redis_prefix: str) -> dict[str, str]:
    """The environment of a `portal serve` on PostgreSQL and Redis, with one extension."""
    truncate_postgres(postgres_schema)
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": postgres_schema,
        "PORTAL_REDIS_URL": redis_available,
        "PORTAL_REDIS_PREFIX": redis_prefix,
        "PORTAL_SECRET_KEY": "burst-test",
    }
    portal_command(env, "tenant", "add", "wickedsprockets", "--name", "Wicked Sprockets")
    add = ["extension", "add", "201-wickedsprockets", "--name", "Ada", "--password-stdin"]
    portal_command(env, *add, stdin=PASSWORD + "\n")
    return env


def test_a_burst_of_signed_in_pages_queues_for_redis_instead_of_failing(
    production_env: dict[str, str], tmp_path: Path
) -> None:
    """More simultaneous requests than pooled Redis connections: every one is served."""
    with portal_server(production_env, tmp_path / "server.log") as server:
        with httpx2.Client(base_url=server.base) as browser:
            token = csrf_from(browser.get("/login").text)
            form = {"username": "201-wickedsprockets", "password": PASSWORD, "csrf_token": token}
            assert browser.post("/login", data=form).status_code == 303
            cookies = dict(browser.cookies)

        async def burst() -> list[int]:
            limits = httpx2.Limits(max_connections=None, max_keepalive_connections=0)
            async with httpx2.AsyncClient(
                base_url=server.base, cookies=cookies, limits=limits, timeout=60
            ) as tabs:
                pages = await asyncio.gather(*(tabs.get("/phone") for _ in range(BURST)))
            return [page.status_code for page in pages]

        statuses = asyncio.run(burst())
    assert statuses == [200] * BURST
