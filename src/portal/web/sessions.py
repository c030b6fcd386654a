"""A request's session: its state, the helpers routes call (rotate, end, mark passive, commit
alongside, time left) and one-time messages. `portal.middleware.sessions` loads and saves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection, Request

from portal.base.clock import Clock
from portal.security.alongside import Alongside
from portal.security.sessionstore import SEEN, Owner, OwnerRead, PortalStore
from portal.web.shared import shared_of

OWNER = "uid"  # the signed-in extension's id: the store indexes the session under it


@dataclass
class SessionState:
    """One request's view of its session, kept in the ASGI scope beside `scope["session"]`."""

    id: str | None = None
    replacing: str | None = None  # rotated away: deleted when the new id is stored
    loaded: bytes = b""
    cookie: str | None = None  # the session cookie the browser sent, if any
    passive: bool = False
    owner: Owner | None = None  # set by a sign-in: whose session a new id stores
    data: dict[str, Any] = field(default_factory=dict)
    alongside: list[Alongside] = field(default_factory=list)
    before_answer: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    owned: OwnerRead | None = None  # read with the session, on the pages that ask


def state_of(connection: HTTPConnection) -> SessionState:
    state: SessionState = connection.scope["portal.session"]
    return state


def _store(connection: HTTPConnection) -> PortalStore:
    return shared_of(connection).store


async def remove(state: SessionState, store: PortalStore) -> None:
    """Delete the session's entry, and one it was rotated away from, from the store now."""
    for session_id in (state.id, state.replacing):
        if session_id is not None:
            await store.remove(session_id)
    state.id = state.replacing = None


async def rotate(request: Request) -> None:
    """Give the session a new id: the old one is deleted, in the same store step that saves the
    new one, before the answer leaves; it can never be used again."""
    state = state_of(request)
    if state.id is not None:
        state.replacing, state.id = state.id, None


async def end(request: Request) -> None:
    """Delete the session on the server now and clear it; the response expires the cookie."""
    await remove(state_of(request), _store(request))
    request.session.clear()


def read_with_session(request: Request, owner: int) -> OwnerRead | None:
    """What the store read about `owner` with this request's session (on the pages the
    middleware's `listed_on` names, which are GETs: nothing changes it meanwhile); None: ask
    the store."""
    read = state_of(request).owned
    return read if read is not None and read.owner == owner else None


def slides_now(request: Request) -> bool:
    """Whether this request will slide the session's expiry (and so rewrite it): at most once
    per refresh interval, never for a passive request."""
    state = state_of(request)
    seen = request.session.get(SEEN)
    if state.passive or state.id is None or not isinstance(seen, int | float):
        return False
    shared = shared_of(request)
    return shared.clock() - seen >= shared.settings.session_refresh_seconds


def mark_passive(request: Request) -> None:
    """This request is not user interaction: it must not slide the idle timer."""
    state_of(request).passive = True


def alongside(request: Request) -> list[Alongside]:
    """Database work to commit when this request's session is saved, before the answer leaves:
    in the same transaction as a new session's row when sessions live in the database, on its
    own otherwise. A flow appends to it (the sign-in's audit row); the middleware writes it."""
    return state_of(request).alongside


def before_answer(request: Request) -> list[Callable[[], Awaitable[None]]]:
    """Work that must end before the answer leaves but need not end before the session is
    saved: the middleware runs it beside the save (the sign-in gives its throttle place back
    there, saving a round trip)."""
    return state_of(request).before_answer


def remaining_seconds(request: Request, idle_seconds: int, clock: Clock) -> float:
    """Seconds until the session expires for lack of interaction (0 when there is none)."""
    seen = request.session.get(SEEN)
    if seen is None:
        return 0.0
    return max(0.0, float(seen) + idle_seconds - clock())


FLASH = "_flash"


def flash(request: Request, message: str) -> None:
    """A message for the next page this browser shows (after a redirect)."""
    request.session[FLASH] = message


def take_flash(request: Request) -> str | None:
    """The pending message, once."""
    message = request.session.pop(FLASH, None)
    return message if isinstance(message, str) else None
