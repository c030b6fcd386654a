"""`/dev/mail`: what the demo's mail sink caught, newest first (demo mode only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.web.shared import shared_of
from portal.web.templating import render


async def mail_page(request: Request) -> Response:
    """What the portal has sent, newest first (demo mode only: the app mounts it then)."""
    sink = shared_of(request).mail_sink
    messages = sink.messages if sink is not None else []
    return render(
        request,
        "dev_mail.html",
        {"messages": messages, "running": sink is not None},
        fragment=["messages"],
    )


routes = [Route("/dev/mail", mail_page)]
