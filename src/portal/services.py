"""The shared objects the lifespan makes, reached from requests through `request.state`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection

from portal.auth.passwords import Passwords
from portal.auth.ratelimit import Throttle
from portal.auth.sessions import PortalStore
from portal.devmail import MailSink
from portal.mail import MailSender
from portal.settings import Settings


@dataclass
class Clock:
    """Wall-clock time, which tests may move forward instead of waiting."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Services:
    settings: Settings
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


def services(request: HTTPConnection) -> Services:
    found: Services = request.state.services
    return found
