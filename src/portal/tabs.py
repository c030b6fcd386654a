"""The signed-in tabs, and the page's own check of how long its session has left."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal import csrf, htmx
from portal.auth import guard, sessions
from portal.auth.changes import change_password
from portal.clients import client_address
from portal.services import services
from portal.settings import Settings
from portal.templating import render

TAB_FRAGMENT = ["title", "tabs", "tab"]


async def home(request: Request) -> Response:
    signed_in = await guard.current_account(request) is not None
    return htmx.redirect(request, "/phone" if signed_in else "/login")


@guard.login_required
async def phone(request: Request) -> Response:
    return render(request, "phone.html", {"active": "phone"}, fragment=TAB_FRAGMENT)


CHANGED_MESSAGE = "Your password was changed. Your other sessions were signed out."


def settings_context(settings: Settings, **extra: object) -> dict[str, object]:
    """What the Settings tab renders with (the pattern gallery and the benchmark use it too)."""
    return {
        "active": "settings",
        "errors": {},
        "changed": None,
        "min_length": settings.password_min_length,
        **extra,
    }


@guard.login_required
async def settings(request: Request) -> Response:
    context = settings_context(services(request).settings, changed=sessions.take_flash(request))
    return render(request, "settings.html", context, fragment=TAB_FRAGMENT)


@guard.login_required
async def settings_password(request: Request) -> Response:
    """Change Password: errors beside their fields; success keeps this session, on a new id."""
    form = await csrf.checked_form(request)
    portal = services(request)
    result = await change_password(
        portal,
        request.state.account,
        csrf.text_field(form, "current_password"),
        csrf.text_field(form, "new_password"),
        csrf.text_field(form, "confirm_password"),
        client_address(request, portal.settings.trusted_proxies),
    )
    if not result.ok:
        context = settings_context(portal.settings, errors=result.errors)
        return render(request, "settings.html", context, fragment=["change_password"])
    await sessions.rotate(request)
    request.session[guard.STAMP_KEY] = result.stamp
    if not htmx.is_htmx(request):
        sessions.flash(request, CHANGED_MESSAGE)
        return htmx.redirect(request, "/settings")
    context = settings_context(portal.settings, changed=CHANGED_MESSAGE)
    return render(request, "settings.html", context, fragment=["change_password"])


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
    Route("/settings/password", settings_password, methods=["POST"]),
    Route("/session", session_status),
]
