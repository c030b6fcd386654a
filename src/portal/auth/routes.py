"""Sign in and sign out."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import csrf, htmx
from portal.accounts import authenticate, credential_stamp
from portal.auth import guard, sessions
from portal.services import services
from portal.templating import render

log = logging.getLogger("portal.auth")

INVALID = "Invalid username or password"
EXPIRED_FORM = "The sign-in form had expired. Please try again."
HOME = "/phone"


def _login_page(
    request: Request, *, status_code: int = 200, error: str | None = None, **form: Any
) -> Response:
    context = {
        "error": error,
        "username": form.get("username", ""),
        "next": form.get("next", ""),
        "notice": form.get("notice"),
    }
    return render(request, "login.html", context, fragment=["form"], status_code=status_code)


def _next(value: str) -> str:
    return value if guard.is_local_path(value) else ""


async def login(request: Request) -> Response:
    if request.method == "GET":
        if await guard.current_account(request) is not None:
            return htmx.redirect(request, HOME)
        notice = (
            "You were signed out after a period without activity."
            if request.query_params.get("reason") == "idle"
            else None
        )
        return _login_page(request, next=_next(request.query_params.get("next", "")), notice=notice)

    try:
        form = await csrf.checked_form(request)
    except csrf.CSRFError:
        # Most likely a login page left open past the session's life: offer a fresh form,
        # whose token the re-render makes when the session has none.
        return _login_page(request, status_code=403, error=EXPIRED_FORM)
    username = csrf.text_field(form, "username")
    password = csrf.text_field(form, "password")
    target = _next(csrf.text_field(form, "next"))
    portal = services(request)
    async with portal.db() as db:
        extension = await authenticate(db, portal.passwords, username, password)
    shown_username = username.strip()[:64]
    client = request.client.host if request.client else "-"
    if extension is None or extension.id is None:
        log.info("sign-in failure username=%r client=%s", shown_username, client)
        return _login_page(request, error=INVALID, username=shown_username, next=target)
    await guard.sign_in(request, extension.id, credential_stamp(extension))
    csrf.rotate(request)
    log.info("sign-in success username=%r client=%s", shown_username, client)
    return htmx.redirect(request, target or HOME)


async def logout(request: Request) -> Response:
    if request.session.get(guard.USER_KEY) is None:
        return htmx.redirect(request, "/login")  # nothing to end, so nothing to protect
    await csrf.checked_form(request)
    await sessions.end(request)
    return htmx.redirect(request, "/login")


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
