"""Who is on the other end: the socket peer, or what a trusted proxy says it forwarded."""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

from portal.base.settings import IPNetwork


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: HTTPConnection, trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address; `X-Forwarded-For` counts only when the peer is a trusted proxy.

    The header is read right to left, skipping trusted proxies: the first other hop is the
    client. Anything left of it could be written by the client itself.
    """
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return peer  # a malformed header: believe only the socket
        if not _trusted(address, trusted_proxies):
            return address
    return peer
