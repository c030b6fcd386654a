"""Sign in with a passkey, from the login page (static/js/passkeys.js asks these with fetch).

POST /login/passkey/options hands out a challenge, its handle in a cookie of its own; POST
/login/passkey checks the answer and signs in exactly as a password does (`guard.sign_in`: a
new session id, the device cookie, the new-device notice), answering where to go next.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.flows.devices import signin as signed_in_from
from portal.flows.passkeys import service
from portal.flows.signin import device
from portal.flows.signin.routes import EXPIRED_FORM, HOME
from portal.security.throttle import DEVICE_COOKIE
from portal.web import csrf, guard, sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of

COOKIE = "portal_passkey"
SIGN_IN_PATH = "/login/passkey"
UNAVAILABLE = "Passkeys are not available here."
TOO_MANY = "Too many passkey requests from your address. Try again in a few minutes."


def available(request: Request) -> bool:
    """Whether passkeys can work here: the base URL's host is a name, not an IP address."""
    return shared_of(request).settings.passkey_rp_id is not None


def challenge_cookie(request: Request, response: Response, handle: str, path: str) -> None:
    """The challenge's handle goes to this browser alone, and back only to `path`."""
    response.set_cookie(
        COOKIE,
        handle,
        max_age=service.CHALLENGE_SECONDS,
        path=path,
        httponly=True,
        samesite="strict",
        secure=shared_of(request).settings.https,
    )


def _refused(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def options(request: Request) -> Response:
    try:
        await csrf.checked_form(request)
    except csrf.CSRFError:
        return _refused(EXPIRED_FORM, 403)
    if not available(request):
        return _refused(UNAVAILABLE, 404)
    shared = shared_of(request)
    address = client_address(request, shared.settings.trusted_proxies)
    if not await shared.throttle.allow_challenge(address):
        return _refused(TOO_MANY, 429)
    handle, options_json = await service.sign_in_options(shared)
    response = Response(options_json, media_type="application/json")
    challenge_cookie(request, response, handle, SIGN_IN_PATH)
    return response


async def sign_in(request: Request) -> Response:
    try:
        form = await csrf.checked_form(request)
    except csrf.CSRFError:
        return _refused(EXPIRED_FORM, 403)
    if not available(request):
        return _refused(UNAVAILABLE, 404)
    shared = shared_of(request)
    address = client_address(request, shared.settings.trusted_proxies)
    outcome = await service.sign_in(
        shared,
        request.cookies.get(COOKIE),
        csrf.text_field(form, "credential"),
        address,
        sessions.alongside(request),
    )
    if outcome.who is None:
        response = _refused(outcome.error, 429 if outcome.locked else 400)
        response.delete_cookie(COOKIE, path=SIGN_IN_PATH)
        return response
    who = outcome.who
    throttle = shared.throttle
    new_device = throttle.device_key(who.username, request.cookies.get(DEVICE_COOKIE)) is None
    await guard.sign_in(request, who)
    signed_in_from.record(request, who, new_device=new_device)
    csrf.rotate(request)
    target = csrf.text_field(form, "next")
    response = JSONResponse({"redirect": target if guard.is_local_path(target) else HOME})
    response.delete_cookie(COOKIE, path=SIGN_IN_PATH)
    device.set_cookie(request, response, throttle.new_device_cookie(who.username))
    return response


routes = [
    Route(SIGN_IN_PATH + "/options", options, methods=["POST"]),
    Route(SIGN_IN_PATH, sign_in, methods=["POST"]),
]
