"""The signed-in tabs: THE registry, read by the layout's tab bar, the routes and the tests.

A new tab is one template, one module here (its endpoint and its `TAB`) and one entry below.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.tabs import phone, session, settings
from portal.tabs.tab import Tab
from portal.web import guard, htmx

TABS: tuple[Tab, ...] = (phone.TAB, settings.TAB)


async def home(request: Request) -> Response:
    signed_in = await guard.current_account(request) is not None
    return htmx.redirect(request, TABS[0].path if signed_in else "/login")


routes: list[BaseRoute] = [
    Route("/", home),
    *(Route(tab.path, tab.endpoint) for tab in TABS),
    *session.routes,
]
