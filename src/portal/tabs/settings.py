"""The Settings tab: the account's settings, Change Password first, then its passkeys and where it
is signed in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.flows.devices.routes import section_context
from portal.flows.passkeys import routes as passkeys
from portal.flows.password.routes import form_context
from portal.tabs.tab import TAB_FRAGMENT, Tab
from portal.web import guard, sessions
from portal.web.shared import shared_of
from portal.web.templating import render


@guard.login_required
async def settings(request: Request) -> Response:
    context = form_context(shared_of(request).settings, changed=sessions.take_flash(request))
    context.update(await section_context(request))
    context.update(await passkeys.section_context(request))
    return render(request, TAB.template, context, fragment=TAB_FRAGMENT)


TAB = Tab("settings", "/settings", "Settings", "settings.html", settings)
