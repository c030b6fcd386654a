"""The pattern gallery's states: every page and fragment in every state, as a real template with
an example context (`portal.dev.gallery` renders them), so the gallery cannot drift from the
pages; CI renders all of it. A template without a state fails a test.
"""

from __future__ import annotations

from portal.dev.examples import (
    ALL_EMPTY,
    CHANGED_EMAIL,
    DEFAULTS,
    EXAMPLE_BRAND,
    INBOX,
    LOCKED,
    RESET_EMAIL,
    SHORT,
    TAB,
    Pattern,
    hint_for,
    refused,
    states,
)
from portal.dev.passkey_states import PASSKEY_STATES
from portal.dev.session_states import SESSION_STATES, SESSIONS
from portal.dev.signin_states import SIGNED_OUT
from portal.flows.password import routes as password_routes
from portal.flows.password import service as password_service
from portal.middleware.errors import MESSAGES
from portal.phone.view import FAILURES, REASONS, Caller, PhoneView
from portal.tabs import TABS

# The softphone's states stand still in the gallery: each pins `phone_view`, so no page here
# loads the phone's script or reaches for a SIP server.
NO_PHONE_SYSTEM = PhoneView("off", reason="no-system")
READY = PhoneView("ready")
IN_CALL = PhoneView("incall", party="202", duration="1:23")
CALLER = Caller(name="Grace Hopper", number="202")
phone = states(
    "Phone Tab",
    "phone.html",
    {"active": "phone", "phone_view": NO_PHONE_SYSTEM},
    signed_in=True,
    fragment_frame="main",
)
softphone = states(
    "Softphone", "phone.html", {"active": "phone", "phone_view": READY}, signed_in=True
)
settings = states(
    "Settings Tab",
    "settings.html",
    {**password_routes.form_context(DEFAULTS), **SESSIONS, "phone_view": READY},
    signed_in=True,
    fragment_frame="main",
)
hint = states("Password Strength Hint", "components/_strength.html", {})
error = states("Error Pages", "error.html", {}, fragment_frame="auth")
mail = states(
    "Demo Mail", "dev_mail.html", {"messages": INBOX, "running": True}, fragment_frame="main"
)
reset_email = states("Emails", "email/reset.txt", RESET_EMAIL)
reset_email_html = states("Emails", "email/reset.html", RESET_EMAIL)
changed_email = states("Emails", "email/changed.txt", CHANGED_EMAIL)
changed_email_html = states("Emails", "email/changed.html", CHANGED_EMAIL)

REGISTRY: list[Pattern] = [
    *SIGNED_OUT,
    phone("phone", "Phone"),
    phone(
        "phone-branded",
        "Branded",
        "The operator's logo and name in the signed-in header.",
        brand=EXAMPLE_BRAND,
    ),
    phone("phone-tab-fragment", "Tab fragment", "The tab bar comes out of band.", blocks=TAB),
    softphone("phone-connecting", "Connecting", phone_view=PhoneView("connecting", live=False)),
    softphone("phone-ready", "Ready", "Registered: calls can be made and taken."),
    softphone(
        "phone-ready-number",
        "Ready, a number typed",
        phone_view=PhoneView("ready", number="202"),
    ),
    *(
        softphone(
            f"phone-disconnected-{reason}",
            f"Disconnected: {reason.replace('-', ' ')}",
            phone_view=PhoneView("disconnected", reason=reason),
        )
        for reason in REASONS
        if reason != "no-system"
    ),
    softphone(
        "phone-incoming",
        "Incoming call",
        "A dialog over whichever tab is open; Esc declines.",
        phone_view=PhoneView("ready", incoming=CALLER),
    ),
    softphone(
        "phone-use-here-confirm",
        "Use Here, the other tab in a call",
        "Taking the phone ends that call: the page asks first.",
        phone_view=PhoneView("disconnected", reason="elsewhere-call", confirm=True),
    ),
    softphone("phone-calling", "Calling", phone_view=PhoneView("calling", party="202")),
    softphone("phone-in-call", "In call", phone_view=IN_CALL),
    softphone(
        "phone-muted",
        "In call, muted",
        phone_view=PhoneView("incall", party="202", duration="1:23", muted=True),
    ),
    softphone(
        "phone-on-hold",
        "In call, on hold",
        phone_view=PhoneView("incall", party="202", duration="1:23", held=True),
    ),
    softphone(
        "phone-held-by-other",
        "In call, held by the other side",
        phone_view=PhoneView("incall", party="202", duration="1:23", remote_held=True),
    ),
    softphone(
        "phone-keypad",
        "In call, keypad open",
        "Keys go to the other side as DTMF.",
        phone_view=PhoneView("incall", party="202", duration="1:23", keypad=True, sent="12#"),
    ),
    *(
        softphone(
            f"phone-failed-{failure}",
            f"Call failed: {failure.replace('-', ' ')}",
            phone_view=PhoneView("ready", number="202", failure=failure, failed_party="202"),
        )
        for failure in FAILURES
    ),
    settings("settings", "Settings"),
    settings("settings-empty-submit", "Change Password: nothing typed", errors=ALL_EMPTY),
    settings(
        "settings-wrong-current",
        "Change Password: wrong current password",
        "Each error has an exclamation mark as well as its colour.",
        errors={"current_password": password_service.WRONG_CURRENT},
    ),
    settings("settings-locked", "Change Password: locked", errors={"current_password": LOCKED}),
    settings(
        "settings-same-password",
        "Change Password: same as current",
        errors={"new_password": password_service.SAME_AS_CURRENT},
    ),
    settings("settings-policy", "Change Password: too short, not confirmed", errors=SHORT),
    settings(
        "settings-company-code",
        "Change Password: contains the company code",
        errors=refused("Wickedsprockets99", "Wickedsprockets99"),
    ),
    settings(
        "settings-changed",
        "Change Password: success",
        "After the redirect (no JavaScript). Success has a tick as well as its colour.",
        changed=password_routes.CHANGED_MESSAGE,
    ),
    settings(
        "change-password-errors",
        "Change Password fragment: errors",
        blocks=("change_password",),
        errors=SHORT,
    ),
    settings(
        "change-password-changed",
        "Change Password fragment: success",
        blocks=("change_password",),
        changed=password_routes.CHANGED_MESSAGE,
    ),
    settings("settings-tab-fragment", "Tab fragment", blocks=TAB),
    settings(
        "settings-in-call",
        "During a call",
        "The softphone shrinks to a bar: the other party, the time, Hang Up.",
        phone_view=IN_CALL,
    ),
    settings(
        "settings-idle-warning",
        "Idle sign-out warning",
        "Before the idle limit, over any tab; the script counts down and opens it modal.",
        idle_warning="1:47",
    ),
    settings(
        "settings-incoming",
        "An incoming call",
        phone_view=PhoneView("ready", incoming=CALLER),
    ),
    hint("strength-weak", "Weak", frame="strength", **hint_for("sprockets")),
    hint("strength-fair", "Fair", frame="strength", **hint_for("Sprockets-7")),
    hint("strength-strong", "Strong", frame="strength", **hint_for("Ada builds 7 sprockets!")),
    *(
        error(f"error-{code}", f"{code} {title}", title=title, message=message, status_code=code)
        for code, (title, message) in MESSAGES.items()
    ),
    error(
        "error-fragment",
        "Fragment: 403 for htmx",
        "Retargeted into #main.",
        blocks=("error",),
        title=MESSAGES[403][0],
        message=MESSAGES[403][1],
        status_code=403,
    ),
    mail("mail", "One message"),
    mail("mail-empty", "No mail yet", messages=[]),
    mail("mail-stopped", "Mail server not running", messages=[], running=False),
    mail("mail-messages-fragment", "Fragment: messages", blocks=("messages",)),
    reset_email("email-reset-text", "Reset link: text", frame="text"),
    reset_email_html("email-reset-html", "Reset link: HTML"),
    changed_email(
        "email-changed-text", "Password changed: text", frame="text", how="from the portal"
    ),
    changed_email_html("email-changed-html", "Password changed: HTML", how="with a reset link"),
    *SESSION_STATES,
    *PASSKEY_STATES,
]


def _tabstates(shown: set[str]) -> list[Pattern]:
    """A page and a tab fragment for every registered tab whose template has no states above, so
    that a new tab shows here (and is rendered by the tests) with no entry in this file."""
    made = []
    for tab in TABS:
        if tab.template in shown:
            continue
        state = states(
            f"{tab.label} Tab",
            tab.template,
            {"active": tab.name},
            signed_in=True,
            fragment_frame="main",
        )
        made.append(state(tab.name, tab.label))
        made.append(
            state(
                f"{tab.name}-tab-fragment",
                "Tab fragment",
                "The tab bar comes out of band.",
                blocks=TAB,
            )
        )
    return made


REGISTRY += _tabstates({pattern.template for pattern in REGISTRY})
PATTERNS = {pattern.name: pattern for pattern in REGISTRY}
if len(PATTERNS) != len(REGISTRY):
    raise ValueError("two patterns share a name")
