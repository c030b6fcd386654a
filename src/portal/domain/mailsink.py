"""The demo's mail catcher: an SMTP server in a thread keeping what it receives (no HTTP here;
`portal.dev.devmail` shows it at `/dev/mail`)."""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

KEEP = 100
# Stops before characters that usually end a sentence rather than a link.
URL = re.compile(r"""https?://[^\s<>"']*[^\s<>"'.,;:!?)\]]""")


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    to: str
    recipients: tuple[str, ...]  # the envelope's, which is where it was actually delivered
    subject: str
    date: str
    message_id: str
    text: str
    html: str

    @classmethod
    def parse(cls, raw: bytes, recipients: tuple[str, ...]) -> ReceivedMail:
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return cls(
            sender=str(parsed.get("From", "")),
            to=str(parsed.get("To", "")),
            recipients=recipients,
            subject=str(parsed.get("Subject", "")),
            date=str(parsed.get("Date", "")),
            message_id=str(parsed.get("Message-ID", "")),
            text=_part(parsed, "plain"),
            html=_part(parsed, "html"),
        )

    def pieces(self) -> list[tuple[str, bool]]:
        """The text body as (text, is_link) runs, for a template to link without marking safe."""
        return split_links(self.text)


class SinkHandler:
    """aiosmtpd handler: accepts every message and hands it to the sink."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.sink.receive(ReceivedMail.parse(raw, tuple(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server keeping the last `keep` messages in memory; runs its own loop in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8025, *, keep: int = KEEP) -> None:
        self.host = host
        self.port = port
        self.handler: Any = SinkHandler(self)
        self._received: deque[ReceivedMail] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedMail]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._received))

    def receive(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._received.append(mail)

    def start(self, *, ready_timeout: float = 5.0) -> None:
        """Listen (blocks until the server answers, a few milliseconds)."""
        if self._controller is not None:
            return
        # A fixed greeting name: the default looks up this host's FQDN, which can hang on DNS.
        controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            ready_timeout=ready_timeout,
            server_hostname="localhost",
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; caught messages are kept, and start() listens again."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


def split_links(text: str) -> list[tuple[str, bool]]:
    """`text` cut into runs of plain text and http(s) URLs, in order."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in URL.finditer(text):
        if match.start() > position:
            pieces.append((text[position : match.start()], False))
        pieces.append((match.group(), True))
        position = match.end()
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


def links(text: str) -> list[str]:
    """Every http(s) URL in `text`."""
    return [piece for piece, is_link in split_links(text) if is_link]


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_subtype() != subtype:
        return ""
    # SMTP carries CRLF line ends; the page and the tests want the text as it was written.
    return str(body.get_content()).replace("\r\n", "\n")
