"""The password features in a real Chromium: Change Password on the Settings tab (with and
without JavaScript, desktop and phone width), the strength hint, and Forgot password from the
sign-in page through the emailed link. The fixtures fail a test whose page logged an error or
broke the CSP; the mail goes to a real SMTP server in this process."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.browser.conftest import DESKTOP, EMAIL, PHONE, Pages, Server
from tests.browser.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

NEW_PASSWORD = "violet meadow 42 Kettle"
INVALID = "Invalid username or password"
WRONG_CURRENT = "That is not your current password."
CHANGED = "Your password was changed."
RESET_SUBJECT = "Reset your Phone Portal password"
CHANGED_SUBJECT = "Your Phone Portal password was changed"
AT_LOGIN = re.compile(r"/login(\?.*)?$")
AT_PHONE = re.compile(r"/phone$")
AT_SETTINGS = re.compile(r"/settings$")
MAIL_SECONDS = 15.0


# --- helpers ----------------------------------------------------------------------------------


def sign_in(page: Page, server: Server, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()


def signed_in(page: Page, server: Server) -> None:
    sign_in(page, server, server.password)
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()


def in_menu(page: Page) -> None:
    """At phone width the tabs and Sign out sit behind the Menu button."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()


def open_tab(page: Page, name: str) -> None:
    in_menu(page)
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def sign_out(page: Page) -> None:
    in_menu(page)
    page.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()


def set_marker(page: Page) -> None:
    """A full page load forgets this; an htmx swap keeps it."""
    page.evaluate("window.__marker = 1")


def marker(page: Page) -> Any:
    return page.evaluate("window.__marker ?? null")


def new_password_field(page: Page) -> Locator:
    # exact: "Confirm new password" contains "new password" too
    return page.get_by_label("New password", exact=True)


def fill_change_form(page: Page, current: str, new: str, confirm: str | None = None) -> None:
    page.get_by_label("Current password").fill(current)
    new_password_field(page).fill(new)
    page.get_by_label("Confirm new password").fill(new if confirm is None else confirm)


def assert_field_error(page: Page, label: str, message: str) -> Locator:
    """`message` is shown inside the field's own box and is the input's accessible description."""
    field = page.get_by_label(label, exact=True)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    box = page.locator(".field").filter(has=field)
    expect(box.locator(".field-error")).to_have_text(message)
    return field


def assert_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], f"the page scrolls sideways: {widths}"


def mail_with_subject(server: Server, subject: str, count: int) -> Any:
    assert server.sink is not None
    messages = server.sink.wait_for(count, timeout=MAIL_SECONDS)
    matching = [m for m in messages if m.subject == subject]
    assert matching, f"no mail with subject {subject!r}: {[m.subject for m in messages]}"
    return matching[0]  # newest first


# --- Change Password --------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
def test_change_password_in_place(
    pages: Pages, mail_server: Server, size: str, viewport: dict[str, int]
) -> None:
    server = mail_server
    page = pages.new_page(viewport=viewport, server=server)
    signed_in(page, server)
    open_tab(page, "Settings")
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    set_marker(page)
    assert_no_sideways_scroll(page)

    # A wrong current password: the error appears beside that field, in place.
    fill_change_form(page, "not my password", NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()

    current = assert_field_error(page, "Current password", WRONG_CURRENT)
    expect(current).to_be_focused()
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page).to_have_url(AT_SETTINGS)
    assert marker(page) == 1, "the refusal reloaded the whole page instead of an htmx swap"
    assert_no_sideways_scroll(page)

    # The swapped-in form works, with the right current password.
    fill_change_form(page, server.password, NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()

    status = page.get_by_role("status").filter(has_text=CHANGED)
    expect(status).to_be_visible()
    expect(page.locator(".field-error")).to_have_count(0)
    expect(page.get_by_label("Current password")).not_to_have_attribute("aria-invalid", "true")
    assert marker(page) == 1, "the change reloaded the whole page instead of an htmx swap"
    assert_no_sideways_scroll(page)
    old_password, server.password = server.password, NEW_PASSWORD

    # Still signed in, on the same page.
    open_tab(page, "Phone")
    expect(page).to_have_url(AT_PHONE)
    assert marker(page) == 1

    notice = mail_with_subject(server, CHANGED_SUBJECT, 1)
    assert notice.recipients == (EMAIL,)

    # Only the new password signs in now.
    sign_out(page)
    sign_in(page, server, old_password)
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(page).to_have_url(AT_LOGIN)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()


def test_change_password_without_javascript(pages: Pages, mail_server: Server) -> None:
    server = mail_server
    page = pages.new_page(server=server, java_script_enabled=False)
    signed_in(page, server)
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()

    # A wrong current password: a whole page back, with the error beside the field.
    fill_change_form(page, "not my password", NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    assert_field_error(page, "Current password", WRONG_CURRENT)
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign Out", exact=True)).to_be_visible()

    fill_change_form(page, server.password, NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("status").filter(has_text=CHANGED)).to_be_visible()
    expect(page.locator(".field-error")).to_have_count(0)
    old_password, server.password = server.password, NEW_PASSWORD

    # The session survived the change; afterwards only the new password works.
    page.get_by_role("link", name="Phone", exact=True).click()
    expect(page).to_have_url(AT_PHONE)
    sign_out(page)
    sign_in(page, server, old_password)
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    sign_in(page, server, NEW_PASSWORD)
    expect(page).to_have_url(AT_PHONE)


# --- The strength hint ------------------------------------------------------------------------


def test_strength_hint_while_typing(page: Page, server: Server) -> None:
    sent: list[str] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/password-strength"):
            sent.append(request.post_data or "")

    page.on("request", on_request)
    signed_in(page, server)
    open_tab(page, "Settings")
    page.get_by_label("Current password").fill(server.password)
    new = new_password_field(page)
    hint = page.locator("#new_password-strength")
    expect(hint).to_be_empty()

    new.press_sequentially("plumtrees", delay=40)
    expect(hint).to_contain_text("Weak:")
    expect(hint).to_contain_text("Easy to guess")
    expect(new).to_have_accessible_description(re.compile("Weak:"))

    new.clear()
    expect(hint).to_be_empty()
    new.press_sequentially("Abcdefgh1234", delay=40)
    expect(hint).to_contain_text("Strong:")

    new.clear()
    expect(hint).to_be_empty()
    new.press_sequentially("password", delay=40)
    expect(hint).to_contain_text("Weak:")
    expect(hint).to_contain_text("one of the most common passwords")

    # Typing never posted the form's other fields, the current password least of all.
    assert len(sent) >= 3, sent
    secrets = {server.password, quote(server.password), quote_plus(server.password)}
    for body in sent:
        assert "new_password" in body, body
        assert "current_password" not in body, body
        assert "confirm_password" not in body, body
        assert not any(secret in body for secret in secrets), body


# --- Forgot password --------------------------------------------------------------------------


def test_forgot_password_through_the_browser(pages: Pages, mail_server: Server) -> None:
    server = mail_server
    page = pages.new_page(server=server)

    # From the sign-in page: what was typed as the username comes along.
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_role("link", name="Forgot password?").click()
    expect(page).to_have_url(re.compile(rf"/forgot-password\?username={server.username}$"))
    expect(page.get_by_role("heading", name="Forgot Password")).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value(server.username)

    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.get_by_role("status")).to_contain_text(
        "a link to choose a new password is on its way"
    )
    expect(page.get_by_role("status")).to_contain_text(server.username)

    mail = mail_with_subject(server, RESET_SUBJECT, 1)
    assert mail.recipients == (EMAIL,)
    found = re.search(rf"{re.escape(server.base_url)}/reset-password/\S+", mail.text)
    assert found, mail.text
    link = found.group(0)

    # The link from the mail, in the browser.
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a New Password")).to_be_visible()
    expect(page.get_by_text(f"For extension {server.username}")).to_be_visible()
    set_marker(page)

    new = new_password_field(page)
    new.press_sequentially(NEW_PASSWORD, delay=20)
    expect(page.locator("#new_password-strength")).to_contain_text("Strong:")
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD + "x")
    page.get_by_role("button", name="Set New Password").click()
    confirm = assert_field_error(page, "Confirm new password", "The two passwords do not match.")
    expect(confirm).to_be_focused()
    assert marker(page) == 1, "the refusal reloaded the whole page instead of an htmx swap"

    new.fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set New Password").click()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_text("Your password was changed")).to_be_visible()
    server.password = NEW_PASSWORD

    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()

    # The link worked once. 410 Gone is deliberate; Chromium logs any 4xx page as an error.
    pages.allow(f"status of 410 (Gone) ({link}:")
    response = page.goto(link)
    assert response is not None and response.status == 410
    expect(page.get_by_role("heading", name="This Link No Longer Works")).to_be_visible()
    again = page.get_by_role("link", name="Ask for a New Link")
    expect(again).to_have_attribute("href", "/forgot-password")
    again.click()
    expect(page.get_by_role("heading", name="Forgot Password")).to_be_visible()
