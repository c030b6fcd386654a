"""Passkeys, on the Settings tab: add one (static/js/passkeys.js), rename, remove.

Each answers with the section alone for htmx (and for passkeys.js, which sends HX-Request), and
redirects to /settings with a message without JavaScript. Adding or removing one needs the
password, or a passkey, checked within the last five minutes (`guard.recently_verified`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.flows.passkeys import service
from portal.flows.passkeys.signin import COOKIE, available, challenge_cookie
from portal.flows.passkeys.signin import routes as signin_routes
from portal.web import csrf, guard, htmx, sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of
from portal.web.templating import render

SECTION = "components/_passkeys.html"
ADD_PATH = "/settings/passkeys"
ADDED = "The passkey “{name}” was added."
RENAMED = "The passkey was renamed “{name}”."
REMOVED = "The passkey “{name}” was removed."
GONE = "That passkey is not one of yours, or was already removed."
NOTE_KEY = "_passkeys_note"  # a message for /settings after a redirect (no JavaScript)


async def section_context(
    request: Request,
    message: str | None = None,
    *,
    error: bool = False,
    mode: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    name: str = "",
) -> dict[str, Any]:
    """What the section renders with: the Settings tab uses it too. `mode` is
    {"rename": id} or {"remove": id}, from the query string without JavaScript."""
    if not available(request):
        return {"passkeys_available": False}
    if message is None:
        note = request.session.pop(NOTE_KEY, None)
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            message, error = note["text"], bool(note.get("error"))
    owner = request.state.account.id
    rows = await service.rows(shared_of(request), owner, sessions.read_with_session(request, owner))
    mode = mode if mode is not None else dict(request.query_params)
    ids = {row["id"] for row in rows}
    return service.section_values(
        rows,
        reverify=not guard.recently_verified(request),
        message=message,
        error=error,
        rename=mode.get("rename") if mode.get("rename") in ids else None,
        remove=mode.get("remove") if mode.get("remove") in ids else None,
        errors=errors,
        name=name,
    )


async def _answer(
    request: Request, message: str | None, *, error: bool = False, **extra: Any
) -> Response:
    if not htmx.is_htmx(request):
        if message:
            request.session[NOTE_KEY] = {"text": message, "error": error}
        mode = extra.get("mode") or {}
        query = f"?{urlencode(mode)}" if mode else ""
        return htmx.redirect(request, f"/settings{query}#passkeys")
    context = await section_context(request, message, error=error, **extra)
    return render(request, SECTION, context)


def _address(request: Request) -> str:
    return client_address(request, shared_of(request).settings.trusted_proxies)


async def _reverified(request: Request, password: str) -> str | None:
    """None when this session proved who it is lately, or `password` proves it now."""
    if guard.recently_verified(request):
        return None
    problem = await service.check_password(
        shared_of(request), request.state.account, password, _address(request)
    )
    if problem is None:
        guard.verified(request)
    return problem


@guard.login_required
async def section(request: Request) -> Response:
    """The section in a mode (Rename, Remove) or none (Cancel)."""
    if not available(request):
        return htmx.redirect(request, "/settings")
    return await _answer(request, None, mode=dict(request.query_params))


@guard.login_required
async def add_options(request: Request) -> Response:
    """Add a Passkey, step one: the name and (unless lately proven) the password are checked,
    then the browser gets the options for `navigator.credentials.create` as JSON."""
    form = await csrf.checked_form(request)
    if not available(request):
        return htmx.redirect(request, "/settings")
    raw_name = csrf.text_field(form, "passkey_name")
    name, problem = service.check_name(raw_name)
    errors = {"passkey_name": problem} if problem else {}
    reverify = await _reverified(request, csrf.text_field(form, "passkey_password"))
    if reverify:
        errors["passkey_password"] = reverify
    if errors:
        return await _answer(request, None, errors=errors, name=raw_name[:200])
    made = await service.add_options(shared_of(request), request.state.account, name)
    if isinstance(made, str):
        return await _answer(request, made, error=True)
    handle, options_json = made
    response = Response(options_json, media_type="application/json")
    challenge_cookie(request, response, handle, ADD_PATH)
    return response


@guard.login_required
async def add(request: Request) -> Response:
    """Add a Passkey, step two: the browser's new credential, checked and kept."""
    form = await csrf.checked_form(request)
    if not available(request) or not guard.recently_verified(request):
        return await _answer(request, service.EXPIRED, error=True)
    name, problem = await service.add(
        shared_of(request),
        request.state.account,
        request.cookies.get(COOKIE),
        csrf.text_field(form, "credential"),
        _address(request),
    )
    response = await _answer(request, problem or ADDED.format(name=name), error=bool(problem))
    response.delete_cookie(COOKIE, path=ADD_PATH)
    return response


@guard.login_required
async def rename(request: Request) -> Response:
    form = await csrf.checked_form(request)
    passkey_id = csrf.text_field(form, "passkey")
    raw_name = csrf.text_field(form, "passkey_name")
    name, problem = service.check_name(raw_name)
    if problem:
        mode = {"rename": passkey_id}
        return await _answer(
            request, problem, error=True, mode=mode, errors={"passkey_name": problem}
        )
    renamed = await service.rename(shared_of(request), request.state.account, passkey_id, name)
    if renamed is None:
        return await _answer(request, GONE, error=True)
    return await _answer(request, RENAMED.format(name=name))


@guard.login_required
async def remove(request: Request) -> Response:
    form = await csrf.checked_form(request)
    passkey_id = csrf.text_field(form, "passkey")
    problem = await _reverified(request, csrf.text_field(form, "passkey_password"))
    if problem:
        mode = {"remove": passkey_id}
        return await _answer(
            request, problem, error=True, mode=mode, errors={"passkey_password": problem}
        )
    account = request.state.account
    removed = await service.remove(shared_of(request), account, passkey_id, _address(request))
    if removed is None:
        return await _answer(request, GONE, error=True)
    return await _answer(request, REMOVED.format(name=removed.name))


routes = [
    Route(ADD_PATH, section, methods=["GET"]),
    Route(ADD_PATH + "/options", add_options, methods=["POST"]),
    Route(ADD_PATH + "/add", add, methods=["POST"]),
    Route(ADD_PATH + "/rename", rename, methods=["POST"]),
    Route(ADD_PATH + "/remove", remove, methods=["POST"]),
    *signin_routes,
]
