"""The pattern gallery's example data, and what a state is: a real template with an example
context (`portal.dev.patterns` lists them all, `portal.dev.gallery` renders them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from portal.base.brand import Brand
from portal.base.settings import Settings
from portal.domain import emails
from portal.domain.accounts import Account
from portal.domain.mail import Email
from portal.domain.mailsink import ReceivedMail
from portal.flows.newpassword import check_new_password
from portal.flows.password import service as password_service
from portal.flows.reset.service import describe_seconds
from portal.security.policy import strength
from portal.security.throttle import Refusal
from portal.tabs.tab import TAB_FRAGMENT

# Where a state's markup sits on its page: "page" is a whole page as the app serves it; the
# others wrap a fragment or partial in what surrounds it in the app, so that it is styled.
Frame = Literal["page", "main", "auth", "card", "strength", "text"]
THEMES = ("dark", "light")
# Stand-ins, never real tokens: a form in the gallery posts and is refused.
EXAMPLE_CSRF_TOKEN = "example-csrf-token"  # noqa: S105
EXAMPLE_RESET_TOKEN = "example-reset-token"  # noqa: S105
DEFAULTS = Settings()
EXAMPLE = Account(
    id=1,
    number="201",
    name="Ada Lovelace",
    tenant_code="wickedsprockets",
    tenant_name="Wicked Sprockets",
    stamp="example-stamp",
)
EXAMPLE_EMAIL = "ada@example.com"


@dataclass(frozen=True)
class Pattern:
    """One named state: a template (or some of its blocks) with an example context."""

    name: str
    group: str
    title: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    blocks: tuple[str, ...] = ()  # a fragment: these blocks alone, as htmx receives them
    signed_in: bool = False
    frame: Frame = "page"


def refused(new: str, confirm: str) -> dict[str, str]:
    """The errors the one password policy gives for this pair, worded as the app words them."""
    return check_new_password(
        new,
        confirm,
        DEFAULTS.password_min_length,
        username=EXAMPLE.username,
        tenant_code=EXAMPLE.tenant_code,
    )


def hint_for(password: str) -> dict[str, Any]:
    return {
        "hint": strength(
            password,
            DEFAULTS.password_min_length,
            username=EXAMPLE.username,
            tenant_code=EXAMPLE.tenant_code,
        )
    }


EMAILS: dict[str, Callable[..., Email]] = {
    "reset": emails.reset_link,
    "changed": emails.password_changed,
    "new_device": emails.new_device,
}
RESET_EMAIL = {
    "brand": DEFAULTS.brand_name,
    "username": EXAMPLE.username,
    "tenant_name": EXAMPLE.tenant_name,
    "link": f"{DEFAULTS.base_url}/reset-password/{EXAMPLE_RESET_TOKEN}",
    "hours": describe_seconds(DEFAULTS.reset_token_seconds),
}
CHANGED_EMAIL = {
    "brand": DEFAULTS.brand_name,
    "username": EXAMPLE.username,
    "tenant_name": EXAMPLE.tenant_name,
}
# An operator's branding (PORTAL_BRAND_NAME and _LOGO_URL); the logo is inline so the gallery
# needs no file of its own.
EXAMPLE_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<circle cx="16" cy="16" r="15" fill="#0a7d4f"/>'
    '<path d="M9 16h14M16 9v14" stroke="#fff" stroke-width="4" stroke-linecap="round"/></svg>'
)
EXAMPLE_BRAND = Brand(
    name="Wicked Sprockets Phones", logo_url="data:image/svg+xml," + quote(EXAMPLE_LOGO)
)


def received(email: Email) -> ReceivedMail:
    return ReceivedMail(
        sender=DEFAULTS.mail_from,
        to=email.recipient,
        recipients=(email.recipient,),
        subject=email.subject,
        date="Tue, 02 Jun 2026 10:00:00 +0000",
        message_id="<example@portal.localhost>",
        text=email.text,
        html=email.html,
    )


LOCKED = Refusal(wait_seconds=14 * 60).message
LOCKED_FULL = Refusal(wait_seconds=DEFAULTS.login_lockout_seconds).message
LOCKOUT_MINUTES = Refusal(wait_seconds=DEFAULTS.login_lockout_seconds).wait_minutes
ALL_EMPTY = {"current_password": password_service.NO_CURRENT, **refused("", "")}
SHORT = refused("sprock", "sprockets")
INBOX = [received(emails.reset_link(EXAMPLE_EMAIL, **RESET_EMAIL))]
USER = EXAMPLE.username
TAB = tuple(TAB_FRAGMENT)


def states(
    group: str,
    template: str,
    defaults: Mapping[str, Any],
    *,
    signed_in: bool = False,
    fragment_frame: Frame = "card",
) -> Callable[..., Pattern]:
    """A maker of `template`'s states: `defaults` overridden by each state's own context."""

    def make(
        name: str,
        title: str,
        description: str = "",
        /,  # so that a template's own `title` can be in **context
        *,
        blocks: tuple[str, ...] = (),
        frame: Frame | None = None,
        **context: Any,
    ) -> Pattern:
        merged = {**defaults, **context}
        frame = frame or (fragment_frame if blocks else "page")
        return Pattern(name, group, title, template, merged, description, blocks, signed_in, frame)

    return make
