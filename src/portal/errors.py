"""Error pages in the portal's look; never a traceback in a browser."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from portal import csrf, htmx
from portal.security import security_headers
from portal.templating import render

log = logging.getLogger("portal.errors")

MESSAGES = {
    400: ("Bad request", "The portal could not understand that request."),
    403: ("Form expired", "This form has expired. Reload the page and try again."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "That action is not available here."),
    413: ("Too large", "That request was too large."),
    500: ("Something went wrong", "The portal hit a problem. Please try again in a moment."),
}


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
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    try:
        response = error_page(request, 500)
    except Exception:  # noqa: BLE001 - the error page itself failed: say it plainly
        response = Response("Something went wrong.", 500, media_type="text/plain")
    # ServerErrorMiddleware sits outside the header middleware, so set them here too.
    for name, value in security_headers(https=request.url.scheme == "https").items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = "no-store"
    return response


exception_handlers = {
    HTTPException: http_exception,
    csrf.CSRFError: csrf_failure,
    Exception: server_error,
}
