"""The signed-in tabs, and the page's own check of how long its session has left."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal import htmx
from portal.auth import guard, sessions
from portal.services import services
from portal.templating import render

TAB_FRAGMENT = ["title", "tabs", "tab"]


async def home(request: Request) -> Response:
    signed_in = await guard.current_account(request) is not None
    return htmx.redirect(request, "/phone" if signed_in else "/login")


@guard.login_required
async def phone(request: Request) -> Response:
    return render(request, "phone.html", {"active": "phone"}, fragment=TAB_FRAGMENT)


@guard.login_required
async def settings(request: Request) -> Response:
    return render(request, "settings.html", {"active": "settings"}, fragment=TAB_FRAGMENT)


async def session_status(request: Request) -> Response:
    """How many seconds the session has left; asking does not count as activity."""
    sessions.mark_passive(request)
    portal = services(request)
    account = await guard.current_account(request)
    remaining = (
        sessions.remaining_seconds(request, portal.settings.session_idle_seconds, portal.clock)
        if account
        else 0.0
    )
    return JSONResponse({"signed_in": account is not None, "remaining": int(remaining)})


routes = [
    Route("/", home),
    Route("/phone", phone),
    Route("/settings", settings),
    Route("/session", session_status),
]
