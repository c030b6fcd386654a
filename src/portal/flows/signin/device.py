"""The device cookie at the web's edge: set after a sign-in, read for the name the login page
offers again, and "Not you?", which makes the page forget that name."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.security.throttle import DEVICE_COOKIE, DEVICE_COOKIE_SECONDS
from portal.web import guard
from portal.web.shared import shared_of

NOT_YOU = "/login/not-you"


def set_cookie(request: Request, response: Response, value: str) -> None:
    """Sent only to the login page's own paths, never to script, nor with another site's
    requests: the name in it goes nowhere else."""
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=shared_of(request).settings.https,
    )


def remembered(request: Request) -> str | None:
    """The username this browser signed in with, if its device cookie is genuine."""
    return shared_of(request).throttle.remembered(request.cookies.get(DEVICE_COOKIE))


async def not_you(request: Request) -> Response:
    """Forget the remembered name and show the empty form. The device keeps its own counter for
    that name. A GET, so that it is a plain link: it can do no harm, as another site's link
    arrives without the (SameSite=Strict) cookie, and all it does is hide a name."""
    target = request.query_params.get("next", "")
    query = f"?{urlencode({'next': target})}" if guard.is_local_path(target) else ""
    response = RedirectResponse("/login" + query, status_code=303)
    kept = shared_of(request).throttle.without_name(request.cookies.get(DEVICE_COOKIE))
    if kept is not None:
        set_cookie(request, response, kept)
    return response


routes = [Route(NOT_YOU, not_you, methods=["GET"])]
