"""The softphone's states and their words, shared by the templates and the browser's script.

The page shell renders the phone in one state (the gallery renders every one); static/js/phone.js
moves it between states by setting the same attributes on the same markup, with the words it
reads from TEXTS, which the shell hands it as JSON. So the words live here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from starlette.requests import Request

from portal.web.shared import shared_of

State = Literal["off", "connecting", "ready", "disconnected", "calling", "incall"]

STATUS = {
    "off": "Disconnected: {reason}",
    "connecting": "Connecting…",
    "ready": "Ready",
    "disconnected": "Disconnected: {reason}",
    "calling": "In call: calling {party}…",
    "incall": "In call with {party}",
    "held": "In call with {party}, on hold",
    "remote-held": "In call with {party}, who put you on hold",
}
# Why the phone is disconnected, and what to do about it.
REASONS = {
    "no-system": "No phone system is configured for this portal.",
    "microphone": "Microphone access is blocked: allow it in the address bar, then Reconnect.",
    "no-microphone": "No microphone was found: plug one in, then Reconnect.",
    "unreachable": "The phone system cannot be reached. Check your connection, then Reconnect.",
    "refused": (
        "The phone system refused to sign in this extension. Reconnect; if it happens again, "
        "ask your administrator."
    ),
    "elsewhere": "The phone is open in another tab. Use Here moves it to this one.",
    "elsewhere-call": (
        "The phone is in a call in another tab. Use Here ends that call and moves the phone "
        "to this one."
    ),
    "unsupported": "This browser cannot make calls. Use a current Chrome, Edge, Firefox or Safari.",
    "insecure": "Calls need a secure (https) connection to the portal. Ask your administrator.",
    "signed-out": "You are signed out.",
}
# Why a call did not go through.
FAILURES = {
    "busy": "{party} is busy.",
    "no-answer": "{party} did not answer.",
    "declined": "{party} declined the call.",
    "not-found": "{party} was not found: check the number, or call again when they are online.",
    "unavailable": "{party} cannot be reached just now. Try again later.",
    "invalid": "Type a number to call: digits, * and # only.",
}
TEXTS = {"status": STATUS, "reasons": REASONS, "failures": FAILURES}
# The dial pad: each key and the letters printed under it.
KEYS = [
    ("1", ""),
    ("2", "ABC"),
    ("3", "DEF"),
    ("4", "GHI"),
    ("5", "JKL"),
    ("6", "MNO"),
    ("7", "PQRS"),
    ("8", "TUV"),
    ("9", "WXYZ"),
    ("*", ""),
    ("0", "+"),
    ("#", ""),
]


@dataclass(frozen=True)
class Caller:
    name: str
    number: str


@dataclass(frozen=True)
class PhoneView:
    """One state of the softphone, as the shell renders it."""

    state: State
    reason: str | None = None  # disconnected: a key of REASONS
    party: str = ""  # calling or in call: the number (or name) of the other side
    duration: str = "0:00"
    muted: bool = False
    held: bool = False
    remote_held: bool = False
    keypad: bool = False
    sent: str = ""  # the digits sent from the keypad in this call
    number: str = ""  # what is in the Number field
    failure: str | None = None  # the last call's failure: a key of FAILURES
    failed_party: str = ""
    incoming: Caller | None = None
    confirm: bool = False  # asking whether to end the other tab's call and use the phone here
    live: bool = False  # the real page: phone.js drives it (the gallery's states stand still)

    pad: ClassVar[list[tuple[str, str]]] = KEYS
    texts: ClassVar[dict[str, Any]] = TEXTS

    @property
    def status(self) -> str:
        key: str = self.state
        if self.state == "incall" and self.held:
            key = "held"
        elif self.state == "incall" and self.remote_held:
            key = "remote-held"
        reason = REASONS.get(self.reason or "", "")
        return STATUS[key].format(reason=reason, party=self.party)

    @property
    def message(self) -> str:
        return FAILURES[self.failure].format(party=self.failed_party) if self.failure else ""


def shell_context(request: Request) -> dict[str, Any]:
    """The softphone in the page shell (the gallery passes `phone_view` to pin a state)."""
    return {"phone": initial_view(shared_of(request).settings.sip_ws_url is not None)}


def initial_view(configured: bool) -> PhoneView:
    """What a signed-in page shows before its script has done anything."""
    if not configured:
        return PhoneView("off", reason="no-system")
    return PhoneView("connecting", live=True)
