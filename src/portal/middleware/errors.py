"""Error pages in the portal's look; never a traceback in a browser."""

from __future__ import annotations

import logging

import psycopg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.middleware.accesslog import holds_secret, loggable_path
from portal.middleware.headers import security_headers
from portal.web import csrf, htmx
from portal.web.templating import render

log = logging.getLogger("portal.middleware.errors")

MESSAGES = {
    400: ("Bad request", "The portal could not understand that request."),
    403: ("Form expired", "This form has expired. Reload the page and try again."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "That action is not available here."),
    413: ("Too large", "That request was too large."),
    500: ("Something went wrong", "The portal hit a problem. Please try again in a moment."),
    503: (
        "Temporarily unavailable",
        "The portal cannot reach its storage just now, so signing in and your pages are "
        "unavailable for a moment. Please try again in a minute.",
    ),
}
# A database or Redis that does not answer, or no database connection free in time: a passing
# outage, not a bug. Nothing goes ahead without them (sign-in fails closed), and the pools
# reconnect by themselves when they return.
OUTAGES = (
    RedisConnectionError,
    RedisTimeoutError,
    OperationalError,
    psycopg.OperationalError,  # a lookup's, which runs on the driver itself (portal.base.lookups)
    InterfaceError,
    PoolTimeoutError,
    OSError,
)


def error_page(request: Request, status_code: int) -> Response:
    title, message = MESSAGES.get(status_code, (f"Error {status_code}", "That did not work."))
    response = render(
        request,
        "error.html",
        {"title": title, "message": message, "status_code": status_code},
        fragment=["error"],
        status_code=status_code,
    )
    if htmx.is_htmx(request):
        htmx.retarget(response, "#main")
    return response


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_page(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def csrf_failure(request: Request, exc: Exception) -> Response:
    return error_page(request, 403)


async def server_error(request: Request, exc: Exception) -> Response:
    path = request.url.path
    log.exception("unhandled error on %s %s", request.method, loggable_path(path))
    try:
        response = error_page(request, 500)
    except Exception:  # noqa: BLE001 - the error page itself failed: say it plainly
        response = Response("Something went wrong.", 500, media_type="text/plain")
    # As Starlette's last resort it runs outside the header middleware: set them here too.
    headers = security_headers(https=request.url.scheme == "https", secret=holds_secret(path))
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = "no-store"
    return response


class ErrorPageMiddleware:
    """Answers a failure with the portal's page, inside the access log and the headers.

    The database or Redis not answering is an outage, expected now and then: 503, logged as a
    warning without a traceback, never looking like a bug to the user. Anything else is a bug:
    500, its traceback logged once, under the request id its page carries. The error goes no
    further: the server would log it again, without the id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except OUTAGES as exc:
            if started:
                raise
            log.warning(
                "storage unavailable on %s %s: %s",
                scope["method"],
                loggable_path(scope["path"]),
                type(exc).__name__,
            )
            await error_page(Request(scope), 503)(scope, receive, send)
        except Exception as exc:
            if started:
                raise  # half an answer is out: only the server can end the connection
            await (await server_error(Request(scope), exc))(scope, receive, send)


# Starlette's last resort, outermost: for a failure of the middleware around ours.
exception_handlers = {
    HTTPException: http_exception,
    csrf.CSRFError: csrf_failure,
    Exception: server_error,
}
