"""The pattern gallery's states of the Passkeys section (Settings): none yet, a list, renaming,
removing, at the limit, and what htmx swaps in (`portal.dev.patterns` gathers every state)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.base.models import Passkey
from portal.dev.examples import DEFAULTS, Pattern, states
from portal.dev.session_states import SESSIONS
from portal.domain.passkeys import MAX_PER_EXTENSION
from portal.flows.passkeys import routes as passkey_routes
from portal.flows.passkeys import service
from portal.flows.password import routes as password_routes
from portal.phone.view import PhoneView


def passkey(number: int, name: str, added: str, last_used: str | None) -> dict[str, str]:
    """A row as the section gets it (`service.row`), from times written `2026-06-02 10:00`."""

    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    return service.row(
        Passkey(
            id=number,
            extension_id=1,
            credential_id=f"example-{number}",
            public_key=b"",
            name=name,
            created_at=moment(added),
            last_used_at=moment(last_used) if last_used else None,
        )
    )


LAPTOP = passkey(1, "Work laptop", "2026-05-28 09:14", "2026-06-02 08:12")
PHONE = passkey(2, "iPhone", "2026-05-30 19:02", None)
KEY = passkey(3, "Security key on my keyring, the blue one", "2026-06-01 12:40", "2026-06-01 12:41")
PASSKEYS: dict[str, Any] = {
    **service.section_values([LAPTOP, PHONE, KEY], reverify=False),
    # The gallery loads no passkeys.js: show the form that it would show.
    "passkeys_demo": True,
}
FULL = [
    passkey(n, f"Passkey {n}", f"2026-05-{10 + n:02d} 09:00", None)
    for n in range(1, MAX_PER_EXTENSION + 1)
]

settings = states(
    "Passkeys",
    "settings.html",
    {
        **password_routes.form_context(DEFAULTS),
        **SESSIONS,
        **PASSKEYS,
        "phone_view": PhoneView("ready"),
    },
    signed_in=True,
)
section = states("Passkeys", "components/_passkeys.html", PASSKEYS, signed_in=True)

PASSKEY_STATES: list[Pattern] = [
    settings("settings-passkeys-none", "No passkeys yet", passkeys=[]),
    settings(
        "settings-passkeys-list",
        "Three passkeys",
        "Signed in within five minutes: adding asks for no password.",
    ),
    settings(
        "settings-passkeys-reverify",
        "Adding asks for the password",
        "More than five minutes since the password or a passkey was checked.",
        passkeys_reverify=True,
    ),
    settings(
        "settings-passkeys-add-errors",
        "Add a Passkey: errors",
        passkeys_reverify=True,
        passkey_errors={"passkey_name": service.NO_NAME, "passkey_password": service.WRONG_CURRENT},
    ),
    settings(
        "settings-passkeys-rename",
        "Renaming one",
        "After Rename (htmx swaps the section; without JavaScript, /settings?rename=ID).",
        passkey_rename="1",
    ),
    settings(
        "settings-passkeys-remove",
        "Removing one",
        "After Remove, more than five minutes after the last check: the password first.",
        passkey_remove="2",
        passkeys_reverify=True,
    ),
    settings(
        "settings-passkeys-limit",
        "At the limit",
        f"{MAX_PER_EXTENSION} passkeys: no more may be added.",
        passkeys=FULL,
    ),
    section(
        "passkeys-added-fragment",
        "Fragment: one added",
        "What passkeys.js swaps in after the browser made the passkey.",
        frame="main",
        passkeys_message=passkey_routes.ADDED.format(name="iPhone"),
    ),
    section(
        "passkeys-removed-fragment",
        "Fragment: one removed",
        frame="main",
        passkeys=[LAPTOP, KEY],
        passkeys_message=passkey_routes.REMOVED.format(name="iPhone"),
    ),
    section(
        "passkeys-not-added-fragment",
        "Fragment: not added",
        "The browser's answer did not pass (or the request had expired).",
        frame="main",
        passkeys_message=service.NOT_ADDED,
        passkeys_error=True,
    ),
]
