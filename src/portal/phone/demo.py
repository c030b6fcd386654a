"""The demo's phone system: a Kamailio of its own on loopback, when this machine has one.

`make run` installs Debian's Kamailio when it runs as root (make sip-server); without it the
demo still runs, and the Phone tab says that no phone system is configured.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from portal.phone.sipserver import SipServer, SipServerError, available

DEMO_WS_PORT = 5066
DEMO_DOMAIN = "localhost"


def starts_kamailio() -> bool:
    """Whether `demo_phone_system` would start a Kamailio of its own (so needs its port)."""
    return not os.environ.get("PORTAL_SIP_WS_URL") and available() is None


@contextlib.contextmanager
def demo_phone_system(
    runtime_dir: Path, origin: str, ws_port: int = DEMO_WS_PORT
) -> Iterator[tuple[dict[str, str], str]]:
    """Start Kamailio for the demo, with a random secret for this run only.

    Yields the settings that point the portal at it (none when it cannot run, or when
    PORTAL_SIP_WS_URL already names a phone system) and a line saying what happened."""
    if os.environ.get("PORTAL_SIP_WS_URL"):
        yield {}, f"phone system: {os.environ['PORTAL_SIP_WS_URL']} (PORTAL_SIP_WS_URL)"
        return
    if reason := available():
        yield {}, f"no phone system for the demo: {reason}"
        return
    secret = secrets.token_urlsafe(32)
    server = SipServer(
        domain=DEMO_DOMAIN,
        secret=secret,
        runtime_dir=runtime_dir,
        ws_port=ws_port,
        ws_origin=origin,
    )
    try:
        server.start()
    except SipServerError as exc:
        yield {}, f"no phone system for the demo: {str(exc).splitlines()[0]}"
        return
    try:
        settings = {
            "PORTAL_SIP_WS_URL": server.ws_url,
            "PORTAL_SIP_DOMAIN": server.domain,
            "PORTAL_SIP_SECRET": secret,
        }
        yield settings, f"phone system: Kamailio on {server.ws_url} (log: {server.kamailio_log})"
    finally:
        server.stop()
