"""A SIP server that is up but will not register anyone: `python -m tests.sipstub PORT`.

It accepts SIP over WebSocket on 127.0.0.1:PORT and answers every REGISTER with 503 Service
Unavailable, as an overloaded or half-started registrar does; it prints one line per REGISTER,
so a test can count the phone's attempts. The phone tests run it inside their private network
namespace, in place of Kamailio, to see the page recover from a registration that failed with
the connection still up (which JsSIP's own reconnecting never retries).
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve

# The headers a response copies from its request (RFC 3261, 8.2.6.2).
COPIED = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")


def unavailable(request: str) -> str:
    lines = request.split("\r\n\r\n", 1)[0].split("\r\n")
    copied = [line for line in lines[1:] if line.split(":", 1)[0].strip().lower() in COPIED]
    return "\r\n".join(["SIP/2.0 503 Service Unavailable", *copied, "Content-Length: 0", "", ""])


async def answer(ws: ServerConnection) -> None:
    async for message in ws:
        text = message if isinstance(message, str) else message.decode()
        if text.startswith("REGISTER "):
            print("REGISTER", flush=True)
            await ws.send(unavailable(text))


async def main(port: int) -> None:
    async with serve(answer, "127.0.0.1", port, subprotocols=["sip"]):  # type: ignore[list-item]
        print("listening", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
