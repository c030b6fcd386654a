"""The sign-in page's details in a real Chromium: the count of attempts left before the wait,
the locked message's way to a reset, focus on the first field to type in, a username field that
phones leave alone, show-password on every password field, the caps-lock warning, and the
username this browser remembers. The fixtures fail a test whose page logged an error or broke
the CSP."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.browser.conftest import Pages, Server
from tests.browser.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

AT_PHONE = re.compile(r"/phone$")
AT_LOGIN = re.compile(r"/login(\?.*)?$")
RESET_LINK = re.compile(r"http://\S+/reset-password/\S+")
INVALID = "Invalid username or password"
CAPS = "Caps Lock is on."


def sign_in(page: Page, server: Server) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password", exact=True).fill(server.password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(AT_PHONE)


def toggle_of(page: Page, field: Locator) -> Locator:
    """The show-password button in `field`'s own box."""
    return page.locator(".field").filter(has=field).get_by_role("button", name="Show Password")


# --- attempts left, and the locked message ---------------------------------------------------


def submit(page: Page) -> None:
    """Sign In, and wait for the answer's form to replace this one."""
    page.evaluate("document.getElementById('login-form').dataset.answered = 'no'")
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("#login-form[data-answered]")).to_have_count(0)


@pytest.fixture
def own_server(start_server: Callable[..., Server]) -> Server:
    """Failures here count on an address ceiling no other test shares."""
    return start_server()


@pytest.mark.parametrize("name", ["known", "unknown"])
def test_from_the_third_failure_the_error_says_how_many_are_left(
    pages: Pages, own_server: Server, name: str
) -> None:
    username = own_server.username if name == "known" else "999-wickedsprockets"
    page = pages.new_page(server=own_server)
    pages.allow("status of 429")  # the locked answer, on purpose
    page.goto("/login")
    alert = page.get_by_role("alert")
    said = []
    for _ in range(5):
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill("not the password")
        submit(page)
        said.append(alert.inner_text().strip())
    left = INVALID + ". {} left before a 15-minute wait."
    assert said[:4] == [INVALID, INVALID, left.format("2 attempts"), left.format("1 attempt")]
    assert said[4].startswith(INVALID + ". Too many failed attempts. Try again in 15 minutes.")

    # The wait offers a reset, and the link carries the username over.
    page.get_by_label("Password", exact=True).fill("still not it")
    submit(page)
    expect(alert).to_contain_text("Too many failed attempts. Try again in 15 minutes.")
    link = alert.get_by_role("link", name="Forgot password?")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(r"/forgot-password\?username="))
    expect(page.get_by_label("Username")).to_have_value(username)


# --- focus and the username field -------------------------------------------------------------


def test_focus_starts_in_the_first_empty_field_and_the_username_is_left_as_typed(
    page: Page,
) -> None:
    page.goto("/login")
    username = page.get_by_label("Username")
    expect(username).to_be_focused()
    expect(username).to_have_attribute("autocapitalize", "none")
    expect(username).to_have_attribute("spellcheck", "false")
    expect(username).to_have_attribute("autocorrect", "off")
    assert username.evaluate("el => el.spellcheck") is False

    # A refusal keeps the username: the password is what needs typing again.
    username.fill("999-wickedsprockets")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(page.get_by_label("Password", exact=True)).to_be_focused()


# --- show password ----------------------------------------------------------------------------


def check_toggle(page: Page, field: Locator, secret: str) -> None:
    """The toggle flips the field between hidden and shown, by mouse and by keyboard, keeping
    what was typed, the focus and the caret."""
    toggle = toggle_of(page, field)
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("type", "button")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(field).to_have_attribute("type", "password")
    field.fill(secret)
    field.evaluate("el => el.setSelectionRange(2, 2)")

    toggle.click()  # the mouse: focus and caret stay in the field
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(field).to_have_attribute("type", "text")
    expect(field).to_have_value(secret)
    expect(field).to_be_focused()
    assert field.evaluate("el => [el.selectionStart, el.selectionEnd]") == [2, 2]
    page.keyboard.type("X")
    expect(field).to_have_value(secret[:2] + "X" + secret[2:])
    field.fill(secret)

    toggle.focus()  # the keyboard: focus stays on the toggle, to press it again
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(field).to_have_attribute("type", "password")
    expect(field).to_have_value(secret)
    expect(toggle).to_be_focused()


def test_every_password_field_has_a_show_password_toggle(pages: Pages, mail_server: Server) -> None:
    server = mail_server
    page = pages.new_page(server=server)
    page.goto("/login")
    check_toggle(page, page.get_by_label("Password", exact=True), "login secret")

    sign_in(page, server)
    page.get_by_role("link", name="Settings").click()
    labels = ["Current password", "New password", "Confirm new password"]
    for label in labels:
        check_toggle(page, page.get_by_label(label, exact=True), f"{label} secret")
    # After an htmx swap (a refusal), the new fields' toggles work too.
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("violet meadow 42 Kettle")
    page.get_by_label("Confirm new password").fill("violet meadow 42 Kettle")
    page.get_by_role("button", name="Change Password").click()
    expect(page.locator(".field-error")).to_have_count(1)
    for label in labels:
        check_toggle(page, page.get_by_label(label, exact=True), f"{label} again")

    # The reset page's two.
    page.context.clear_cookies()
    page.goto("/forgot-password")
    page.get_by_label("Username").fill(server.username)
    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")
    assert server.sink is not None
    mail = server.sink.wait_until(lambda m: RESET_LINK.search(m.text) is not None, timeout=15)
    found = RESET_LINK.search(mail.text)
    assert found
    page.goto(found.group(0))
    for label in labels[1:]:
        check_toggle(page, page.get_by_label(label, exact=True), f"{label} reset")
    page.close()  # before its server stops: the strength hint may still be on its way


def test_a_shown_password_is_hidden_again_when_the_form_is_sent(page: Page) -> None:
    page.goto("/login")
    password = page.get_by_label("Password", exact=True)
    page.get_by_label("Username").fill("999-wickedsprockets")
    password.fill("not the password")
    toggle_of(page, password).click()
    expect(password).to_have_attribute("type", "text")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(password).to_have_attribute("type", "password")
    expect(toggle_of(page, password)).to_have_attribute("aria-pressed", "false")


def test_without_javascript_no_toggle_is_shown(pages: Pages) -> None:
    page = pages.new_page(java_script_enabled=False)
    page.goto("/login")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Show Password")).to_have_count(0)
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus needs no script


# --- caps lock --------------------------------------------------------------------------------


def key(field: Locator, kind: str, name: str, *, caps: bool) -> None:
    """A key event as Chromium sends it with caps lock on or off. Headless Chromium keeps no
    caps-lock state of its own (`keyboard.press("CapsLock")` leaves getModifierState false), so
    the event carries it, as a real keyboard's would."""
    field.dispatch_event(kind, {"key": name, "bubbles": True, "modifierCapsLock": caps})


def test_caps_lock_is_announced_while_typing_a_password(page: Page) -> None:
    page.goto("/login")
    password = page.get_by_label("Password", exact=True)
    password.focus()
    warning = page.locator(".field").filter(has=password).locator("[aria-live='polite']")
    expect(warning).to_have_text("")
    assert password.evaluate(
        """el => { const e = new KeyboardEvent("keydown", {modifierCapsLock: true});
                   return e.getModifierState("CapsLock"); }"""
    ), "this Chromium cannot carry caps lock on a key event"

    key(password, "keydown", "A", caps=True)
    expect(warning).to_have_text(CAPS)
    expect(warning).to_be_visible()
    key(password, "keyup", "A", caps=True)
    expect(warning).to_have_text(CAPS)
    key(password, "keyup", "CapsLock", caps=False)  # switched off
    expect(warning).to_have_text("")
    expect(warning).to_be_hidden()

    key(password, "keydown", "A", caps=True)
    expect(warning).to_have_text(CAPS)
    page.get_by_label("Username").focus()  # leaving the field takes the warning away
    expect(warning).to_have_text("")
    key(page.get_by_label("Username"), "keydown", "A", caps=True)  # not a password field
    expect(page.get_by_text(CAPS)).to_have_count(0)


# --- the remembered username ------------------------------------------------------------------


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)


@pytest.mark.parametrize("script", [True, False], ids=["javascript", "no-javascript"])
def test_the_username_is_remembered_until_not_you(
    pages: Pages, server: Server, script: bool
) -> None:
    page = pages.new_page(java_script_enabled=script)
    sign_in(page, server)
    sign_out(page)
    username = page.get_by_label("Username")
    expect(username).to_have_value(server.username)
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    (device,) = [c for c in page.context.cookies() if c["name"] == "portal_device"]
    assert device["httpOnly"] and device["sameSite"] == "Strict" and device["path"] == "/login"
    assert server.password not in device["value"]
    if script:
        assert "portal_device" not in page.evaluate("document.cookie")

    page.get_by_role("link", name="Not you?").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(username).to_have_value("")
    expect(username).to_be_focused()
    expect(page.get_by_role("link", name="Not you?")).to_have_count(0)
    page.reload()
    expect(username).to_have_value("")

    sign_in(page, server)  # signing in again remembers it again
    sign_out(page)
    expect(username).to_have_value(server.username)


def test_after_an_idle_sign_out_the_username_is_still_there(
    pages: Pages, start_server: Callable[..., Server]
) -> None:
    short = start_server(idle_seconds=4)
    page = pages.new_page(server=short)
    sign_in(page, short)
    # No interaction from here on: the page's own timer notices the session ended.
    expect(page).to_have_url(re.compile(r"/login\?reason=idle"), timeout=15_000)
    expect(page.get_by_label("Username")).to_have_value(short.username)
    password = page.get_by_label("Password", exact=True)
    expect(password).to_be_focused()
    expect(password).to_have_accessible_description(re.compile("period without activity"))
    page.keyboard.type(short.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(AT_PHONE)
