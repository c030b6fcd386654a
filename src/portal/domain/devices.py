"""Where an extension is signed in: what each session keeps of its browser (parsed from the
User-Agent with `ua-parser`, never the raw string), and the notice mailed when an extension
signs in from a browser that has not signed in to it before."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ua_parser
from sqlalchemy import Table, bindparam, insert, literal, select

from portal.base import lookups
from portal.base.models import Extension, OutboxMessage
from portal.domain import emails
from portal.domain.accounts import Account
from portal.domain.mail import Email, outbox_row

# A User-Agent longer than this is cut before parsing: real ones are far shorter, and the
# parser's regular expressions need not see a megabyte of header.
MAX_USER_AGENT = 512
UNKNOWN_BROWSER = "Unknown Browser"
NOTICE_GIVE_UP_SECONDS = 24 * 3600
_EXTENSIONS: Table = Extension.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_MESSAGE = ("subject", "body_text", "body_html", "created_at", "give_up_at", "next_attempt_at")
# The notice, queued only when the extension has an address: one statement, which reads the
# address in the transaction that queues it.
_QUEUE_NOTICE = lookups.Write(
    insert(_OUTBOX).from_select(
        ["recipient", "attempts", *_MESSAGE],
        select(
            _EXTENSIONS.c.email,
            literal(0),
            *(bindparam(name, type_=_OUTBOX.c[name].type) for name in _MESSAGE),
        ).where(_EXTENSIONS.c.id == bindparam("owner"), _EXTENSIONS.c.email != ""),
    )
)


@dataclass(frozen=True)
class Browser:
    """A browser and the system it runs on, as people name them: "Firefox on Windows"."""

    browser: str
    system: str

    @property
    def label(self) -> str:
        if self.browser == UNKNOWN_BROWSER or not self.system:
            return self.browser
        return f"{self.browser} on {self.system}"


@functools.lru_cache(maxsize=256)
def describe(user_agent: str) -> Browser:
    """The browser and system a User-Agent names ("Other" where the parser cannot tell)."""
    parsed = ua_parser.parse(user_agent[:MAX_USER_AGENT]).with_defaults()
    browser = parsed.user_agent.family
    system = parsed.os.family
    return Browser(
        UNKNOWN_BROWSER if browser == "Other" else browser,
        "" if system == "Other" else system,
    )


def prepare() -> None:
    """Build the parser's rules, which its first call does (about 0.1 s): at start-up, in a
    thread, so that `describe` can run in the event loop. With its compiled resolver
    (`ua-parser[regex]`) a User-Agent it has not seen takes tens of microseconds, less than a
    hand-off to a thread, and in time linear in its length."""
    describe.__wrapped__("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")


def minute(at: datetime) -> str:
    """A moment to the minute, as pages and mail show it: `30 Nov 2026, 14:35 UTC`."""
    at = at.astimezone(UTC)
    return f"{at.day} {at:%b %Y, %H:%M} UTC"


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class NewDeviceNotice:
    """The new-device mail, stored with the sign-in's session (`sessions.alongside`): the
    recipient is read in that transaction, so an extension without an address gets none."""

    owner: int
    email: Email  # rendered beforehand, to an empty recipient
    wake: Callable[[], None]  # the mail sender's wake(), once the message is stored
    queued: bool = False

    def write(self) -> tuple[lookups.Write, dict[str, Any]]:
        row = outbox_row(self.email, give_up_after=NOTICE_GIVE_UP_SECONDS)
        return _QUEUE_NOTICE, {"owner": self.owner, **{name: row[name] for name in _MESSAGE}}

    def wrote(self, rows: int) -> None:
        self.queued = rows > 0

    def stored(self) -> None:
        if self.queued:
            self.wake()


def new_device_notice(
    account: Account,
    browser: Browser,
    address: str,
    at: datetime,
    *,
    brand: str,
    link: str,
    wake: Callable[[], None],
) -> NewDeviceNotice:
    email = emails.new_device(
        "",
        brand=brand,
        username=account.username,
        tenant_name=account.tenant_name,
        device=browser.label,
        address=address,
        when=minute(at),
        link=link,
    )
    return NewDeviceNotice(account.id, email, wake)
