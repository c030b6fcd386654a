"""`/healthz`: 200 when the database (and Redis, if configured) answer, 503 otherwise."""

from __future__ import annotations

import logging

import anyio
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from portal.web.shared import shared_of

log = logging.getLogger("portal.health")


async def healthz(request: Request) -> Response:
    shared = shared_of(request)
    problems = []
    try:
        with anyio.fail_after(3):
            async with shared.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        log.warning("health: database did not answer: %s", type(exc).__name__)
        problems.append("database")
    if shared.redis is not None:
        try:
            with anyio.fail_after(3):
                await shared.redis.ping()
        except Exception as exc:  # noqa: BLE001
            log.warning("health: redis did not answer: %s", type(exc).__name__)
            problems.append("redis")
    if problems:
        return PlainTextResponse("unavailable: " + ", ".join(problems), status_code=503)
    return PlainTextResponse("ok")


routes = [Route("/healthz", healthz)]
