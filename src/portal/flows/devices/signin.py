"""What a sign-in records of where it came from: the browser and address in the new session
(for "Where you're signed in"), and the new-device notice when the browser is new to it."""

from __future__ import annotations

from starlette.requests import Request

from portal.domain import devices
from portal.domain.accounts import Account
from portal.flows.devices.service import DEVICE_KEY, device_record
from portal.web import sessions
from portal.web.addresses import client_address
from portal.web.shared import shared_of


def record(request: Request, account: Account, *, new_device: bool) -> None:
    """Call after `guard.sign_in`: the notice is stored with the session it opens."""
    shared = shared_of(request)
    settings = shared.settings
    browser = devices.describe(request.headers.get("user-agent", ""))
    address = client_address(request, settings.trusted_proxies)
    now = shared.clock()
    request.session[DEVICE_KEY] = device_record(browser, address, now)
    if new_device:
        notice = devices.new_device_notice(
            account,
            browser,
            address,
            devices.from_timestamp(now),
            brand=settings.brand.name,
            link=f"{settings.base_url.rstrip('/')}/settings",
            wake=shared.mail.wake,
        )
        sessions.alongside(request).append(notice)
