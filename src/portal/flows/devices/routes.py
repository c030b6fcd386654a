"""Where you're signed in, on the Settings tab: end one other session, or all of them.

Both answer with the section alone for htmx, and redirect to /settings with a message without
JavaScript. Ending takes effect at the ended session's next request: its entry is gone."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.domain import audit, signouts
from portal.flows.devices import service
from portal.web import csrf, guard, htmx, sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of
from portal.web.templating import render

SECTION = "components/_sessions.html"
ENDED = "{device} was signed out."
NOT_FOUND = "That session had already ended, or is not one of yours: nothing was signed out."
OTHERS_ENDED = "Every other session was signed out."
NOTE_KEY = "_sessions_note"  # a message for /settings after a redirect (no JavaScript)


async def section_context(
    request: Request, message: str | None = None, *, error: bool = False
) -> dict[str, Any]:
    """What the section renders with: the Settings tab uses it too."""
    shared = shared_of(request)
    account = request.state.account
    if message is None:
        note = request.session.pop(NOTE_KEY, None)
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            message, error = note["text"], bool(note.get("error"))
    rows = await service.signed_in(
        shared.store,
        shared.settings.secret_key,
        account.id,
        sessions.state_of(request).id,
        read.sessions if (read := sessions.read_with_session(request, account.id)) else None,
    )
    return {"signed_in": rows, "sessions_message": message, "sessions_error": error}


async def _answer(request: Request, message: str, *, error: bool = False) -> Response:
    if not htmx.is_htmx(request):
        request.session[NOTE_KEY] = {"text": message, "error": error}
        return htmx.redirect(request, "/settings")
    return render(request, SECTION, await section_context(request, message, error=error))


def _audit(request: Request, db: AsyncSession, event: str) -> None:
    address = client_address(request, shared_of(request).settings.trusted_proxies)
    audit.add(db, event, "success", request.state.account.username, address)


@guard.login_required
async def sign_out_one(request: Request) -> Response:
    """End one other session of this extension, named by its row's handle."""
    form = await csrf.checked_form(request)
    shared = shared_of(request)
    account = request.state.account
    handle = csrf.text_field(form, "session")
    current = sessions.state_of(request).id
    ended = await service.end_by_handle(
        shared.store, shared.settings.secret_key, account.id, handle, keep=current
    )
    if ended is None:
        return await _answer(request, NOT_FOUND, error=True)
    async with shared.db() as db:
        _audit(request, db, "sign-out-session")
        await db.commit()
    return await _answer(request, ENDED.format(device=ended.label))


@guard.login_required
async def sign_out_others(request: Request) -> Response:
    """Sign Out Everywhere Else: every session of this extension but this one ends."""
    await csrf.checked_form(request)
    shared = shared_of(request)
    async with shared.db() as db:
        _audit(request, db, "sign-out-others")  # committed with the ending
        keep = sessions.state_of(request).id
        await signouts.sign_out_everywhere(db, shared.store, request.state.account.id, keep)
    return await _answer(request, OTHERS_ENDED)


routes = [
    Route("/settings/sessions/sign-out", sign_out_one, methods=["POST"]),
    Route("/settings/sessions/sign-out-others", sign_out_others, methods=["POST"]),
]
