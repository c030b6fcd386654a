"""Synchronizer-token CSRF protection: one token per session, in every form and htmx request."""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


class CSRFError(Exception):
    """The request's token is missing or wrong; nothing may change."""


def token(request: Request) -> str:
    """This session's token, made on first use (the login form gets one too)."""
    if "session" not in request.scope:
        return ""
    value = request.session.get(SESSION_KEY)
    if not isinstance(value, str):
        value = request.session[SESSION_KEY] = secrets.token_urlsafe(32)
    return value


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
    expected = request.session.get(SESSION_KEY) if "session" in request.scope else None
    if not isinstance(expected, str) or not secrets.compare_digest(
        sent.encode("utf-8", "replace"), expected.encode()
    ):
        raise CSRFError
    return form


def text_field(form: FormData, name: str) -> str:
    """A form field as text; missing fields and uploaded files count as empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""
