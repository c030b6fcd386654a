"""The session middleware: loads the session before the app and saves it, only when needed, at
response start, before the answer leaves.

It closes the traps of starsessions' 2.2.1 middleware: it never adopts an id the store does not
hold (a cookie naming an unknown id starts a new session); a rotated id is deleted in the same
store step that saves the new one; a session ended meanwhile stays ended; and requests marked
passive (the page's own expiry check) never slide the expiry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.base.clock import Clock
from portal.security.alongside import Alongside, store_apart
from portal.security.sessionstore import ID_PATTERN, SEEN, PortalStore, Slide, StaleCredentials
from portal.web import csrf
from portal.web.sessions import OWNER, SessionState, remove
from portal.web.shared import shared_of


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


class SessionMiddleware:
    """Loads the session before the app and saves it, only when needed, at response start."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cookie_name: str = "portal_session",
        idle_seconds: int = 14400,
        refresh_seconds: float = 60.0,
        https_only: bool = False,
        skip_prefixes: tuple[str, ...] = ("/static/", "/healthz"),
        listed_on: frozenset[str] = frozenset(),
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.cookie_name = cookie_name
        self.idle = idle_seconds
        self.refresh = refresh_seconds
        self.flags = "HttpOnly; SameSite=Lax" + ("; Secure" if https_only else "")
        self.skip_prefixes = skip_prefixes
        # Pages about the signed-in extension (where it is signed in, its passkeys): a GET
        # there reads the session, its owner's sessions and the lists kept for the owner in one
        # store step (`sessions.read_with_session`).
        self.listed_on = listed_on
        self.clock = clock or Clock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        store = shared_of(connection).store
        state = await self._load(connection, store)
        scope["portal.session"] = state
        scope["session"] = state.data

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await self._save_with_alongside(state, store, connection)
                for value in (cookie, csrf.set_cookie_header(connection)):
                    if value is not None:
                        MutableHeaders(scope=message).append("Set-Cookie", value)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _load(self, connection: HTTPConnection, store: PortalStore) -> SessionState:
        state = SessionState()
        raw = state.cookie = connection.cookies.get(self.cookie_name)
        if raw is None or not ID_PATTERN.fullmatch(raw):
            return state
        scope = connection.scope
        owned = None
        if scope["method"] in ("GET", "HEAD") and scope["path"] in self.listed_on:
            blob, owned = await store.read_with_owned(raw, self.idle, OWNER)
        else:
            blob = await store.read(raw, self.idle)
        if not blob:
            return state  # unknown or expired: never adopt an id the store does not hold
        try:
            data = json.loads(blob)
        except ValueError:
            data = None
        if not isinstance(data, dict) or float(data.get(SEEN, 0)) + self.idle <= self.clock():
            await store.remove(raw)
            return state
        state.id, state.loaded, state.data, state.owned = raw, blob, data, owned
        return state

    async def _save_with_alongside(
        self, state: SessionState, store: PortalStore, connection: HTTPConnection
    ) -> str | None:
        """`_save`, and the request's alongside work: in a new session's transaction when the
        store can, else beside the save; the answer goes only once both landed."""
        items, state.alongside = state.alongside, []
        later, state.before_answer = state.before_answer, []
        created = state.id is None and bool(state.data)
        together = items if created and store.in_database else []
        apart = [] if together else items
        beside = [work() for work in later]
        if apart:
            beside.append(store_apart(shared_of(connection).engine, apart))
        if beside:
            cookie, *_ = await asyncio.gather(self._save(state, store, together), *beside)
        else:
            cookie = await self._save(state, store, together)
        for item in items:
            item.stored()
        return cookie

    async def _save(
        self, state: SessionState, store: PortalStore, alongside: Sequence[Alongside] = ()
    ) -> str | None:
        """Persist what changed; return the Set-Cookie value to send, if any."""
        data = state.data
        if not data:
            await remove(state, store)
            return await self._cleared(state, store)
        now = self.clock()
        if state.id is None:
            data[SEEN] = now
            try:
                session_id = await store.create(
                    _dump(data),
                    self.idle,
                    replacing=state.replacing,
                    alongside=alongside,
                    owner=state.owner,
                )
            except StaleCredentials:  # the password changed while this sign-in checked it
                data.clear()
                return await self._cleared(state, store)
            return self._cookie(session_id, self.idle)
        owner = data.get(OWNER)
        owner = owner if isinstance(owner, int) else None
        slide = not state.passive and now - float(data.get(SEEN, 0)) >= self.refresh
        blob = _dump(data)
        changed = blob != state.loaded  # the request itself changed the data
        if slide:
            data[SEEN] = now
            blob = _dump(data)
        elif not changed:
            return None
        if slide and not changed:
            # Only the expiry moves: let the store decide, so that requests arriving together
            # slide once between them.
            done = await store.slide(state.id, blob, now, self.idle, self.refresh, owner)
            if done is Slide.GONE:
                return await self._cleared(state, store)  # ended meanwhile: stay ended
            return self._cookie(state.id, self.idle) if done is Slide.SLID else None
        ttl = float(data[SEEN]) + self.idle - now
        if not await store.write(state.id, blob, self.idle, ttl, owner):
            return await self._cleared(state, store)  # ended meanwhile: stay ended
        return self._cookie(state.id, self.idle) if slide else None

    async def _cleared(self, state: SessionState, store: PortalStore) -> str | None:
        """The Set-Cookie that deletes the browser's session cookie, if it sent one; not for an
        id replaced moments ago (sign-in, password change): a late answer about it would delete
        the new cookie the browser holds by now. The old id is dead all the same."""
        if state.cookie is None:
            return None
        if ID_PATTERN.fullmatch(state.cookie) and await store.replaced(state.cookie):
            return None
        return self._cookie("", 0)

    def _cookie(self, value: str, max_age: int) -> str:
        return f"{self.cookie_name}={value}; Path=/; Max-Age={max_age}; {self.flags}"
