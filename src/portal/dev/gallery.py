"""The pattern gallery at `/-/patterns`: every state of `portal.dev.patterns`, rendered through
the same `Templates` calls the app makes, alone or all on one page (dev and demo only)."""

from __future__ import annotations

import itertools
import re

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from portal.base.settings import Settings
from portal.dev.examples import EMAILS, EXAMPLE, EXAMPLE_CSRF_TOKEN, EXAMPLE_EMAIL, THEMES, Pattern
from portal.dev.patterns import PATTERNS, REGISTRY
from portal.domain.accounts import Account
from portal.domain.mail import Email
from portal.middleware.headers import CONTENT_SECURITY_POLICY
from portal.web import csrf
from portal.web.shared import shared_of
from portal.web.templating import Templates


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
_AUTOFOCUS = re.compile(r"\s+autofocus(?=[\s/>])")


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
    templates = shared_of(request).templates
    assert isinstance(templates, Templates)
    example = _example_request(
        request, account=EXAMPLE if pattern.signed_in else None, htmx=bool(pattern.blocks)
    )
    # No state loads passkeys.js, even where passkeys are on (`portal demo`, on localhost): its
    # autofill would start in a sandboxed frame, which refuses it on the console. The passkey
    # states show what the script would show instead (`passkeys_demo`).
    context = {"passkeys_on": False, **pattern.context}
    email: Email | None = None
    if pattern.template.startswith("email/"):
        stem, _, kind = pattern.template.removeprefix("email/").partition(".")
        email = EMAILS[stem](EXAMPLE_EMAIL, **pattern.context)
        content = email.html if kind == "html" else ""  # the text goes in <pre>, escaped
    elif pattern.blocks:
        content = templates.render_fragment(example, pattern.template, context, pattern.blocks)
    else:
        response = templates.TemplateResponse(example, pattern.template, context)
        content = bytes(response.body).decode()
    if pattern.frame != "page":
        # Markup: the fragment came out of our own autoescaping templates.
        context = {"pattern": pattern, "fragment": Markup(content), "email": email}  # noqa: S704
        page = templates.TemplateResponse(example, "patterns_frame.html", context)
        content = bytes(page.body).decode()
    return _HTML_TAG.sub(f'<html data-theme="{theme}"', content, count=1) if theme else content


async def index(request: Request) -> Response:
    """Every state, each at phone and desktop widths in both themes."""
    templates = shared_of(request).templates
    assert isinstance(templates, Templates)
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
    content = render_pattern(request, pattern, theme if theme in THEMES else None)
    if request.headers.get("sec-fetch-dest") == "iframe":
        # In the gallery's sandboxed frames the browser refuses autofocus, and says so on the
        # console for every frame; opened alone, the state keeps it.
        content = _AUTOFOCUS.sub("", content)
    return HTMLResponse(content, headers={**HEADERS, "Vary": "Sec-Fetch-Dest"})


routes = [Route("/-/patterns", index), Route("/-/patterns/{name}", pattern_page)]
