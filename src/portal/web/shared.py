"""What the app shares between requests, made once by the lifespan, and the one way to reach it.

A request reaches it through `shared_of(request)`, typed, as django-htmx gives `request.htmx` one
shape: never through `scope["state"]` or `app.state` by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from portal.base.clock import Clock
from portal.base.settings import Settings
from portal.domain.mail import MailSender
from portal.domain.mailsink import MailSink
from portal.security.passwords import Passwords
from portal.security.sessionstore import PortalStore
from portal.security.throttle import Throttle

STATE_KEY = "shared"  # the lifespan yields {STATE_KEY: Shared}; Starlette puts it in request.state


@dataclass
class Shared:
    """The settings, storage, stores, throttle, mail and templates one app holds."""

    settings: Settings
    templates: Jinja2Templates  # portal.web.templating.Templates
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    passwords: Passwords
    store: PortalStore
    throttle: Throttle
    mail: MailSender
    redis: Redis | None = None
    mail_sink: MailSink | None = None  # demo mode only: the SMTP server mail goes to
    clock: Clock = field(default_factory=Clock)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session


def shared_of(connection: HTTPConnection) -> Shared:
    """What the app shares, for this request (or websocket)."""
    found: Shared = getattr(connection.state, STATE_KEY)
    return found
