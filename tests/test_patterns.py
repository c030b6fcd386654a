"""The pattern gallery renders every state of every template, and only in dev and demo mode."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.resources import templates_dir
from portal.base.settings import Settings
from portal.dev import examples, patterns
from portal.dev import gallery as gallery_module
from portal.middleware.headers import CONTENT_SECURITY_POLICY
from tests.servers import free_port

# Templates that are only ever extended or imported: every state renders them.
FRAMEWORK = {
    "base.html",
    "plain.html",
    "layout.html",
    "components/_ui.html",
    "components/_phone.html",
    "components/_brand.html",
}
GALLERY = {"patterns.html", "patterns_frame.html"}
NAMES = [pattern.name for pattern in patterns.REGISTRY]


@pytest.fixture(scope="module")
def gallery(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The real app in demo mode (it starts its SMTP sink on a free port), shared by the module:
    the gallery reads no storage, so one app serves every render."""
    path = tmp_path_factory.mktemp("gallery") / "portal.base.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(
        secret_key="test-secret-key-gallery",
        database_url=f"sqlite:///{path}",
        demo=True,
        smtp_port=free_port(),
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        yield client


def test_every_template_has_a_state() -> None:
    templates = {
        str(path.relative_to(templates_dir()))
        for path in templates_dir().rglob("*")
        if path.is_file()
    }
    shown = {pattern.template for pattern in patterns.REGISTRY}
    assert templates - FRAMEWORK - GALLERY - shown == set()


def test_the_index_lists_every_state(gallery: TestClient) -> None:
    response = gallery.get("/-/patterns")

    assert response.status_code == 200
    for name in NAMES:
        assert f'href="#{name}"' in response.text
        for theme in examples.THEMES:
            assert f'src="/-/patterns/{name}?theme={theme}"' in response.text
    frames = re.findall(r"<iframe [^>]*>", response.text)
    assert len(frames) == 4 * len(NAMES)
    assert all('loading="lazy"' in frame and " title=" in frame for frame in frames)
    # Sandboxed (an opaque origin): a saved theme in localStorage cannot override ?theme=, and
    # autofocus inside a frame cannot scroll the gallery to it.
    assert all('sandbox="allow-scripts"' in frame for frame in frames)
    for width in ("phone", "desktop"):
        assert response.text.count(f'class="pattern-frame pattern-frame--{width}"') == 2 * len(
            NAMES
        )


@pytest.mark.parametrize("theme", examples.THEMES)
@pytest.mark.parametrize("name", NAMES)
def test_every_state_renders(gallery: TestClient, name: str, theme: str) -> None:
    response = gallery.get(f"/-/patterns/{name}", params={"theme": theme})

    assert response.status_code == 200, response.text
    assert re.search(rf'<html data-theme="{theme}"[ >]', response.text)
    assert "example-csrf-token" in response.text or 'name="csrf_token"' not in response.text
    assert "data-phone-live" not in response.text  # no state reaches for a SIP server


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("login-invalid", 'value="201-wickedsprockets"'),
        ("login-locked", "Too many failed attempts. Try again in 14 minutes."),
        ("login-idle", 'name="next" value="/settings"'),
        ("login-password-changed", "Your password was changed. Sign in with your new password."),
        ("login-password-changed", 'class="notice notice--success" id="login-notice"'),
        ("login-signed-out", '<p class="notice" id="login-notice" role="status"'),
        ("settings-changed", 'class="notice notice--success" id="change-password-status"'),
        ("login", "data-theme-label></span>"),
        ("forgot-sent", "a link to choose a new password is on its way. It is valid for 1 hour."),
        ("reset-too-short", "Use at least 8 characters."),
        ("reset-invalid", "This Link No Longer Works"),
        ("reset-invalid", "<title>Reset Link No Longer Works · Phone Portal</title>"),
        ("login-branded", "<title>Sign In · Wicked Sprockets Phones</title>"),
        ("login-branded", '<img class="brand-logo" src="data:image/svg+xml,'),
        ("phone-branded", '<img class="brand-logo" src="data:image/svg+xml,'),
        ("settings-changed", "Your other sessions were signed out."),
        ("settings-wrong-current", "That is not your current password."),
        ("phone", "Ada Lovelace"),
        ("phone-tab-fragment", 'hx-swap-oob="true"'),
        ("phone", "Disconnected: No phone system is configured for this portal."),
        ("phone-ready", "<span data-phone-status>Ready</span>"),
        ("phone-disconnected-microphone", "Disconnected: Microphone access is blocked"),
        ("phone-disconnected-elsewhere", "The phone is open in another tab."),
        ("phone-incoming", "data-phone-incoming open>"),
        ("phone-on-hold", "In call with 202, on hold"),
        ("phone-muted", 'data-phone-mute aria-pressed="true"'),
        ("phone-keypad", 'data-phone-keypad aria-expanded="true"'),
        ("phone-failed-busy", "202 is busy."),
        ("settings-in-call", "In call with 202"),
        ("strength-strong", "strength-level--strong"),
        ("error-413", "Too Large"),
        ("mail", '<a href="http://127.0.0.1:8000/reset-password/example-reset-token">'),
        ("email-reset-text", "http://127.0.0.1:8000/reset-password/example-reset-token"),
        ("email-changed-html", "was just changed (with a reset link)"),
    ],
)
def test_states_show_their_example(gallery: TestClient, name: str, shown: str) -> None:
    assert shown in gallery.get(f"/-/patterns/{name}").text


def test_a_fragment_comes_in_a_styled_page_without_its_own_page_around_it(
    gallery: TestClient,
) -> None:
    page = gallery.get("/-/patterns/login-form-invalid").text

    assert page.count("<html") == 1 and re.search(r'href="/static/css/portal[^"]*\.css"', page)
    assert re.search(r'<div class="card">\s*<form id="login-form"', page)
    assert "<h1>Sign In</h1>" not in page  # the block alone, not the page it lives in


def test_unknown_state_is_404(gallery: TestClient) -> None:
    assert gallery.get("/-/patterns/no-such-state").status_code == 404


def test_theme_is_set_on_html_server_side(gallery: TestClient) -> None:
    dark = gallery.get("/-/patterns/login?theme=dark").text
    system = gallery.get("/-/patterns/login").text
    odd = gallery.get("/-/patterns/login?theme=%22%3E%3Cscript%3E").text

    assert re.search(r'<html data-theme="dark" lang="en"', dark)
    assert "data-theme=" not in system.split(">", 2)[1]
    assert "<script>" not in odd and "data-theme=" not in odd.split(">", 2)[1]


@pytest.mark.parametrize("path", ["/-/patterns", "/-/patterns/login", "/-/patterns/mail"])
def test_gallery_frames_and_may_be_framed_by_itself_only(gallery: TestClient, path: str) -> None:
    response = gallery.get(path)
    policy = response.headers["content-security-policy"]

    assert policy == CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'", "frame-src 'self'; frame-ancestors 'self'"
    )
    assert "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "SAMEORIGIN"


def test_the_gallerys_sandboxed_frames_may_load_the_static_files(gallery: TestClient) -> None:
    """The frames have an origin of their own (sandboxed): the public static files, and only
    they, are open to other origins while the gallery is mounted."""
    stylesheet = re.search(r'href="(/static/css/portal\.[^"]+)"', gallery.get("/login").text)
    assert stylesheet
    assert gallery.get(stylesheet.group(1)).headers["cross-origin-resource-policy"] == (
        "cross-origin"
    )
    for path in ("/login", "/-/patterns/login"):
        assert gallery.get(path).headers["cross-origin-resource-policy"] == "same-origin"


def test_rest_of_site_still_refuses_frames(gallery: TestClient) -> None:
    response = gallery.get("/login")

    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_no_render_starts_a_session(gallery: TestClient) -> None:
    gallery.cookies.clear()
    for name in NAMES:
        for headers in ({}, {"HX-Request": "true"}):
            response = gallery.get(f"/-/patterns/{name}", headers=headers)
            assert "set-cookie" not in response.headers, name
    assert "set-cookie" not in gallery.get("/-/patterns").headers


def test_no_inline_scripts_or_styles(gallery: TestClient) -> None:
    for path in ["/-/patterns", *(f"/-/patterns/{name}" for name in NAMES)]:
        page = gallery.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert "<style" not in page and " style=" not in page, path


@pytest.mark.parametrize(
    ("changes", "on"),
    [({}, False), ({"demo": True}, True), ({"reload_templates": True}, True)],
)
def test_enabled_in_dev_and_demo_mode_only(changes: dict[str, bool], on: bool) -> None:
    assert gallery_module.enabled(replace(Settings(), **changes)) is on


def test_gallery_is_off_in_production(client: TestClient) -> None:
    assert client.get("/-/patterns").status_code == 404
    assert client.get("/-/patterns/login").status_code == 404


def test_a_state_in_a_gallery_frame_leaves_autofocus_out(gallery: TestClient) -> None:
    """The browser refuses autofocus in the sandboxed frames, with a console error each."""
    alone = gallery.get("/-/patterns/login-invalid")
    framed = gallery.get("/-/patterns/login-invalid", headers={"Sec-Fetch-Dest": "iframe"})

    assert re.search(r"\sautofocus[\s>]", alone.text)
    assert not re.search(r"\sautofocus[\s>]", framed.text)
    assert framed.text.replace(" autofocus", "") == framed.text
    assert "Sec-Fetch-Dest" in framed.headers["vary"]


PASSKEY_SCRIPT = re.compile(r'<script src="/static/js/passkeys\.[^"]*\.js"')
PASSKEY_BUTTON = re.compile(
    r'<button type="button" class="button( passkey-only)?" data-passkey-signin>'
    r"Sign In with a Passkey</button>"
)


def test_the_login_page_with_passkeys_shows_what_passkeys_js_would_show(
    gallery: TestClient,
) -> None:
    """The gallery runs where passkeys are off (an IP address) and loads no passkeys.js: the
    state shows the form as a browser that can use passkeys gets it, the button visible."""
    state = gallery.get("/-/patterns/login-passkeys").text
    plain = gallery.get("/-/patterns/login").text

    assert 'autocomplete="username webauthn"' in state
    button = PASSKEY_BUTTON.search(state)
    assert button and button.group(1) is None  # not hidden until a script says so
    assert not PASSKEY_SCRIPT.search(state)
    # Passkeys off, no flag: the page as it is live on an IP address, with no passkey in it.
    assert 'autocomplete="username"' in plain and "data-passkey-signin" not in plain


def test_no_state_loads_passkeys_js_where_passkeys_are_on(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """`portal demo` serves the gallery on localhost, where passkeys are on: no state starts
    passkey autofill in its sandboxed frame (the passkey states show what the script would),
    while the live login page keeps its script and keeps the button hidden until the script
    finds a browser that can use passkeys."""
    path = tmp_path / "portal.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(
        secret_key="test-secret-key-gallery",
        database_url=f"sqlite:///{path}",
        base_url="http://localhost:8000",
        demo=True,
        smtp_port=free_port(),
    )
    with TestClient(
        create_app(settings), base_url="http://localhost:8000", follow_redirects=False
    ) as gallery:
        _no_state_loads_passkeys_js(gallery)


def _no_state_loads_passkeys_js(gallery: TestClient) -> None:
    for pattern in patterns.REGISTRY:
        page = gallery.get(f"/-/patterns/{pattern.name}").text
        assert not PASSKEY_SCRIPT.search(page), pattern.name
    state = gallery.get("/-/patterns/login-passkeys").text
    button = PASSKEY_BUTTON.search(state)
    assert button and button.group(1) is None
    live = gallery.get("/login").text
    assert PASSKEY_SCRIPT.search(live)
    assert 'autocomplete="username webauthn"' in live
    button = PASSKEY_BUTTON.search(live)
    assert button and button.group(1) == " passkey-only"
