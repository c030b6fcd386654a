"""The pattern gallery at `/-/patterns`: every page and fragment in every state (dev and demo only).

Each state is a real template rendered with an example context, through the same `Templates`
calls the app makes, so the gallery cannot drift from the pages; CI renders all of it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from portal import csrf, emails, tabs
from portal.accounts import Account
from portal.auth import changes, recovery
from portal.auth import routes as auth_routes
from portal.auth.policy import strength
from portal.auth.ratelimit import Refusal
from portal.auth.resets import check_new_password, describe_seconds
from portal.devmail import ReceivedMail
from portal.errors import MESSAGES
from portal.mail import Email
from portal.phone.view import FAILURES, REASONS, Caller, PhoneView
from portal.security import CONTENT_SECURITY_POLICY
from portal.settings import Settings
from portal.templating import Templates

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
ALL_EMPTY = {"current_password": changes.NO_CURRENT, **_refused("", "")}
SHORT = _refused("sprock", "sprockets")
INBOX = [_received(emails.reset_link(EXAMPLE.email or "", **RESET_EMAIL))]
USER = EXAMPLE.username
TAB = tuple(tabs.TAB_FRAGMENT)


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
# The softphone's states stand still in the gallery: each pins `phone_view`, so no page here
# loads the phone's script or reaches for a SIP server.
NO_PHONE_SYSTEM = PhoneView("off", reason="no-system")
READY = PhoneView("ready")
IN_CALL = PhoneView("incall", party="202", duration="1:23")
CALLER = Caller(name="Grace Hopper", number="202")
phone = _states(
    "Phone tab",
    "phone.html",
    {"active": "phone", "phone_view": NO_PHONE_SYSTEM},
    signed_in=True,
    fragment_frame="main",
)
softphone = _states(
    "Softphone", "phone.html", {"active": "phone", "phone_view": READY}, signed_in=True
)
settings = _states(
    "Settings tab",
    "settings.html",
    {**tabs.settings_context(DEFAULTS), "phone_view": READY},
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
        error=auth_routes.INVALID,
        username=USER,
    ),
    login("login-locked", "Locked", "Answered with 429.", error=LOCKED, username=USER),
    login(
        "login-expired-form", "Expired form", "Answered with 403.", error=auth_routes.EXPIRED_FORM
    ),
    login(
        "login-idle",
        "Signed out while idle",
        "/login?reason=idle&next=…",
        notice=auth_routes.IDLE_NOTICE,
        next="/settings",
    ),
    login(
        "login-password-changed",
        "Reset done",
        "Where a reset lands.",
        notice=recovery.CHANGED_MESSAGE,
    ),
    login(
        "login-form-invalid",
        "Form fragment: invalid credentials",
        blocks=("form",),
        error=auth_routes.INVALID,
        username=USER,
    ),
    login(
        "login-form-locked", "Form fragment: locked", blocks=("form",), error=LOCKED, username=USER
    ),
    forgot("forgot", "Empty"),
    forgot("forgot-prefilled", "Username carried over", "From the sign-in page.", username=USER),
    forgot("forgot-empty-username", "Empty username", error=recovery.NO_USERNAME),
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
        "Use here, the other tab in a call",
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
        errors={"current_password": changes.WRONG_CURRENT},
    ),
    settings("settings-locked", "Change Password: locked", errors={"current_password": LOCKED}),
    settings(
        "settings-same-password",
        "Change Password: same as current",
        errors={"new_password": changes.SAME_AS_CURRENT},
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
        changed=tabs.CHANGED_MESSAGE,
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
        changed=tabs.CHANGED_MESSAGE,
    ),
    settings("settings-tab-fragment", "Tab fragment", blocks=TAB),
    settings(
        "settings-in-call",
        "During a call",
        "The softphone shrinks to a bar: the other party, the time, Hang up.",
        phone_view=IN_CALL,
    ),
    settings(
        "settings-incoming",
        "An incoming call",
        phone_view=PhoneView("ready", incoming=CALLER),
    ),
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
PATTERNS = {pattern.name: pattern for pattern in REGISTRY}
if len(PATTERNS) != len(REGISTRY):
    raise ValueError("two patterns share a name")


def enabled(settings: Settings) -> bool:
    """The gallery is for designers and the demo: never mounted in production."""
    return settings.demo or settings.reload_templates


def _frameable(policy: str) -> str:
    """The site's policy, except that pages of this origin may frame these ones, and these
    frame them (the gallery shows each pattern in a frame)."""
    kept = [part for part in policy.split("; ") if not part.startswith("frame-ancestors ")]
    return "; ".join([*kept, "frame-src 'self'", "frame-ancestors 'self'"])


# The security middleware only sets headers a response lacks, so these win.
HEADERS = {
    "Content-Security-Policy": _frameable(CONTENT_SECURITY_POLICY),
    "X-Frame-Options": "SAMEORIGIN",
}
_HTML_TAG = re.compile(r"<html\b", re.IGNORECASE)


def _example_request(request: Request, *, account: Account | None, htmx: bool) -> Request:
    """`request` as the templates' context processor should see it for an example.

    Its session is a throwaway dict holding a fake CSRF token, so rendering never starts or
    touches the visitor's real session; `account` stands in for a signed-in extension.
    """
    headers = [(key, value) for key, value in request.scope["headers"] if key != b"hx-request"]
    if htmx:
        headers.append((b"hx-request", b"true"))
    scope = {
        **request.scope,
        "headers": headers,
        "session": {csrf.SESSION_KEY: EXAMPLE_CSRF_TOKEN},
        "state": {**request.scope.get("state", {}), "account": account},
    }
    return Request(scope)


def render_pattern(request: Request, pattern: Pattern, theme: str | None = None) -> str:
    """The HTML of one state, as a page; `theme` pins data-theme on <html>."""
    templates: Templates = request.app.state.templates
    example = _example_request(
        request, account=EXAMPLE if pattern.signed_in else None, htmx=bool(pattern.blocks)
    )
    email: Email | None = None
    if pattern.template.startswith("email/"):
        stem, _, kind = pattern.template.removeprefix("email/").partition(".")
        email = EMAILS[stem](EXAMPLE.email, **pattern.context)
        content = email.html if kind == "html" else ""  # the text goes in <pre>, escaped
    elif pattern.blocks:
        context = dict(pattern.context)
        content = templates.render_fragment(example, pattern.template, context, pattern.blocks)
    else:
        response = templates.TemplateResponse(example, pattern.template, dict(pattern.context))
        content = bytes(response.body).decode()
    if pattern.frame != "page":
        # Markup: the fragment came out of our own autoescaping templates.
        context = {"pattern": pattern, "fragment": Markup(content), "email": email}  # noqa: S704
        page = templates.TemplateResponse(example, "patterns_frame.html", context)
        content = bytes(page.body).decode()
    return _HTML_TAG.sub(f'<html data-theme="{theme}"', content, count=1) if theme else content


async def index(request: Request) -> Response:
    """Every state, each at phone and desktop widths in both themes."""
    templates: Templates = request.app.state.templates
    groups = [
        (group, list(patterns))
        for group, patterns in itertools.groupby(REGISTRY, key=lambda pattern: pattern.group)
    ]
    context = {"groups": groups, "themes": THEMES}
    example = _example_request(request, account=None, htmx=False)
    page = templates.TemplateResponse(example, "patterns.html", context)
    return HTMLResponse(bytes(page.body).decode(), headers=HEADERS)


async def pattern_page(request: Request) -> Response:
    """One state alone; `?theme=dark|light` pins the theme, anything else follows the system."""
    pattern = PATTERNS.get(request.path_params["name"])
    if pattern is None:
        raise HTTPException(404)
    theme = request.query_params.get("theme")
    return HTMLResponse(
        render_pattern(request, pattern, theme if theme in THEMES else None), headers=HEADERS
    )


routes = [Route("/-/patterns", index), Route("/-/patterns/{name}", pattern_page)]
