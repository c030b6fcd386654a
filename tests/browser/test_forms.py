"""The forms as a hurried user meets them, in a real Chromium: a double click sends one request
and the button says it is busy; a repeat the server does get is harmless; a sign-in tab left
open while the browser signed in elsewhere leads to the Phone tab."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest

from tests.browser.conftest import Pages, Server
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser

NEW_PASSWORD = "violet meadow 42 Kettle"
CHANGED = "Your password was changed."
AT_PHONE = re.compile(r"/phone$")

# Records every state the form's submit button passes through, for a look after the fact.
WATCH_BUTTON = """selector => {
  window.__states = [];
  const watch = button => new MutationObserver(() => window.__states.push({
    busy: button.getAttribute("aria-busy"), disabled: button.disabled,
  })).observe(button, {attributes: true});
  watch(document.querySelector(selector));
}"""


def audit_outcomes(server: Server, event: str) -> list[str]:
    """The server's audit trail for `event`, read from its own database file."""
    with sqlite3.connect(server.log_path.parent / "portal.db") as db:
        rows = db.execute("SELECT outcome FROM audit_event WHERE event = ? ORDER BY id", (event,))
        return [outcome for (outcome,) in rows]


def posts_to(page: Page, path: str) -> list[Any]:
    """The responses to POSTs of `path` this page gets from now on."""
    seen: list[Any] = []
    page.on(
        "response",
        lambda r: seen.append(r) if r.request.method == "POST" and r.url.endswith(path) else None,
    )
    return seen


def sign_in(page: Page, server: Server, password: str | None = None) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password", exact=True).fill(password or server.password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(AT_PHONE)


def test_double_click_on_change_password_changes_it_once_and_counts_no_failure(
    pages: Pages, mail_server: Server
) -> None:
    server = mail_server
    page = pages.new_page(server=server)
    sign_in(page, server)
    page.goto("/settings")
    page.get_by_label("Current password").fill(server.password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.evaluate(WATCH_BUTTON, "#change-password-form button[type=submit]")
    posts = posts_to(page, "/settings/password")

    page.get_by_role("button", name="Change Password").dblclick()

    expect(page.get_by_role("status").filter(has_text=CHANGED)).to_be_visible()
    assert len(posts) == 1, f"the double click sent {len(posts)} requests"
    states = page.evaluate("window.__states")
    assert {"busy": "true", "disabled": True} in states, f"never shown busy: {states}"
    expect(page.get_by_role("button", name="Change Password")).to_be_enabled()
    expect(page.get_by_role("button", name="Change Password")).not_to_have_attribute(
        "aria-busy", "true"
    )
    assert audit_outcomes(server, "password-change") == ["success"]
    server.password = NEW_PASSWORD

    # The account is not locked, and this session lives on.
    other = pages.new_page(server=server)
    sign_in(other, server)
    page.goto("/phone")
    expect(page).to_have_url(AT_PHONE)


def test_double_click_on_sign_in_lands_on_the_phone_tab(pages: Pages, server: Server) -> None:
    page = pages.new_page()
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password", exact=True).fill(server.password)
    posts = posts_to(page, "/login")

    page.get_by_role("button", name="Sign In").dblclick()

    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()
    assert [r.status for r in posts] == [200], "expected one htmx sign-in, and no 403"


def test_a_sign_in_tab_left_open_leads_to_the_phone_tab(pages: Pages, server: Server) -> None:
    stale = pages.new_page()
    stale.goto("/login")
    stale.get_by_label("Username").fill(server.username)
    stale.get_by_label("Password", exact=True).fill(server.password)
    # Meanwhile, in another tab of the same browser:
    fresh = stale.context.new_page()
    pages.watch(fresh)
    sign_in(fresh, server)
    posts = posts_to(stale, "/login")

    stale.get_by_role("button", name="Sign In").click()

    expect(stale).to_have_url(AT_PHONE)
    expect(stale.get_by_role("heading", name="Phone", level=1)).to_be_visible()
    assert [r.status for r in posts] == [200]
    expect(stale.get_by_text("had expired")).to_have_count(0)


def test_forgot_password_with_just_the_extension_asks_for_the_company_code(page: Page) -> None:
    page.goto("/forgot-password")
    field = page.get_by_label("Username")
    field.fill("201")
    page.get_by_role("button", name="Send Reset Link").click()

    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(
        re.compile(re.escape("Enter your extension and company code, like 201-wickedsprockets."))
    )
    expect(field).to_be_focused()
    expect(page.get_by_text("on its way")).to_have_count(0)


def test_after_sign_out_the_login_page_says_so_once(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.get_by_role("button", name="Sign Out", exact=True).click()

    expect(page).to_have_url(re.compile(r"/login$"))
    notice = page.get_by_role("status").filter(has_text="You have been signed out.")
    expect(notice).to_be_visible()
    # Focus waits in the field to type in next, and reading it out reads the notice too.
    expect(page.locator("input:focus")).to_have_accessible_description(
        re.compile(re.escape("You have been signed out."))
    )
    page.reload()
    expect(page.get_by_text("You have been signed out.")).to_have_count(0)
