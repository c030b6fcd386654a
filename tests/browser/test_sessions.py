"""Sessions in a real Chromium: a password change while the page's own session check is on its
way leaves the user signed in. The fixtures fail a test whose page logged an error or broke the
CSP."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import Pages, Server
from tests.browser.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser

NEW_PASSWORD = "violet meadow 42 Kettle"
CHANGED = "Your password was changed."
AT_SETTINGS = re.compile(r"/settings$")
IDLE_SECONDS = 4 * 3600  # the default the server runs with


def held_until(page: Page, routes: list[Route], count: int, seconds: float = 10.0) -> None:
    """Wait, letting Playwright dispatch its events, until `count` requests are held."""
    deadline = time.monotonic() + seconds
    while len(routes) < count:
        assert time.monotonic() < deadline, "the page never asked /session"
        page.wait_for_timeout(50)


def session_cookie(page: Page) -> str | None:
    found = [c["value"] for c in page.context.cookies() if c["name"] == "portal_session"]
    return found[0] if found else None


def test_a_password_change_while_the_session_check_is_on_its_way_keeps_the_user_signed_in(
    pages: Pages, mail_server: Server
) -> None:
    server = mail_server
    page = pages.new_page(server=server)
    page.clock.install()  # the page's own timers: its session check is hours away otherwise
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(AT_SETTINGS)
    old = session_cookie(page)
    assert old

    # The page's check of how long the session has left sets out, with the session's id...
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/session", hold_the_first)
    page.clock.fast_forward(IDLE_SECONDS * 1000 + 1000)
    held_until(page, held, 1)

    # ...the user changes the password meanwhile: the session goes on under a new id...
    page.get_by_label("Current password").fill(server.password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(page.get_by_role("status").filter(has_text=CHANGED)).to_be_visible()
    server.password = NEW_PASSWORD
    assert session_cookie(page) not in (None, old)

    # ...and only then does the check reach the server, with the id it set out with, and its
    # answer the page (a held request would go with the cookies of when it is let go).
    late = held[0].fetch(headers={**held[0].request.headers, "cookie": f"portal_session={old}"})
    assert late.json() == {"signed_in": False, "remaining": 0}  # about the old id
    held[0].fulfill(response=late)

    # Still signed in, on the same page, after the check and after a reload.
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    page.wait_for_timeout(500)  # the page's second look at /session
    expect(page).to_have_url(AT_SETTINGS)
    page.reload()
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign Out", exact=True)).to_be_visible()
