"""`/healthz` answers 200 when its backends answer and 503 when they do not."""

from __future__ import annotations

from dataclasses import replace

from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.settings import Settings


def test_healthy(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


def test_database_down_is_503(settings: Settings) -> None:
    broken = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(broken)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert "database" in response.text


def test_redis_down_is_503(settings: Settings) -> None:
    broken = replace(settings, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(broken)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert "redis" in response.text
