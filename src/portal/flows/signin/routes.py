"""Sign in and sign out."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.base.settings import Settings
from portal.domain import audit
from portal.domain.accounts import parse_username
from portal.flows.devices import signin as signed_in_from
from portal.flows.signin import device
from portal.flows.signin.service import check_sign_in
from portal.security.policy import strength
from portal.security.throttle import DEVICE_COOKIE, Refusal
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
# From the third failure in a row, a wrong password's answer says how many may follow before
# the wait: the same for every name typed, known or not, so it tells nothing about accounts.
WARN_AFTER = 3


def _login_page(
    request: Request, *, status_code: int = 200, error: str | None = None, **form: Any
) -> Response:
    username = form.get("username", "")
    notice = form.get("notice")
    context = {
        "error": error,
        "username": username,
        "remembered": bool(username) and username == device.remembered(request),
        "next": form.get("next", ""),
        "notice": notice,
        # What a finished change left to say (a reset's "Your password was changed"): good news.
        "success": None if notice else sessions.take_flash(request),
        "locked": form.get("locked", False),  # the error ends in the wait: offer a reset
    }
    return render(request, "login.html", context, fragment=["form"], status_code=status_code)


def attempts_left(left: int, minutes: int) -> str:
    return f"{INVALID}. {left} attempt{'s' * (left != 1)} left before a {minutes}-minute wait."


def _failure(left: int | None, settings: Settings) -> tuple[str, bool]:
    """What a wrong password is told, and whether that ends in the wait."""
    wait = Refusal(settings.login_lockout_seconds)
    if left == 0:  # this failure began the wait
        return f"{INVALID}. {wait.message}", True
    if left is not None and left <= settings.login_max_failures - WARN_AFTER:
        return attempts_left(left, wait.wait_minutes), False
    return INVALID, False


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
        target = _next(request.query_params.get("next", ""))
        username = device.remembered(request) or ""
        page = _login_page(request, next=target, notice=notice, username=username)
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
        sessions.before_answer(request),
    )
    shown = username.strip()[:64]
    if outcome.status == "locked":
        error = outcome.locked_message
        return _login_page(
            request, status_code=429, error=error, locked=True, username=shown, next=target
        )
    if outcome.who is None:
        error, locked = _failure(outcome.attempts_left, shared.settings)
        return _login_page(request, error=error, locked=locked, username=shown, next=target)
    await guard.sign_in(request, outcome.who)
    signed_in_from.record(request, outcome.who, new_device=outcome.new_device)
    csrf.rotate(request)
    response = htmx.redirect(request, target or HOME)
    if outcome.device_cookie:
        device.set_cookie(request, response, outcome.device_cookie)
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
    *device.routes,
]
