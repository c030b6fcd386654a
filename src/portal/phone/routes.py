"""The softphone's endpoints: fresh credentials for the page, and the page saying a call is on."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.phone.client import client_config
from portal.web import csrf, guard, sessions
from portal.web.shared import shared_of

NO_STORE = {"Cache-Control": "no-store"}


async def credentials(request: Request) -> Response:
    """Short-lived SIP (and TURN) credentials for the signed-in extension, and nobody else.

    Fetching them is not activity: the page asks on a timer, and that must not keep an idle
    session alive. They end when the session would, so they never outlive a sign-out by idling.
    """
    sessions.mark_passive(request)
    shared = shared_of(request)
    settings = shared.settings
    account = await guard.current_account(request)
    remaining = (
        sessions.remaining_seconds(request, settings.session_idle_seconds, shared.clock)
        if account is not None
        else 0.0
    )
    if account is None or remaining < 1:
        return JSONResponse({"error": "signed out"}, 401, headers=NO_STORE)
    if settings.sip_ws_url is None:
        return JSONResponse({"error": "no phone system"}, 404, headers=NO_STORE)
    config = client_config(settings, account, shared.clock(), remaining)
    return JSONResponse(config, headers=NO_STORE)


async def activity(request: Request) -> Response:
    """A call is being placed, answered or held: that is use, so the session slides."""
    await csrf.checked_form(request)
    if await guard.current_account(request) is None:
        return JSONResponse({"error": "signed out"}, 401, headers=NO_STORE)
    return Response(status_code=204, headers=NO_STORE)


routes = [
    Route("/phone/credentials", credentials),
    Route("/phone/activity", activity, methods=["POST"]),
]
