"""The pattern gallery's states of "Where you're signed in" (Settings) and of the new-device
mail (`portal.dev.patterns` gathers every state)."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.dev.examples import DEFAULTS, EXAMPLE, Pattern, states
from portal.domain.devices import UNKNOWN_BROWSER, Browser, minute
from portal.flows.devices import routes as devices_routes
from portal.flows.devices.service import SignedIn
from portal.flows.password import routes as password_routes
from portal.phone.view import PhoneView

NOW = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)
THIS_DEVICE = SignedIn(
    "example-handle-this",
    Browser("Firefox", "Linux"),
    "203.0.113.7",
    datetime(2026, 6, 2, 8, 12, tzinfo=UTC),
    NOW,
    current=True,
)
PHONE = SignedIn(
    "example-handle-phone",
    Browser("Mobile Safari", "iOS"),
    "198.51.100.23",
    datetime(2026, 6, 1, 18, 40, tzinfo=UTC),
    datetime(2026, 6, 2, 7, 55, tzinfo=UTC),
)
OFFICE = SignedIn(
    "example-handle-office",
    Browser("Chrome", "Windows"),
    "2001:db8:85a3::8a2e:370:7334",
    datetime(2026, 6, 2, 9, 1, tzinfo=UTC),
    datetime(2026, 6, 2, 9, 30, tzinfo=UTC),
)
OLD = SignedIn("example-handle-old", Browser(UNKNOWN_BROWSER, ""), "unknown", None, NOW)
SESSIONS = {
    "signed_in": [THIS_DEVICE, PHONE, OFFICE],
    "sessions_message": None,
    "sessions_error": False,
}
NEW_DEVICE_EMAIL = {
    "brand": DEFAULTS.brand_name,
    "username": EXAMPLE.username,
    "tenant_name": EXAMPLE.tenant_name,
    "device": PHONE.label,
    "address": PHONE.address,
    "when": minute(NOW),
    "link": f"{DEFAULTS.base_url}/settings",
}

settings = states(
    "Where You're Signed In",
    "settings.html",
    {**password_routes.form_context(DEFAULTS), **SESSIONS, "phone_view": PhoneView("ready")},
    signed_in=True,
)
section = states("Where You're Signed In", "components/_sessions.html", SESSIONS, signed_in=True)
email = states("Emails", "email/new_device.txt", NEW_DEVICE_EMAIL)
email_html = states("Emails", "email/new_device.html", NEW_DEVICE_EMAIL)

SESSION_STATES: list[Pattern] = [
    settings(
        "settings-sessions-alone",
        "Signed in here only",
        "No other session: nothing to sign out.",
        signed_in=[THIS_DEVICE],
    ),
    settings(
        "settings-sessions-ended",
        "Another session signed out",
        "After the redirect (no JavaScript).",
        signed_in=[THIS_DEVICE, OFFICE],
        sessions_message=devices_routes.ENDED.format(device=PHONE.label),
    ),
    settings(
        "settings-sessions-unknown",
        "A session from before its browser was kept",
        signed_in=[THIS_DEVICE, OLD],
    ),
    section(
        "sessions-ended-fragment",
        "Fragment: one signed out",
        "What htmx swaps in after Sign Out beside a session.",
        frame="main",
        signed_in=[THIS_DEVICE, OFFICE],
        sessions_message=devices_routes.ENDED.format(device=PHONE.label),
    ),
    section(
        "sessions-not-found-fragment",
        "Fragment: that session was not found",
        "Ended meanwhile, or a handle that is not this extension's.",
        frame="main",
        sessions_message=devices_routes.NOT_FOUND,
        sessions_error=True,
    ),
    section(
        "sessions-others-ended-fragment",
        "Fragment: everywhere else signed out",
        frame="main",
        signed_in=[THIS_DEVICE],
        sessions_message=devices_routes.OTHERS_ENDED,
    ),
    email("email-new-device-text", "New device: text", frame="text"),
    email_html("email-new-device-html", "New device: HTML"),
]
