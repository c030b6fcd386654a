"""Who is signed in, and the decorator that keeps pages for signed-in users only."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from portal.domain.accounts import Account, load_account
from portal.web import htmx, sessions
from portal.web.shared import shared_of

USER_KEY = "uid"
STAMP_KEY = "stamp"

Endpoint = Callable[[Request], Awaitable[Response]]


async def current_account(request: Request) -> Account | None:
    """The signed-in account; a session whose password changed or account vanished is ended."""
    user_id = request.session.get(USER_KEY)
    if not isinstance(user_id, int):
        return None
    account = await load_account(shared_of(request).engine, user_id)
    if account is None or account.stamp != request.session.get(STAMP_KEY):
        await sessions.end(request)
        return None
    return account


async def sign_in(request: Request, account_id: int, stamp: str) -> None:
    """Start a signed-in session on a new id; the pre-login id dies here."""
    await sessions.rotate(request)
    request.session.clear()
    request.session[USER_KEY] = account_id
    request.session[STAMP_KEY] = stamp


def is_local_path(target: str) -> bool:
    """Only paths on this site may be followed after sign-in (no `//host`, no scheme)."""
    return (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and all(ch.isprintable() and ch not in "\\" for ch in target)
        and len(target) <= 512
    )


def _return_path(request: Request) -> str:
    """Where to come back after signing in: this page, or for a form post, the page it was on."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        current = urlsplit(request.headers.get("hx-current-url", ""))
    except ValueError:  # not a URL (`http://[`): no page to come back to
        return ""
    if current.netloc == request.url.netloc and is_local_path(current.path):
        return current.path
    return ""


def login_required(endpoint: Endpoint) -> Endpoint:
    """Run `endpoint` with `request.state.account` set, or send the visitor to sign in."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        account = await current_account(request)
        if account is None:
            target = _return_path(request)
            query = f"?next={quote(target, safe='/')}" if target else ""
            return htmx.redirect(request, "/login" + query)
        request.state.account = account
        return await endpoint(request)

    return wrapper
