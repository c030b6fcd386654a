"""The pattern gallery's states: every page and fragment in every state, as a real template with
an example context (`portal.dev.gallery` renders them), so the gallery cannot drift from the
pages; CI renders all of it. A template without a state fails a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from portal.base.settings import Settings
from portal.domain import emails
from portal.domain.accounts import Account
from portal.domain.mail import Email
from portal.domain.mailsink import ReceivedMail
from portal.flows.newpassword import check_new_password
from portal.flows.password import routes as password_routes
from portal.flows.password import service as password_service
from portal.flows.reset import routes as reset_routes
from portal.flows.reset.service import describe_seconds
from portal.flows.signin import routes as signin_routes
from portal.middleware.errors import MESSAGES
from portal.security.policy import strength
from portal.security.throttle import Refusal
from portal.tabs import TABS
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
    email="ada@example.com",
    tenant_code="wickedsprockets",
    tenant_name="Wicked Sprockets",
    stamp="example-stamp",
)


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


def _refused(new: str, confirm: str) -> dict[str, str]:
    """The errors the one password policy gives for this pair, worded as the app words them."""
    return check_new_password(
        new,
        confirm,
        DEFAULTS.password_min_length,
        username=EXAMPLE.username,
        tenant_code=EXAMPLE.tenant_code,
    )


def _hint(password: str) -> dict[str, Any]:
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
}
RESET_EMAIL = {
    "username": EXAMPLE.username,
    "tenant_name": EXAMPLE.tenant_name,
    "link": f"{DEFAULTS.base_url}/reset-password/{EXAMPLE_RESET_TOKEN}",
    "hours": describe_seconds(DEFAULTS.reset_token_seconds),
}
CHANGED_EMAIL = {"username": EXAMPLE.username, "tenant_name": EXAMPLE.tenant_name}


def _received(email: Email) -> ReceivedMail:
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
ALL_EMPTY = {"current_password": password_service.NO_CURRENT, **_refused("", "")}
SHORT = _refused("sprock", "sprockets")
INBOX = [_received(emails.reset_link(EXAMPLE.email or "", **RESET_EMAIL))]
USER = EXAMPLE.username
TAB = tuple(TAB_FRAGMENT)


def _states(
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


login = _states(
    "Sign in", "login.html", {"error": None, "username": "", "next": "", "notice": None}
)
forgot = _states(
    "Forgot password",
    "forgot.html",
    {"sent": False, "error": None, "username": "", "valid_for": RESET_EMAIL["hours"]},
)
reset = _states(
    "Reset password",
    "reset.html",
    {
        "token": EXAMPLE_RESET_TOKEN,
        "errors": {},
        "invalid": False,
        "username": USER,
        "min_length": DEFAULTS.password_min_length,
    },
)
phone = _states(
    "Phone tab", "phone.html", {"active": "phone"}, signed_in=True, fragment_frame="main"
)
settings = _states(
    "Settings tab",
    "settings.html",
    password_routes.form_context(DEFAULTS),
    signed_in=True,
    fragment_frame="main",
)
hint = _states("Password strength hint", "components/_strength.html", {})
error = _states("Error pages", "error.html", {}, fragment_frame="auth")
mail = _states(
    "Demo mail", "dev_mail.html", {"messages": INBOX, "running": True}, fragment_frame="main"
)
reset_email = _states("Emails", "email/reset.txt", RESET_EMAIL)
reset_email_html = _states("Emails", "email/reset.html", RESET_EMAIL)
changed_email = _states("Emails", "email/changed.txt", CHANGED_EMAIL)
changed_email_html = _states("Emails", "email/changed.html", CHANGED_EMAIL)

REGISTRY: list[Pattern] = [
    login("login", "Empty"),
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
    login("login-locked", "Locked", "Answered with 429.", error=LOCKED, username=USER),
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
        "login-password-changed",
        "Reset done",
        "Where a reset lands.",
        notice=reset_routes.CHANGED_MESSAGE,
    ),
    login(
        "login-form-invalid",
        "Form fragment: invalid credentials",
        blocks=("form",),
        error=signin_routes.INVALID,
        username=USER,
    ),
    login(
        "login-form-locked", "Form fragment: locked", blocks=("form",), error=LOCKED, username=USER
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
    reset("reset-empty", "Nothing typed", errors=_refused("", "")),
    reset("reset-too-short", "Too short, not confirmed", errors=SHORT),
    reset("reset-common", "A common password", errors=_refused("password1", "password1")),
    reset("reset-username", "Contains the username", errors=_refused(f"ada-{USER}", USER)),
    reset("reset-mismatch", "Confirmation differs", errors=_refused("Horse-7!", "Horse-8!")),
    reset("reset-invalid", "Expired or used link", "Answered with 410.", invalid=True),
    reset("reset-fragment-errors", "Fragment: policy errors", blocks=("reset",), errors=SHORT),
    reset(
        "reset-fragment-invalid", "Fragment: link used meanwhile", blocks=("reset",), invalid=True
    ),
    phone("phone", "Phone"),
    phone("phone-tab-fragment", "Tab fragment", "The tab bar comes out of band.", blocks=TAB),
    settings("settings", "Settings"),
    settings("settings-empty-submit", "Change Password: nothing typed", errors=ALL_EMPTY),
    settings(
        "settings-wrong-current",
        "Change Password: wrong current password",
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
        errors=_refused("Wickedsprockets99", "Wickedsprockets99"),
    ),
    settings(
        "settings-changed",
        "Change Password: success",
        "After the redirect (no JavaScript).",
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
    hint("strength-weak", "Weak", frame="strength", **_hint("sprockets")),
    hint("strength-fair", "Fair", frame="strength", **_hint("Sprockets-7")),
    hint("strength-strong", "Strong", frame="strength", **_hint("Ada builds 7 sprockets!")),
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
]


def _tab_states(shown: set[str]) -> list[Pattern]:
    """A page and a tab fragment for every registered tab whose template has no states above, so
    that a new tab shows here (and is rendered by the tests) with no entry in this file."""
    made = []
    for tab in TABS:
        if tab.template in shown:
            continue
        state = _states(
            f"{tab.label} tab",
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


REGISTRY += _tab_states({pattern.template for pattern in REGISTRY})
PATTERNS = {pattern.name: pattern for pattern in REGISTRY}
if len(PATTERNS) != len(REGISTRY):
    raise ValueError("two patterns share a name")
