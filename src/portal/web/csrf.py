"""CSRF protection: a token in every form and htmx request, checked before anything changes.

A session keeps its own token (the synchronizer pattern). A visitor with no session, on the
sign-in, forgot-password and reset pages, gets a token bound to a random cookie of its own
instead, `HMAC(secret key, cookie)` (OWASP's signed double-submit cookie): showing those pages
stores nothing on the server, and the sign-in reads no session before checking the password.
The cookie is `HttpOnly` and, on https, `__Host-` prefixed, so no subdomain can plant one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets

from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request

from portal.web.shared import shared_of

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
COOKIE = "portal_csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
_PENDING = "portal.csrf_cookie"  # a cookie made during this request, for the response


class CSRFError(Exception):
    """The request's token is missing or wrong; nothing may change."""


def cookie_name(*, https: bool) -> str:
    return "__Host-" + COOKIE if https else COOKIE


@functools.lru_cache(maxsize=8)
def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"portal-csrf:" + secret_key.encode()).digest()


def cookie_token(secret_key: str, cookie: str) -> str:
    """The form token that goes with a visitor's CSRF cookie."""
    digest = hmac.new(_key(secret_key), cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _has_session(request: HTTPConnection) -> bool:
    return "session" in request.scope and bool(request.session)


def _settings_of(request: HTTPConnection) -> tuple[str, bool]:
    settings = shared_of(request).settings
    return settings.secret_key, settings.https


def _cookie(request: HTTPConnection) -> str | None:
    """This visitor's CSRF cookie: the one it sent, or one made for it during this request."""
    pending = request.scope.get(_PENDING)
    if isinstance(pending, str):
        return pending
    _, https = _settings_of(request)
    sent = request.cookies.get(cookie_name(https=https))
    return sent if sent is not None and _NONCE.fullmatch(sent) else None


def _expected(request: HTTPConnection) -> str | None:
    """The token this visitor's forms carry: its session's, or its cookie's; None if neither."""
    if "session" not in request.scope:
        return None
    if _has_session(request):
        value = request.session.get(SESSION_KEY)
        return value if isinstance(value, str) else None
    cookie = _cookie(request)
    if cookie is None:
        return None
    secret_key, _ = _settings_of(request)
    return cookie_token(secret_key, cookie)


def token(request: Request) -> str:
    """The token for this visitor's forms, made on first use."""
    if "session" not in request.scope:
        return ""
    existing = _expected(request)
    if existing is not None:
        return existing
    if _has_session(request):
        request.session[SESSION_KEY] = secrets.token_urlsafe(32)
    else:
        request.scope[_PENDING] = secrets.token_urlsafe(32)
    made = _expected(request)
    assert made is not None
    return made


def set_cookie_header(request: HTTPConnection) -> str | None:
    """The Set-Cookie value for a CSRF cookie made during this request, if one was."""
    pending = request.scope.get(_PENDING)
    if not isinstance(pending, str):
        return None
    _, https = _settings_of(request)
    flags = "; Secure" if https else ""
    return f"{cookie_name(https=https)}={pending}; Path=/; HttpOnly; SameSite=Lax{flags}"


def rotate(request: Request) -> str:
    """A fresh token, at sign-in, so a token seen before it is worthless after."""
    request.session.pop(SESSION_KEY, None)
    return token(request)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after checking its token (field or `X-CSRF-Token` header)."""
    form = await request.form(max_files=0)  # no portal form uploads files: refused with 400
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not sent:
        sent = request.headers.get(HEADER, "")
    expected = _expected(request)
    if not isinstance(expected, str) or not secrets.compare_digest(
        sent.encode("utf-8", "replace"), expected.encode()
    ):
        raise CSRFError
    return form


def text_field(form: FormData, name: str) -> str:
    """A form field as text; missing fields and uploaded files count as empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""
