"""Forgot password: ask for a link by extension, then set a new password through it."""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.domain.accounts import parse_username
from portal.flows.reset.service import complete_reset, describe_seconds, find_reset, request_reset
from portal.web import csrf, htmx, sessions
from portal.web.addresses import client_address
from portal.web.shared import Shared, shared_of
from portal.web.templating import render

log = logging.getLogger("portal.auth")

# Says only what a username looks like, never whether one exists.
NO_USERNAME = "Enter your extension and company code, like 201-wickedsprockets."
CHANGED_MESSAGE = "Your password was changed. Sign in with your new password."


async def forgot_password(request: Request) -> Response:
    shared = shared_of(request)
    context = {
        "sent": False,
        "error": None,
        "username": request.query_params.get("username", "").strip()[:64],
        "valid_for": describe_seconds(shared.settings.reset_token_seconds),
    }
    if request.method == "GET":
        return render(request, "forgot.html", context)
    form = await csrf.checked_form(request)
    username = csrf.text_field(form, "username").strip()[:64]
    context["username"] = username
    if parse_username(username) is None:  # `201` alone names no one: nothing could be sent
        context["error"] = NO_USERNAME
        return render(request, "forgot.html", context, fragment=["forgot"])
    context["sent"] = True
    response = render(request, "forgot.html", context, fragment=["forgot"])
    # The work happens after the answer is sent: the same answer, at the same speed, whether
    # or not the extension exists or has an email address.
    address = client_address(request, shared.settings.trusted_proxies)
    response.background = BackgroundTask(_request_reset, shared, username, address)
    return response


async def _request_reset(shared: Shared, username: str, address: str) -> None:
    try:
        await request_reset(shared, username, address)
    except Exception:
        log.exception("reset request failed")


async def reset_password(request: Request) -> Response:
    """The page of a reset link. Every answer under its path, an error's too, is sent with
    `Referrer-Policy: no-referrer` (the security headers' middleware), and logs print the path
    as `/reset-password/…`: the token is a password until used."""
    shared = shared_of(request)
    token = request.path_params["token"]
    context = {
        "token": token,
        "errors": {},
        "invalid": False,
        "username": "",
        "min_length": shared.settings.password_min_length,
    }
    if request.method == "GET":
        found = await find_reset(shared, token)
        if found is None:
            context["invalid"] = True
            return render(request, "reset.html", context, status_code=410)
        extension, tenant = found
        context["username"] = f"{extension.number}-{tenant.code}"
        return render(request, "reset.html", context)

    form = await csrf.checked_form(request)
    result = await complete_reset(
        shared,
        token,
        csrf.text_field(form, "new_password"),
        csrf.text_field(form, "confirm_password"),
        client_address(request, shared.settings.trusted_proxies),
    )
    if result.invalid_link:
        context["invalid"] = True
        return render(request, "reset.html", context, fragment=["reset"], status_code=410)
    if not result.ok:
        context["errors"] = result.errors
        context["username"] = csrf.text_field(form, "username")[:64]
        return render(request, "reset.html", context, fragment=["reset"])
    sessions.flash(request, CHANGED_MESSAGE)
    return htmx.redirect(request, "/login")


routes = [
    Route("/forgot-password", forgot_password, methods=["GET", "POST"]),
    Route("/reset-password/{token}", reset_password, methods=["GET", "POST"]),
]
