"""The Phone tab: the extension, and where the softphone mounts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.tabs.tab import TAB_FRAGMENT, Tab
from portal.web import guard
from portal.web.templating import render


@guard.login_required
async def phone(request: Request) -> Response:
    return render(request, TAB.template, {"active": TAB.name}, fragment=TAB_FRAGMENT)


TAB = Tab("phone", "/phone", "Phone", "phone.html", phone)
