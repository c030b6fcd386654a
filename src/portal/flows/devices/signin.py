"""What a sign-in records of where it came from: the browser and address in the new session
(for "Where you're signed in"), and the new-device notice when the browser is new to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.requests import Request

from portal.domain import devices
from portal.domain.accounts import Account
from portal.flows.devices.service import DEVICE_KEY, device_record
from portal.web import sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of


def describe_soon(request: Request) -> asyncio.Future[devices.Browser]:
    """Start reading the request's browser from its User-Agent, for `record`: a password
    sign-in starts it before the hash, so the parser's thread runs while the hash does
    instead of after it, when the answer waits."""
    return asyncio.ensure_future(devices.describe_later(request.headers.get("user-agent", "")))


async def record(
    request: Request,
    account: Account,
    *,
    new_device: bool,
    browser: Awaitable[devices.Browser] | None = None,
) -> None:
    """Call after `guard.sign_in`: the notice is stored with the session it opens. `browser`
    is `describe_soon(request)`, if it was started."""
    shared = shared_of(request)
    settings = shared.settings
    described = await (browser or describe_soon(request))
    address = client_address(request, settings.trusted_proxies)
    now = shared.clock()
    request.session[DEVICE_KEY] = device_record(described, address, now)
    if new_device:
        notice = devices.new_device_notice(
            account,
            described,
            address,
            devices.from_timestamp(now),
            brand=settings.brand.name,
            link=f"{settings.base_url.rstrip('/')}/settings",
            wake=shared.mail.wake,
        )
        sessions.alongside(request).append(notice)
