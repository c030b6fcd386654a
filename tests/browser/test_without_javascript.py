"""The portal with JavaScript off, in a real Chromium at desktop and phone width: every link
navigates and every form posts (sign in, the tabs, Change Password, sign out, Forgot password),
the controls that need JavaScript stay out of the way, and focus still lands on the first
error (autofocus needs no script)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.browser.conftest import DESKTOP, PHONE, Pages, Server
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser

INVALID = "Invalid username or password"
CHANGED = "Your password was changed."
NEW_PASSWORD = "violet meadow 42 Kettle"
AT_LOGIN = re.compile(r"/login(\?.*)?$")
AT_PHONE = re.compile(r"/phone$")
AT_SETTINGS = re.compile(r"/settings$")
DEAD_LINKS = "a:not([href]), a[href='#'], a[href^='javascript:']"


def expect_real_links(page: Page) -> None:
    """Every link goes somewhere by itself: no script needed to follow it."""
    expect(page.locator(DEAD_LINKS)).to_have_count(0)


def sign_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
def test_everything_works_without_javascript(
    pages: Pages, start_server: Callable[..., Server], size: str, viewport: dict[str, int]
) -> None:
    server = start_server()
    page = pages.new_page(viewport=viewport, server=server, java_script_enabled=False)

    page.goto("/login")
    expect_real_links(page)
    # The theme and Menu buttons need a script: without one they are not offered at all.
    expect(page.get_by_role("button", name=re.compile(r"^Theme: "))).to_have_count(0)

    # A refusal comes back as a whole page, with focus on the password to type again.
    sign_in(page, server.username, "not the password")
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(page.get_by_label("Password")).to_be_focused()
    sign_in(page, server.username, server.password)
    expect(page).to_have_url(AT_PHONE)
    expect_real_links(page)

    # No Menu button to press, so the tabs and Sign out are simply there, at any width.
    expect(page.get_by_role("button", name="Menu")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign Out", exact=True)).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    expect_real_links(page)

    # Change Password: the error page puts focus on the field in error.
    current = page.get_by_label("Current password")
    current.fill("not my password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(current).to_be_focused()
    current.fill(server.password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(page).to_have_url(AT_SETTINGS)
    status = page.get_by_role("status").filter(has_text=CHANGED)
    expect(status).to_be_focused()
    server.password = NEW_PASSWORD

    page.get_by_role("link", name="Phone", exact=True).click()
    expect(page).to_have_url(AT_PHONE)
    page.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)
    sign_in(page, server.username, NEW_PASSWORD)
    expect(page).to_have_url(AT_PHONE)
    page.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)

    # Forgot password, there and back.
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgot Password")).to_be_visible()
    expect_real_links(page)
    page.get_by_label("Username").fill(server.username)
    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")
    expect(page.get_by_role("status")).to_be_focused()
    page.get_by_role("link", name="Back to sign in").click()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
