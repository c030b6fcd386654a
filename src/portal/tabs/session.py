"""`/session`: the open page's own check of how long its session has left (GET, passive), and
"Stay Signed In" from the warning before the idle sign-out (POST, which slides it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.web import csrf, guard, sessions
from portal.web.shared import shared_of

NO_STORE = {"Cache-Control": "no-store"}


async def session_status(request: Request) -> Response:
    """How many seconds the session has left; asking does not count as activity."""
    sessions.mark_passive(request)
    shared = shared_of(request)
    account = await guard.current_account(request)
    remaining = (
        sessions.remaining_seconds(request, shared.settings.session_idle_seconds, shared.clock)
        if account
        else 0.0
    )
    return JSONResponse({"signed_in": account is not None, "remaining": int(remaining)})


async def stay_signed_in(request: Request) -> Response:
    """The user is here: this request is interaction, so the session middleware slides the
    expiry on its way out. The answer says how long is left once it has."""
    await csrf.checked_form(request)
    shared = shared_of(request)
    settings = shared.settings
    if await guard.current_account(request) is None:
        return JSONResponse({"signed_in": False, "remaining": 0}, 401, headers=NO_STORE)
    idle = settings.session_idle_seconds
    remaining = sessions.remaining_seconds(request, idle, shared.clock)
    # The middleware slides an expiry that is at least `session_refresh_seconds` old (one store
    # write a minute); a fresher one stays as it is.
    if remaining <= idle - settings.session_refresh_seconds:
        remaining = idle
    return JSONResponse({"signed_in": True, "remaining": int(remaining)}, headers=NO_STORE)


routes = [
    Route("/session", session_status),
    Route("/session", stay_signed_in, methods=["POST"]),
]
