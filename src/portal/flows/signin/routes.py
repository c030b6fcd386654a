"""Sign in and sign out."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.domain import audit
from portal.domain.accounts import parse_username
from portal.flows.signin.service import check_sign_in
from portal.security.policy import strength
from portal.security.throttle import DEVICE_COOKIE, DEVICE_COOKIE_SECONDS
from portal.web import csrf, guard, htmx, sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of
from portal.web.templating import render

INVALID = "Invalid username or password"
EXPIRED_FORM = "The sign-in form had expired. Please try again."
IDLE_NOTICE = "You were signed out after a period without activity."
SIGNED_OUT_NOTICE = "You have been signed out."
# Carries "you have been signed out" to the login page once: the session it could have gone in
# is gone, and a page that shows the login form stores nothing on the server.
SIGNED_OUT_COOKIE = "portal_signed_out"
HOME = "/phone"


def _login_page(
    request: Request, *, status_code: int = 200, error: str | None = None, **form: Any
) -> Response:
    notice = form.get("notice")
    context = {
        "error": error,
        "username": form.get("username", ""),
        "next": form.get("next", ""),
        "notice": notice,
        # What a finished change left to say (a reset's "Your password was changed"): good news.
        "success": None if notice else sessions.take_flash(request),
    }
    return render(request, "login.html", context, fragment=["form"], status_code=status_code)


def _next(value: str) -> str:
    return value if guard.is_local_path(value) else ""


async def login(request: Request) -> Response:
    if request.method == "GET":
        if await guard.current_account(request) is not None:
            return htmx.redirect(request, HOME)
        signed_out = request.cookies.get(SIGNED_OUT_COOKIE) is not None
        notice = IDLE_NOTICE if request.query_params.get("reason") == "idle" else None
        if notice is None and signed_out:
            notice = SIGNED_OUT_NOTICE
        page = _login_page(request, next=_next(request.query_params.get("next", "")), notice=notice)
        if signed_out:
            page.delete_cookie(SIGNED_OUT_COOKIE, path="/login")
        return page

    try:
        form = await csrf.checked_form(request)
    except csrf.CSRFError:
        # Already signed in (a second click on Sign In, or a sign-in tab left open while this
        # browser signed in elsewhere): the form's token went with the sign-in, and the user
        # wants what it gives. Otherwise most likely a login page left open past the session's
        # life: offer a fresh form, whose token the re-render makes when the session has none.
        if await guard.current_account(request) is not None:
            return htmx.redirect(request, HOME)
        return _login_page(request, status_code=403, error=EXPIRED_FORM)
    username = csrf.text_field(form, "username")
    target = _next(csrf.text_field(form, "next"))
    shared = shared_of(request)
    outcome = await check_sign_in(
        shared,
        username,
        csrf.text_field(form, "password"),
        client_address(request, shared.settings.trusted_proxies),
        request.cookies.get(DEVICE_COOKIE),
        sessions.alongside(request),
    )
    shown = username.strip()[:64]
    if outcome.status == "locked":
        return _login_page(
            request, status_code=429, error=outcome.locked_message, username=shown, next=target
        )
    if outcome.who is None:
        return _login_page(request, error=INVALID, username=shown, next=target)
    await guard.sign_in(request, outcome.who.id, outcome.who.stamp)
    csrf.rotate(request)
    response = htmx.redirect(request, target or HOME)
    if outcome.device_cookie:
        response.set_cookie(
            DEVICE_COOKIE,
            outcome.device_cookie,
            max_age=DEVICE_COOKIE_SECONDS,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=shared.settings.https,
        )
    return response


async def logout(request: Request) -> Response:
    if request.session.get(guard.USER_KEY) is None:
        return htmx.redirect(request, "/login")  # nothing to end, so nothing to protect
    await csrf.checked_form(request)
    account = await guard.current_account(request)
    await sessions.end(request)
    if account is not None:
        shared = shared_of(request)
        async with shared.db() as db:
            address = client_address(request, shared.settings.trusted_proxies)
            await audit.record(db, "sign-out", "success", account.username, address)
    response = htmx.redirect(request, "/login")
    response.set_cookie(
        SIGNED_OUT_COOKIE,
        "1",
        max_age=60,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=shared_of(request).settings.https,
    )
    return response


async def password_strength(request: Request) -> Response:
    """The hint beside a new-password field, asked for while typing (POST: never in a URL)."""
    form = await csrf.checked_form(request)
    password = csrf.text_field(form, "new_password")
    username = parse_username(csrf.text_field(form, "username"))
    hint = (
        strength(
            password,
            shared_of(request).settings.password_min_length,
            username=str(username) if username else None,
            tenant_code=username.tenant_code if username else None,
        )
        if password
        else None
    )
    return render(request, "components/_strength.html", {"hint": hint})


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/password-strength", password_strength, methods=["POST"]),
]
