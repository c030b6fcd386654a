"""The theme in a real Chromium: the half-circle button cycles dark → light → system at both
widths, the choice outlives reloads, sign-out and the next sign-in, it is on <html> before the
first paint, and System follows the operating system while the page is open."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, Pages, Server, sign_in, sign_out
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser

AT_PHONE = re.compile(r"/phone$")
# --bg in each theme, as getComputedStyle reports the body's background.
BACKGROUND = {"light": "rgb(246, 247, 249)", "dark": "rgb(17, 20, 24)"}
SIZES = [("desktop", DESKTOP), ("375px", PHONE)]

# Records, the moment <body> is parsed (before anything can paint), the theme on <html> and the
# colour the body gets. Added with localStorage preset, as a returning visitor has it.
FIRST_PAINT = """
localStorage.setItem("portal-theme", "%s");
window.__atBody = null;
new MutationObserver((records, observer) => {
  if (!document.body) return;
  window.__atBody = {
    theme: document.documentElement.dataset.theme ?? null,
    background: getComputedStyle(document.body).backgroundColor,
  };
  observer.disconnect();
}).observe(document, {childList: true, subtree: true});
"""


def theme_of(page: Page) -> Any:
    return page.evaluate("document.documentElement.dataset.theme ?? null")


def background(page: Page) -> Any:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def theme_button(page: Page) -> Any:
    return page.get_by_role("button", name=re.compile(r"^Theme: "))


def expect_theme(page: Page, label: str, value: str | None, shown: str) -> None:
    """The button names the choice (`label`), <html> carries it, and the page shows `shown`."""
    expect(theme_button(page)).to_have_accessible_name(f"Theme: {label}")
    assert theme_of(page) == value
    assert background(page) == BACKGROUND[shown]


@pytest.mark.parametrize(("size", "viewport"), SIZES)
@pytest.mark.parametrize("where", ["login", "phone"])
def test_the_theme_button_cycles_at_both_widths(
    pages: Pages, server: Server, where: str, size: str, viewport: dict[str, int]
) -> None:
    page = pages.new_page(viewport=viewport)
    page.emulate_media(color_scheme="light")
    if where == "phone":
        sign_in(page, server)
        expect(page).to_have_url(AT_PHONE)
    else:
        page.goto("/login")

    # In the bar itself, not behind the Menu button, and big enough for a thumb.
    button = theme_button(page)
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44, box

    expect_theme(page, "System", None, "light")
    button.click()
    expect_theme(page, "Dark", "dark", "dark")
    button.click()
    expect_theme(page, "Light", "light", "light")
    button.click()
    expect_theme(page, "System", None, "light")
    assert page.evaluate("localStorage.getItem('portal-theme')") is None


def test_the_theme_outlives_reload_sign_out_and_sign_in(pages: Pages, server: Server) -> None:
    page = pages.new_page(viewport=PHONE)
    page.emulate_media(color_scheme="light")
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    theme_button(page).click()
    expect_theme(page, "Dark", "dark", "dark")

    page.reload()
    expect_theme(page, "Dark", "dark", "dark")

    sign_out(page)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    expect_theme(page, "Dark", "dark", "dark")

    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    expect_theme(page, "Dark", "dark", "dark")

    # A new tab of the same browser starts in it too.
    other = page.context.new_page()
    pages.watch(other)
    other.emulate_media(color_scheme="light")
    other.goto("/settings")
    expect_theme(other, "Dark", "dark", "dark")


@pytest.mark.parametrize("chosen", ["dark", "light"])
@pytest.mark.parametrize("where", ["/login", "/settings"])
def test_the_saved_theme_is_there_before_the_first_paint(
    pages: Pages, server: Server, where: str, chosen: str
) -> None:
    page = pages.new_page()
    if where != "/login":
        sign_in(page, server)
        expect(page).to_have_url(AT_PHONE)
    # The system prefers the other one, so following it would show the wrong colours.
    page.emulate_media(color_scheme="light" if chosen == "dark" else "dark")
    page.add_init_script(FIRST_PAINT % chosen)

    page.goto(where)

    at_body = page.evaluate("window.__atBody")
    assert at_body == {"theme": chosen, "background": BACKGROUND[chosen]}, at_body
    expect(theme_button(page)).to_have_accessible_name(f"Theme: {chosen.title()}")


def test_system_follows_the_operating_system_while_open(pages: Pages, server: Server) -> None:
    page = pages.new_page()
    page.emulate_media(color_scheme="dark")
    page.goto("/login")
    expect_theme(page, "System", None, "dark")

    page.emulate_media(color_scheme="light")  # no reload: the OS switched
    expect_theme(page, "System", None, "light")
    page.emulate_media(color_scheme="dark")
    expect_theme(page, "System", None, "dark")

    # A pinned choice ignores the OS.
    theme_button(page).click()  # System → Dark
    theme_button(page).click()  # Dark → Light
    expect_theme(page, "Light", "light", "light")
    page.emulate_media(color_scheme="dark")
    expect_theme(page, "Light", "light", "light")
