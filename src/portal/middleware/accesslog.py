"""One line per request, with the reset token cut out of the path (uvicorn's own log is off),
and a request id for every line logged while serving it (sent back as X-Request-ID)."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.base.logs import request_id

log = logging.getLogger("portal.access")
_SECRET_PATHS = re.compile(r"^(/reset-password/)[^/]+")


def loggable_path(path: str) -> str:
    """The path as it may appear in logs: a reset token is a password for an hour."""
    return _SECRET_PATHS.sub(r"\1…", path)


def holds_secret(path: str) -> bool:
    """Whether `path` carries a secret that must reach no log and no other site."""
    return _SECRET_PATHS.match(path) is not None


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        rid = secrets.token_hex(8)
        token = request_id.set(rid)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            client = scope.get("client") or ("-", 0)
            log.info(
                '%s "%s %s" %d %.1fms',
                client[0],
                scope["method"],
                loggable_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)
