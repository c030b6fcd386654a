"""The application's lifespan: what it sets up for serving, and gives back when it ends."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.settings import Settings


def test_what_lives_as_long_as_the_app_is_not_walked_by_the_collector(settings: Settings) -> None:
    """Full collections walk only what requests made, not the modules, templates and engines
    (a walk of everything took tens of milliseconds, and the requests in flight waited)."""
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings)) as client:
        assert gc.get_freeze_count() > 10_000
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0  # given back: a later app's leftovers can be collected
