"""Passkeys in a real Chromium, with a virtual authenticator through the DevTools protocol (a
platform authenticator that holds discoverable credentials and verifies its user): add one in
Settings, sign out, sign in with it from the login page with no username typed; a removed one
and a stranger's no longer sign in; a passkey signs in while the password is locked out. The
server runs under http://localhost:PORT, as passkeys need a domain name."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.browser.conftest import Pages, Server, axe_violations, open_menu, sign_in, sign_out
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser

AT_PHONE = re.compile(r"/phone$")
AT_SETTINGS = re.compile(r"/settings")
REFUSED = "That passkey could not sign you in."


@pytest.fixture(scope="module")
def passkey_server(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(hostname="localhost")
    yield server
    server.stop()


def authenticator(page: Page) -> tuple[Any, str]:
    """A virtual platform authenticator for `page`: it answers every ceremony at once, with
    the user verified."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


# The virtual authenticator answers at once, the autofill's request too (a real browser waits
# for the user to pick the passkey from the username field's suggestions): where a test means
# the button, this page offers no autofill.
NO_AUTOFILL = (
    "Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable',"
    " {value: undefined})"
)


def button_only(page: Page) -> None:
    page.add_init_script(NO_AUTOFILL)


def held(cdp: Any, authenticator_id: str) -> list[dict[str, Any]]:
    answer = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    credentials: list[dict[str, Any]] = answer["credentials"]
    return credentials


def add_passkey(page: Page, name: str) -> None:
    open_menu(page)
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(AT_SETTINGS)
    section = page.get_by_role("region", name="Passkeys")
    section.get_by_label("Name for the new passkey").fill(name)
    section.get_by_role("button", name="Add a Passkey").click()
    expect(section.get_by_role("status")).to_have_text(f"The passkey “{name}” was added.")
    expect(section.get_by_text(name, exact=True)).to_be_visible()


def to_empty_login(page: Page) -> None:
    """The login page with no username in it (this browser remembers one: "Not you?")."""
    page.goto("/login")
    not_you = page.get_by_role("link", name="Not you?")
    if not_you.count():
        not_you.click()
    expect(page.get_by_label("Username")).to_have_value("")


def test_add_a_passkey_then_sign_in_with_it_and_no_username(
    pages: Pages, passkey_server: Server
) -> None:
    server = passkey_server
    page = pages.new_page(server=server)
    button_only(page)
    cdp, authenticator_id = authenticator(page)
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    add_passkey(page, "Virtual laptop")
    [credential] = held(cdp, authenticator_id)
    assert credential["isResidentCredential"] is True
    before = [c["value"] for c in page.context.cookies() if c["name"] == "portal_session"]

    sign_out(page)
    to_empty_login(page)
    username = page.get_by_label("Username")
    assert username.get_attribute("autocomplete") == "username webauthn"
    page.get_by_role("button", name="Sign In with a Passkey").click()
    expect(page).to_have_url(AT_PHONE)
    after = [c["value"] for c in page.context.cookies() if c["name"] == "portal_session"]
    assert after and after != before

    open_menu(page)
    page.get_by_role("link", name="Settings").click()
    section = page.get_by_role("region", name="Passkeys")
    expect(section.get_by_text("Never")).to_have_count(0)  # its last use is shown now

    # Removed, it signs nobody in, though the authenticator still offers it.
    section.get_by_role("button", name="Remove").click()
    section.get_by_role("button", name="Remove").click()  # confirmed: no password within 5 min
    expect(section.get_by_role("status")).to_have_text("The passkey “Virtual laptop” was removed.")
    expect(section.get_by_text("You have no passkeys yet.")).to_be_visible()
    pages.allow("status of 400")
    sign_out(page)
    to_empty_login(page)
    page.get_by_role("button", name="Sign In with a Passkey").click()
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    page.goto("/phone")
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_autofill_signs_in_with_no_username_typed(pages: Pages, passkey_server: Server) -> None:
    """The username field's passkey suggestions (conditional mediation): the virtual
    authenticator picks the passkey as soon as the login page asks, as a user would pick it."""
    server = passkey_server
    page = pages.new_page(server=server)
    authenticator(page)
    sign_in(page, server)
    add_passkey(page, "Autofilled")
    sign_out(page)  # on the login page, the autofill asks at once
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()


def test_a_strangers_passkey_for_this_site_signs_nobody_in(
    pages: Pages, passkey_server: Server
) -> None:
    """A passkey made elsewhere for this host (another portal on localhost, another tenant's
    extension), even one whose user handle names this portal's extension, is not one of ours."""
    page = pages.new_page(server=passkey_server)
    button_only(page)
    cdp, authenticator_id = authenticator(page)
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator_id,
            "credential": {
                "credentialId": base64.b64encode(b"another-tenants-passkey").decode(),
                "isResidentCredential": True,
                "rpId": "localhost",
                "privateKey": base64.b64encode(pkcs8).decode(),
                "userHandle": base64.b64encode(b"portal-extension:1").decode(),
                "signCount": 0,
            },
        },
    )
    pages.allow("status of 400")
    to_empty_login(page)
    page.get_by_role("button", name="Sign In with a Passkey").click()
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    page.goto("/phone")
    expect(page).to_have_url(re.compile(r"/login"))


def test_a_passkey_signs_in_while_the_password_is_locked_out(
    pages: Pages, passkey_server: Server
) -> None:
    server = passkey_server
    page = pages.new_page(server=server)
    button_only(page)
    authenticator(page)
    sign_in(page, server)
    add_passkey(page, "Kept for a rainy day")
    sign_out(page)

    pages.allow("status of 429")
    alert = page.get_by_role("alert")

    def attempt(password: str) -> None:
        """Sign In, and wait for the answer (the swapped-in form has no mark)."""
        page.get_by_label("Password", exact=True).fill(password)
        page.evaluate("document.getElementById('login-form').dataset.answered = 'no'")
        page.get_by_role("button", name="Sign In", exact=True).click()
        expect(page.locator("#login-form[data-answered]")).to_have_count(0)

    for _ in range(5):
        attempt("not the password")
    attempt(server.password)
    expect(alert).to_contain_text("Too many failed attempts.")

    page.get_by_role("button", name="Sign In with a Passkey").click()
    expect(page).to_have_url(AT_PHONE)


def test_the_login_page_and_the_passkeys_section_are_axe_clean_live(
    pages: Pages, passkey_server: Server, axe_source: str
) -> None:
    page = pages.new_page(server=passkey_server)
    button_only(page)
    authenticator(page)
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign In with a Passkey")).to_be_visible()
    assert axe_violations(page, axe_source) == []
    sign_in(page, passkey_server)
    add_passkey(page, "Axe laptop")
    assert axe_violations(page, axe_source) == []
    section = page.get_by_role("region", name="Passkeys")
    section.get_by_role("button", name="Rename").last.click()
    expect(page.get_by_label("New name")).to_be_focused()
    assert axe_violations(page, axe_source) == []


def test_without_javascript_no_passkey_button_shows(pages: Pages, passkey_server: Server) -> None:
    page = pages.new_page(server=passkey_server, java_script_enabled=False)
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign In with a Passkey")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign In", exact=True)).to_be_visible()
