"""The pattern gallery's states of the signed-out pages: sign in, forgot password and the
reset form (`portal.dev.patterns` gathers every state)."""

from __future__ import annotations

from portal.dev.examples import (
    DEFAULTS,
    EXAMPLE_BRAND,
    EXAMPLE_RESET_TOKEN,
    LOCKED,
    LOCKED_FULL,
    LOCKOUT_MINUTES,
    RESET_EMAIL,
    SHORT,
    USER,
    Pattern,
    refused,
    states,
)
from portal.flows.reset import routes as reset_routes
from portal.flows.signin import routes as signin_routes

login = states(
    "Sign In",
    "login.html",
    {
        "error": None,
        "username": "",
        "next": "",
        "notice": None,
        "locked": False,
        "remembered": False,
        "success": None,
    },
)
forgot = states(
    "Forgot Password",
    "forgot.html",
    {"sent": False, "error": None, "username": "", "valid_for": RESET_EMAIL["hours"]},
)
reset = states(
    "Reset Password",
    "reset.html",
    {
        "token": EXAMPLE_RESET_TOKEN,
        "errors": {},
        "invalid": False,
        "username": USER,
        "min_length": DEFAULTS.password_min_length,
    },
)
SIGNED_OUT: list[Pattern] = [
    login("login", "Empty"),
    login(
        "login-passkeys",
        "With passkeys",
        "A domain name in PORTAL_BASE_URL, a browser that can use passkeys: the username field"
        " offers them too, and Sign In with a Passkey shows.",
        # The gallery loads no passkeys.js: show the form that it would show.
        passkeys_demo=True,
    ),
    login(
        "login-next",
        "Sent from a signed-in page",
        "The page asked for is kept in next.",
        next="/settings",
    ),
    login(
        "login-invalid",
        "Invalid credentials",
        "One generic error.",
        error=signin_routes.INVALID,
        username=USER,
    ),
    login(
        "login-branded",
        "Branded",
        "PORTAL_BRAND_NAME and PORTAL_BRAND_LOGO_URL: the header and the title.",
        brand=EXAMPLE_BRAND,
    ),
    login(
        "login-locked",
        "Locked",
        "Answered with 429; a way to reset the password instead of waiting.",
        error=LOCKED,
        locked=True,
        username=USER,
    ),
    login(
        "login-attempts-left",
        "Attempts left",
        "From the third failure: how many before the wait (the same for unknown names).",
        error=signin_routes.attempts_left(2, LOCKOUT_MINUTES),
        username=USER,
    ),
    login(
        "login-locking-failure",
        "The failure that begins the wait",
        error=f"{signin_routes.INVALID}. {LOCKED_FULL}",
        locked=True,
        username=USER,
    ),
    login(
        "login-remembered",
        "Username remembered",
        "This browser signed in before: its name is filled in, focus is on the password.",
        username=USER,
        remembered=True,
    ),
    login(
        "login-remembered-idle",
        "Remembered, after an idle sign-out",
        notice=signin_routes.IDLE_NOTICE,
        next="/settings",
        username=USER,
        remembered=True,
    ),
    login(
        "login-password-shown",
        "Password shown",
        "After Show Password (the script): the field as text, the toggle pressed.",
        username=USER,
        password_shown=True,
    ),
    login(
        "login-caps-lock",
        "Caps Lock on",
        "While a password is typed with caps lock on (the script); announced politely.",
        username=USER,
        caps_lock=True,
    ),
    login(
        "login-expired-form", "Expired form", "Answered with 403.", error=signin_routes.EXPIRED_FORM
    ),
    login(
        "login-idle",
        "Signed out while idle",
        "/login?reason=idle&next=…",
        notice=signin_routes.IDLE_NOTICE,
        next="/settings",
    ),
    login(
        "login-signed-out",
        "Signed out",
        "A plain notice: news, neither good nor bad.",
        notice=signin_routes.SIGNED_OUT_NOTICE,
    ),
    login(
        "login-password-changed",
        "Reset done",
        "Where a reset lands: good news, marked as such.",
        success=reset_routes.CHANGED_MESSAGE,
    ),
    login(
        "login-form-invalid",
        "Form fragment: invalid credentials",
        blocks=("form",),
        error=signin_routes.INVALID,
        username=USER,
    ),
    login(
        "login-form-locked",
        "Form fragment: locked",
        blocks=("form",),
        error=LOCKED,
        locked=True,
        username=USER,
    ),
    login(
        "login-form-invalid-passkeys",
        "Form fragment: invalid credentials, with passkeys",
        "What htmx swaps in after a wrong password where passkeys are on: the passkey button"
        " comes back with the form.",
        blocks=("form",),
        error=signin_routes.INVALID,
        username=USER,
        passkeys_demo=True,
    ),
    forgot("forgot", "Empty"),
    forgot("forgot-prefilled", "Username carried over", "From the sign-in page.", username=USER),
    forgot("forgot-empty-username", "Empty username", error=reset_routes.NO_USERNAME),
    forgot(
        "forgot-sent",
        "Sent",
        "The same whether or not the extension exists.",
        sent=True,
        username=USER,
    ),
    forgot("forgot-sent-fragment", "Fragment: sent", blocks=("forgot",), sent=True, username=USER),
    reset("reset", "Form"),
    reset("reset-empty", "Nothing typed", errors=refused("", "")),
    reset("reset-too-short", "Too short, not confirmed", errors=SHORT),
    reset("reset-common", "A common password", errors=refused("password1", "password1")),
    reset("reset-username", "Contains the username", errors=refused(f"ada-{USER}", USER)),
    reset("reset-mismatch", "Confirmation differs", errors=refused("Horse-7!", "Horse-8!")),
    reset(
        "reset-invalid",
        "Expired or used link",
        "Answered with 410; the page title says so too.",
        invalid=True,
    ),
    reset("reset-fragment-errors", "Fragment: policy errors", blocks=("reset",), errors=SHORT),
    reset(
        "reset-fragment-invalid", "Fragment: link used meanwhile", blocks=("reset",), invalid=True
    ),
]
