"""What the browser's softphone is handed: where the SIP server is, and who to sign in as.

The credentials are made on each request from the shared secret and never stored; they last
an hour at most, and never past the moment the portal session would end for lack of use.
"""

from __future__ import annotations

from typing import Any

from portal.base.settings import Settings
from portal.domain.accounts import Account
from portal.phone.credentials import ephemeral_credentials

CREDENTIALS_SECONDS = 3600


def client_config(
    settings: Settings, account: Account, now: float, remaining: float
) -> dict[str, Any]:
    """The softphone's configuration for `account`, valid for at most `remaining` seconds."""
    if settings.sip_ws_url is None or settings.sip_domain is None or settings.sip_secret is None:
        raise ValueError("no phone system is configured")
    ttl = max(1, min(CREDENTIALS_SECONDS, int(remaining)))
    credentials = ephemeral_credentials(settings.sip_secret, account.username, now, ttl)
    ice_servers = (
        [
            {
                "urls": list(settings.turn_urls),
                "username": credentials.username,
                "credential": credentials.password,
            }
        ]
        if settings.turn_urls
        else []
    )
    return {
        "ws_url": settings.sip_ws_url,
        "domain": settings.sip_domain,
        "uri": f"sip:{account.username}@{settings.sip_domain}",
        "display_name": account.name,
        "number": account.number,
        "tenant": account.tenant_code,
        "authorization_user": credentials.username,
        "password": credentials.password,
        "expires": credentials.expires,
        "ttl": ttl,
        "ice_servers": ice_servers,
    }
