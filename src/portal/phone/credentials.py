"""Short-lived SIP and TURN credentials that no one stores.

The scheme is the one Kamailio's `auth_ephemeral` and coturn's `use-auth-secret` both check
(the "TURN REST API" draft): the username is `EXPIRY:USER`, where EXPIRY is the Unix time at
which it stops working, and the password is base64(HMAC-SHA1(secret, username)). The SIP server
holds the same secret and recomputes the password, so the portal hands it out and forgets it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    username: str  # "EXPIRY:EXTENSION-TENANT"
    password: str
    expires: int  # Unix time at which the server stops accepting them


def ephemeral_credentials(secret: str, user: str, now: float, ttl: int) -> Credentials:
    """Credentials for `user` (e.g. "201-wickedsprockets") valid from `now` for `ttl` seconds."""
    if not secret:
        raise ValueError("the SIP secret is empty")
    if not user or ":" in user or any(c.isspace() for c in user):
        # The server splits the username at the first ":"; whitespace would end a SIP header.
        raise ValueError(f"not a SIP user name: {user!r}")
    if ttl <= 0:
        raise ValueError(f"the lifetime must be positive, not {ttl}")
    # Rounded down, so the credential never outlives the lifetime asked for.
    expires = math.floor(now) + ttl
    username = f"{expires}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return Credentials(username, base64.b64encode(digest).decode("ascii"), expires)
