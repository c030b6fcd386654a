"""Whether a TCP port is free to listen on, asked before the portal starts anything."""

from __future__ import annotations

import errno
import socket


def in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port. Binds as uvicorn does (SO_REUSEADDR,
    so a port left in TIME_WAIT counts as free) and lets go at once; any other failure (no
    permission, an unknown host) is left for the server itself to report."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return False
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False
