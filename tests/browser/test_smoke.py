"""Smoke tests in a real Chromium: sign in and out, tabs and history, the phone menu, the theme,
and idle expiry. The fixtures fail a test whose page logged an error or broke the CSP."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, Pages, Server
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser

INVALID = "Invalid username or password"
AT_LOGIN = re.compile(r"/login(\?.*)?$")
AT_PHONE = re.compile(r"/phone$")
AT_SETTINGS = re.compile(r"/settings$")


def sign_in(page: Page, server: Server, password: str | None = None) -> None:
    page.goto(server.url("/login"))
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill(password or server.password)
    page.get_by_role("button", name="Sign In").click()


def signed_in(page: Page, server: Server) -> None:
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()


def set_marker(page: Page) -> None:
    """A full page load forgets this; an htmx swap keeps it."""
    page.evaluate("window.__marker = 1")


def marker(page: Page) -> Any:
    return page.evaluate("window.__marker")


def test_sign_in_lands_on_the_phone_tab(page: Page, server: Server) -> None:
    sign_in(page, server)

    expect(page).to_have_url(AT_PHONE)
    expect(page).to_have_title("Phone · Phone Portal")
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()
    expect(page.get_by_text("Ada Lovelace")).to_be_visible()
    expect(page.get_by_text("Wicked Sprockets").first).to_be_visible()
    expect(page.get_by_role("button", name="Sign Out", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Phone", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    # The contract's tabs, found as an outside suite would (by substring): the brand "Phone
    # Portal" beside them is text, so each name finds exactly one link.
    expect(page.get_by_text("Phone Portal", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Phone")).to_have_count(1)
    expect(page.get_by_role("link", name="Settings")).to_have_count(1)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()  # only phones need it


def test_wrong_password_is_refused_in_place(page: Page, server: Server) -> None:
    page.goto("/login")
    set_marker(page)
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign In").click()

    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_label("Username")).to_have_value(server.username)
    expect(page.get_by_label("Password")).to_have_value("")
    assert marker(page) == 1, "the refusal reloaded the whole page instead of an htmx swap"

    # The swapped-in form still works, with its fresh CSRF token.
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(AT_PHONE)


def test_tabs_switch_without_a_page_load_and_follow_history(page: Page, server: Server) -> None:
    signed_in(page, server)
    set_marker(page)

    page.get_by_role("link", name="Settings").click()

    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    expect(page).to_have_title("Settings · Phone Portal")
    expect(page.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="Phone", exact=True)).not_to_have_attribute(
        "aria-current", "page"
    )
    assert marker(page) == 1, "the tab switch reloaded the whole page"

    page.go_back()
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Settings")).to_have_count(0)
    expect(page.get_by_role("link", name="Phone", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    page.go_forward()
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")

    # Still a working page after the history round trip.
    page.get_by_role("link", name="Phone", exact=True).click()
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()


def test_sign_out_and_back_shows_no_portal_content(page: Page, server: Server) -> None:
    signed_in(page, server)

    page.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()

    page.go_back()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    expect(page.get_by_role("heading", name="Phone")).to_have_count(0)
    expect(page.get_by_text("Ada Lovelace")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign Out", exact=True)).to_have_count(0)


def test_phone_menu_hides_sign_out_until_opened(pages: Pages, server: Server) -> None:
    page = pages.new_page(viewport=PHONE)
    signed_in(page, server)
    menu = page.get_by_role("button", name="Menu")
    sign_out = page.get_by_role("button", name="Sign Out", exact=True)

    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(sign_out).to_be_hidden()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(sign_out).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()

    page.keyboard.press("Escape")
    expect(sign_out).to_be_hidden()

    menu.click()
    sign_out.click()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()


def test_phone_menu_closes_after_a_tab_switch(pages: Pages, server: Server) -> None:
    page = pages.new_page(viewport=PHONE)
    signed_in(page, server)
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Settings").click()

    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign Out", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")


def theme_of(page: Page) -> Any:
    return page.evaluate("document.documentElement.dataset.theme ?? null")


@pytest.mark.parametrize("where", ["login", "phone"])
def test_theme_button_cycles_and_is_remembered(page: Page, server: Server, where: str) -> None:
    if where == "phone":
        signed_in(page, server)
    else:
        page.goto("/login")
    theme = page.get_by_role("button", name=re.compile(r"^Theme: "))

    expect(theme).to_have_accessible_name("Theme: System")
    assert theme_of(page) is None

    for label, value in [("Dark", "dark"), ("Light", "light")]:
        theme.click()
        expect(theme).to_have_accessible_name(f"Theme: {label}")
        assert theme_of(page) == value

    page.reload()
    expect(theme).to_have_accessible_name("Theme: Light")
    assert theme_of(page) == "light"

    theme.click()
    expect(theme).to_have_accessible_name("Theme: System")
    assert theme_of(page) is None
    page.reload()
    expect(theme).to_have_accessible_name("Theme: System")
    assert theme_of(page) is None


def test_idle_session_sends_the_open_page_to_sign_in(
    pages: Pages, start_server: Callable[..., Server]
) -> None:
    short = start_server(idle_seconds=4)
    page = pages.new_page(server=short)
    signed_in(page, short)

    # No interaction from here on: the page's own timer must notice the session ended.
    expect(page).to_have_url(AT_LOGIN, timeout=15_000)
    assert "reason=idle" in page.url
    expect(page.get_by_text("You were signed out after a period without activity.")).to_be_visible()

    # Signing in again returns to where the session ended.
    page.get_by_label("Username").fill(short.username)
    page.get_by_label("Password").fill(short.password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(AT_PHONE)
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()


def test_session_ended_elsewhere_sends_tab_clicks_and_back_to_sign_in(
    pages: Pages, server: Server
) -> None:
    page = pages.new_page()
    signed_in(page, server)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()

    def sign_out_in_another_tab() -> None:
        other = page.context.new_page()
        other.goto("/phone")
        other.get_by_role("button", name="Sign Out", exact=True).click()
        expect(other).to_have_url(AT_LOGIN)
        other.close()

    # Back re-fetches /phone through htmx's history restore: it must become a sign-in page.
    sign_out_in_another_tab()
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=/phone$"))
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    expect(page.get_by_role("banner")).to_have_count(1)

    # A tab click (an htmx GET) must not swap the sign-in page into the tab's slot.
    signed_in(page, server)
    sign_out_in_another_tab()
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("heading", name="Sign In")).to_have_count(1)


def test_the_csp_watch_catches_inline_script(page: Page, pages: Pages) -> None:
    """The fixture's check is live: an inline script is refused and reported."""
    page.goto("/login")
    page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__inline = 1";
            document.head.append(s);
        }"""
    )
    assert page.evaluate("window.__inline ?? null") is None, "an inline script ran"
    for _ in range(50):  # console events arrive asynchronously
        if any("CSP violation" in problem for problem in pages.problems):
            break
        page.wait_for_timeout(100)
    assert any("CSP violation" in problem for problem in pages.problems), pages.problems
    assert any("Content Security Policy" in problem for problem in pages.problems), pages.problems
    pages.problems.clear()


SHOTS = os.environ.get("PORTAL_BROWSER_SHOTS")


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
def test_screens_render_cleanly(
    pages: Pages, server: Server, tmp_path: Path, size: str, viewport: dict[str, int]
) -> None:
    """Each screen at each size, without errors; screenshots go to $PORTAL_BROWSER_SHOTS."""
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page = pages.new_page(viewport=viewport)

    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()
    page.screenshot(path=str(folder / f"login-{size}.png"), full_page=True)

    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Phone", level=1)).to_be_visible()
    page.screenshot(path=str(folder / f"phone-{size}.png"), full_page=True)

    page.goto("/settings")
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    page.screenshot(path=str(folder / f"settings-{size}.png"), full_page=True)

    no_sideways_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways_scroll), "the page scrolls sideways"
