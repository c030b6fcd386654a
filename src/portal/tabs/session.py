"""`/session`: the open page's own check of how long its session has left."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.web import guard, sessions
from portal.web.shared import shared_of


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


routes = [Route("/session", session_status)]
