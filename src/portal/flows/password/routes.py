"""Change Password, on the Settings tab: POST /settings/password answers with its section."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.base.settings import Settings
from portal.flows.devices.routes import section_context
from portal.flows.passkeys import routes as passkeys
from portal.flows.password.service import JustReplaced, change_password
from portal.web import csrf, guard, htmx, sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of
from portal.web.templating import render

CHANGED_MESSAGE = "Your password was changed. Your other sessions were signed out."
REPLACED_KEY = "_replaced"  # the hash this session's last change replaced, and when


def _just_replaced(request: Request) -> JustReplaced | None:
    value = request.session.get(REPLACED_KEY)
    if not isinstance(value, dict):
        return None
    old_hash, at = value.get("hash"), value.get("at")
    if not isinstance(old_hash, str) or not isinstance(at, int | float):
        return None
    return JustReplaced(old_hash, float(at))


def form_context(settings: Settings, **extra: object) -> dict[str, object]:
    """What the Change Password section renders with (the Settings tab, the pattern gallery and
    the benchmark use it too)."""
    return {
        "active": "settings",
        "errors": {},
        "changed": None,
        "min_length": settings.password_min_length,
        **extra,
    }


@guard.login_required
async def settings_password(request: Request) -> Response:
    """Change Password: errors beside their fields; success keeps this session, on a new id."""
    form = await csrf.checked_form(request)
    shared = shared_of(request)
    result = await change_password(
        shared,
        request.state.account,
        csrf.text_field(form, "current_password"),
        csrf.text_field(form, "new_password"),
        csrf.text_field(form, "confirm_password"),
        client_address(request, shared.settings.trusted_proxies),
        _just_replaced(request),
        keep=sessions.state_of(request).id,
    )
    if not result.ok:
        context = form_context(shared.settings, errors=result.errors)
        if not htmx.is_htmx(request):  # the whole page, with its other sections
            context.update(await section_context(request))
            context.update(await passkeys.section_context(request))
        return render(request, "settings.html", context, fragment=["change_password"])
    if result.replaced_hash is not None:  # a new change, not a repeat of the last one
        await sessions.rotate(request)
        request.session[REPLACED_KEY] = {"hash": result.replaced_hash, "at": shared.clock()}
    guard.keep_signed_in(request, result.stamp)
    guard.verified(request)
    if not htmx.is_htmx(request):
        sessions.flash(request, CHANGED_MESSAGE)
        return htmx.redirect(request, "/settings")
    context = form_context(shared.settings, changed=CHANGED_MESSAGE)
    return render(request, "settings.html", context, fragment=["change_password"])


routes = [Route("/settings/password", settings_password, methods=["POST"])]
