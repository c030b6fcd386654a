"""A small SIP-over-WebSocket phone for tests: it speaks to Kamailio as JsSIP does.

Like JsSIP, it puts made-up `.invalid` hosts in Via and Contact, so the server must alias the
connection (nathelper) for anything to come back. Enough SIP for REGISTER, INVITE with digest
authentication, answering, and in-dialog requests through the recorded route; no SDP (media
never passes through the SIP server).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from portal.phone.credentials import Credentials


@dataclass
class Message:
    first_line: str
    headers: list[tuple[str, str]]
    body: str = ""

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first_line.split()[1]) if self.is_response else 0

    @property
    def reason(self) -> str:
        return self.first_line.split(" ", 2)[2] if self.is_response else ""

    @property
    def method(self) -> str:
        if self.is_response:
            return self.header("CSeq").split()[1]
        return self.first_line.split()[0]

    @property
    def uri(self) -> str:
        return self.first_line.split()[1]

    def header(self, name: str) -> str:
        values = self.all(name)
        assert values, f"no {name} header in:\n{self}"
        return values[0]

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def __str__(self) -> str:
        lines = [self.first_line, *(f"{key}: {value}" for key, value in self.headers)]
        return "\r\n".join([*lines, f"Content-Length: {len(self.body.encode())}", "", self.body])

    @classmethod
    def parse(cls, text: str) -> Message:
        head, _, body = text.partition("\r\n\r\n")
        first, *lines = head.split("\r\n")
        headers = []
        for line in lines:
            key, _, value = line.partition(":")
            if key.strip().lower() not in ("content-length", "l"):
                headers.append((key.strip(), value.strip()))
        return cls(first, headers, body)


def tag() -> str:
    return secrets.token_hex(6)


def branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def digest(challenge: str, method: str, uri: str, credentials: Credentials) -> str:
    """An Authorization value answering a Digest challenge with qop=auth (RFC 2617)."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5

    realm, nonce, cnonce, count = fields["realm"], fields["nonce"], secrets.token_hex(8), "00000001"
    ha1 = md5(f"{credentials.username}:{realm}:{credentials.password}")
    response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{md5(f'{method}:{uri}')}")
    return (
        f'Digest username="{credentials.username}", realm="{realm}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc={count}, '
        f'cnonce="{cnonce}"'
    )


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    remote_target: str
    route: list[str]
    cseq: int = 1


@dataclass
class Phone:
    """One extension on one WebSocket: `Phone.open(sock, domain, "201-wickedsprockets", ...)`."""

    ws: ClientConnection
    domain: str
    user: str  # the From user: "201-wickedsprockets"
    credentials: Credentials
    host: str = field(default_factory=lambda: f"{secrets.token_hex(6)}.invalid")
    cseq: int = 0

    @classmethod
    def open(
        cls,
        sock: socket.socket,
        url: str,
        domain: str,
        user: str,
        credentials: Credentials,
        origin: str | None = None,
    ) -> Phone:
        ws = connect(
            url,
            sock=sock,
            subprotocols=["sip"],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            open_timeout=5,
        ).__enter__()  # open until close(): a phone outlives any one block
        return cls(ws, domain, user, credentials)

    def close(self) -> None:
        self.ws.__exit__(None, None, None)

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    @property
    def contact(self) -> str:
        return f"<sip:{secrets.token_hex(4)}@{self.host};transport=ws>"

    def send(self, message: Message) -> None:
        self.ws.send(str(message))

    def receive(self, timeout: float = 5.0) -> Message | None:
        """The next message, skipping 100 Trying; None when nothing came in `timeout` seconds."""
        while True:
            try:
                text = self.ws.recv(timeout=timeout)
            except TimeoutError:
                return None
            except ConnectionClosed:
                return None
            message = Message.parse(text if isinstance(text, str) else text.decode())
            if message.status != 100:
                return message

    def request(
        self, method: str, uri: str, to: str, headers: list[tuple[str, str]] | None = None
    ) -> Message:
        self.cseq += 1
        return Message(
            f"{method} {uri} SIP/2.0",
            [
                ("Via", f"SIP/2.0/WS {self.host};branch={branch()}"),
                ("Max-Forwards", "70"),
                ("To", f"<{to}>"),
                ("From", f"<{self.aor}>;tag={tag()}"),
                ("Call-ID", secrets.token_hex(10)),
                ("CSeq", f"{self.cseq} {method}"),
                ("Contact", self.contact),
                *(headers or []),
            ],
        )

    def authorize(self, message: Message, challenge: Message) -> Message:
        """`message` again, answering the 401/407 `challenge`: a new branch and CSeq."""
        self.cseq += 1
        asked, answer = (
            ("WWW-Authenticate", "Authorization")
            if challenge.status == 401
            else ("Proxy-Authenticate", "Proxy-Authorization")
        )
        kept = [(k, v) for k, v in message.headers if k not in ("Via", "CSeq", answer)]
        proof = digest(challenge.header(asked), message.method, message.uri, self.credentials)
        return Message(
            message.first_line,
            [
                ("Via", f"SIP/2.0/WS {self.host};branch={branch()}"),
                *kept,
                ("CSeq", f"{self.cseq} {message.method}"),
                (answer, proof),
            ],
            message.body,
        )

    def expect_response(self, timeout: float = 5.0) -> Message:
        message = self.receive(timeout)
        assert message is not None, f"{self.user}: no response within {timeout}s"
        assert message.is_response, f"{self.user}: a request instead of a response:\n{message}"
        return message

    def ack(self, invite: Message, response: Message) -> None:
        """The ACK of a non-2xx final response: same branch, hop by hop (RFC 3261 17.1.1.3)."""
        self.send(
            Message(
                f"ACK {invite.uri} SIP/2.0",
                [
                    ("Via", invite.header("Via")),
                    ("Max-Forwards", "70"),
                    ("To", response.header("To")),
                    ("From", invite.header("From")),
                    ("Call-ID", invite.header("Call-ID")),
                    ("CSeq", f"{invite.header('CSeq').split()[0]} ACK"),
                ],
            )
        )

    def register(self, expires: int = 600, to_user: str | None = None) -> Message:
        """REGISTER sip:USER@domain (or `to_user`'s address); the final response."""
        to = f"sip:{to_user or self.user}@{self.domain}"
        message = self.request("REGISTER", f"sip:{self.domain}", to, [("Expires", str(expires))])
        self.send(message)
        response = self.expect_response()
        if response.status == 401:
            self.send(self.authorize(message, response))
            response = self.expect_response()
        return response

    def invite(self, dialled: str) -> Message:
        """Send an authenticated INVITE to sip:DIALLED@domain; returns the INVITE sent."""
        uri = f"sip:{dialled}@{self.domain}"
        message = self.request("INVITE", uri, uri, [("Content-Type", "application/sdp")])
        message.body = "v=0\r\n"  # never read: media is the browsers' business
        self.send(message)
        challenge = self.expect_response()
        assert challenge.status == 407, f"expected a challenge, got:\n{challenge}"
        self.ack(message, challenge)
        authorized = self.authorize(message, challenge)
        self.send(authorized)
        return authorized

    def cancel(self, invite: Message) -> None:
        """CANCEL a ringing INVITE: same branch, Call-ID, From, To and CSeq number."""
        headers = [
            (k, v) for k, v in invite.headers if k in ("Via", "To", "From", "Call-ID", "Route")
        ]
        headers += [("Max-Forwards", "70"), ("CSeq", f"{invite.header('CSeq').split()[0]} CANCEL")]
        self.send(Message(f"CANCEL {invite.uri} SIP/2.0", headers))

    # --- the called side -------------------------------------------------------------------

    def reply(self, request: Message, status: int, reason: str, to_tag: str | None = None) -> None:
        to = request.header("To")
        if to_tag is not None and ";tag=" not in to:
            to = f"{to};tag={to_tag}"
        headers = [(k, v) for k, v in request.headers if k in ("Via", "Record-Route")]
        headers += [
            ("To", to),
            ("From", request.header("From")),
            ("Call-ID", request.header("Call-ID")),
            ("CSeq", request.header("CSeq")),
        ]
        if status < 300 and request.method == "INVITE":
            headers.append(("Contact", self.contact))
        self.send(Message(f"SIP/2.0 {status} {reason}", headers))

    def answer(self, invite: Message) -> Dialog:
        """Ring, then answer; the dialog as the called side sees it."""
        local = tag()
        self.reply(invite, 180, "Ringing", local)
        self.reply(invite, 200, "OK", local)
        return Dialog(
            invite.header("Call-ID"),
            local,
            tag_of(invite.header("From")),
            uri_of(invite.header("Contact")),
            list(invite.all("Record-Route")),
        )

    # --- in a dialog -----------------------------------------------------------------------

    def in_dialog(self, dialog: Dialog, method: str, body: str = "", kind: str = "") -> None:
        """Send an in-dialog request (ACK, INFO, BYE) along the dialog's route set."""
        dialog.cseq += 1
        cseq = dialog.cseq if method != "ACK" else 1
        headers = [
            ("Via", f"SIP/2.0/WS {self.host};branch={branch()}"),
            ("Max-Forwards", "70"),
            *(("Route", route) for route in dialog.route),
            ("To", f"<sip:peer@{self.domain}>;tag={dialog.remote_tag}"),
            ("From", f"<{self.aor}>;tag={dialog.local_tag}"),
            ("Call-ID", dialog.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        if kind:
            headers.append(("Content-Type", kind))
        self.send(Message(f"{method} {dialog.remote_target} SIP/2.0", headers, body))


def caller_dialog(invite: Message, ok: Message) -> Dialog:
    """The dialog as the calling side sees it, from its INVITE and the 200 OK."""
    return Dialog(
        invite.header("Call-ID"),
        tag_of(invite.header("From")),
        tag_of(ok.header("To")),
        uri_of(ok.header("Contact")),
        list(reversed(ok.all("Record-Route"))),
        cseq=int(invite.header("CSeq").split()[0]),
    )


def tag_of(header: str) -> str:
    found = re.search(r";tag=([^;>\s]+)", header)
    assert found, f"no tag in {header!r}"
    return found.group(1)


def uri_of(header: str) -> str:
    found = re.search(r"<([^>]+)>", header)
    return found.group(1) if found else header.split(";")[0]
