"""Who is signed in, and the decorator that keeps pages for signed-in users only.

A signed-in request reads its session and nothing else: the account's fields the pages show
live in the session. Ending an extension's sessions deletes them from the store (a password
change, a reset, `set-password`, a disabled extension, signing out everywhere), so a session
that is found is live. Once per refresh interval, when the session slides anyway, the account
is read again: its fields refresh, and a session whose extension vanished, was disabled or had
its password set behind the store's back (by hand in the database, or a process that died
between committing a change and ending the sessions) ends there.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from portal.domain.accounts import Account, load_account
from portal.security.sessionstore import Owner
from portal.web import htmx, sessions
from portal.web.shared import shared_of

USER_KEY = sessions.OWNER
STAMP_KEY = "stamp"
SHOWN_KEY = "acct"  # the account's fields as pages show them: number, name, tenant
# When this session last proved who it is (a password or a passkey, checked): adding or removing
# a passkey asks for that within REVERIFY_SECONDS.
VERIFIED_KEY = "verified"
REVERIFY_SECONDS = 300


def shown(account: Account) -> dict[str, str]:
    return {
        "number": account.number,
        "name": account.name,
        "tenant_code": account.tenant_code,
        "tenant_name": account.tenant_name,
    }


def _from_session(user_id: int, stamp: object, shown: object) -> Account | None:
    if not isinstance(stamp, str) or not isinstance(shown, dict):
        return None  # a session from before its fields were kept in it
    try:
        return Account(id=user_id, stamp=stamp, **shown)
    except TypeError:
        return None


Endpoint = Callable[[Request], Awaitable[Response]]


async def current_account(request: Request) -> Account | None:
    """The signed-in account, from the session alone but when it slides (see above)."""
    data = request.session
    user_id = data.get(USER_KEY)
    if not isinstance(user_id, int):
        return None
    account = _from_session(user_id, data.get(STAMP_KEY), data.get(SHOWN_KEY))
    if account is not None and sessions.slides_now(request):
        fresh = await load_account(shared_of(request).engine, user_id)
        account = fresh if fresh is not None and fresh.stamp == account.stamp else None
        if account is not None and data[SHOWN_KEY] != shown(account):
            data[SHOWN_KEY] = shown(account)
    if account is None:
        await sessions.end(request)
    return account


async def sign_in(request: Request, account: Account) -> None:
    """Start a signed-in session on a new id; the pre-login id dies here. The session is
    stored only while `account.stamp` is still the extension's (see `StaleCredentials`)."""
    await sessions.rotate(request)
    request.session.clear()
    request.session[USER_KEY] = account.id
    request.session[STAMP_KEY] = account.stamp
    request.session[SHOWN_KEY] = shown(account)
    verified(request)
    sessions.state_of(request).owner = Owner(account.id, account.stamp)


def verified(request: Request) -> None:
    """This session just proved who it is: its password or one of its passkeys was checked."""
    request.session[VERIFIED_KEY] = shared_of(request).clock()


def recently_verified(request: Request) -> bool:
    """Whether this session proved who it is within the last REVERIFY_SECONDS."""
    at = request.session.get(VERIFIED_KEY)
    if not isinstance(at, int | float):
        return False
    return 0 <= shared_of(request).clock() - at <= REVERIFY_SECONDS


def keep_signed_in(request: Request, stamp: str | None) -> None:
    """After this session changed the password: it stays signed in, under the new stamp, on
    the new id the caller rotated to."""
    if stamp is None:
        return
    request.session[STAMP_KEY] = stamp
    user_id = request.session[USER_KEY]
    sessions.state_of(request).owner = Owner(user_id, stamp)


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
