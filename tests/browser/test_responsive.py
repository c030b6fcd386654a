"""Every page from 320 to 1920 px in a real Chromium: nothing reaches past the right edge,
every control is at least 44 by 44 px, and below 640 px the tabs and Sign out wait behind the
Menu button, which works down to the narrowest screen."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Pages, Server, sign_in
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser

WIDTHS = [320, 375, 639, 640, 1024, 1920]
PHONE_BELOW = 640
AT_PHONE = re.compile(r"/phone$")
AT_LOGIN = re.compile(r"/login(\?.*)?$")
TOUCH = 44

# What reaches past the right edge, and which visible controls are smaller than a fingertip.
# The skip link waits off-screen to the left until focused; nothing else may be off-screen.
LAYOUT = """touch => {
  const width = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.classList.length ? "." + [...el.classList].join(".") : "");
  const shown = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > 0;
  };
  const wide = [], small = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right > width + 0.5) wide.push(`${name(el)} ends at ${Math.round(r.right)}`);
  }
  const controls = "a[href], button, input:not([type=hidden]), select, textarea";
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width < touch || r.height < touch) {
      const label = (el.textContent || el.getAttribute("aria-label") || "").trim();
      small.push(`${name(el)} "${label}" is ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, wide, small};
}"""


def check_layout(page: Page, where: str, problems: list[str]) -> None:
    layout: dict[str, Any] = page.evaluate(LAYOUT, TOUCH)
    if layout["scroll"] > layout["width"]:
        problems.append(f"{where}: scrolls sideways ({layout['scroll']} > {layout['width']})")
    problems.extend(f"{where}: {item} (viewport {layout['width']})" for item in layout["wide"])
    problems.extend(f"{where}: {item}, under {TOUCH}px" for item in layout["small"])


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_is_easy_to_tap(pages: Pages, server: Server, width: int) -> None:
    page = pages.new_page(viewport={"width": width, "height": 800})
    pages.allow("status of 404 (Not Found)")
    pages.allow("status of 410 (Gone)")
    problems: list[str] = []

    for path, heading in [
        ("/login", "Sign In"),
        ("/forgot-password", "Forgot Password"),
        ("/reset-password/not-a-live-token", "This Link No Longer Works"),
        ("/no-such-page", "Page Not Found"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        check_layout(page, path, problems)

    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    menu = page.get_by_role("button", name="Menu")
    tabs = page.get_by_role("navigation", name="Portal")
    sign_out = page.get_by_role("button", name="Sign Out", exact=True)
    for path in ["/phone", "/settings"]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check_layout(page, path, problems)

        if width < PHONE_BELOW:
            expect(menu).to_be_visible()
            expect(tabs).to_be_hidden()
            expect(sign_out).to_be_hidden()
            menu.click()
            expect(tabs).to_be_visible()
            expect(sign_out).to_be_visible()
            check_layout(page, f"{path} with the menu open", problems)
            menu.click()
            expect(sign_out).to_be_hidden()
        else:
            expect(menu).to_be_hidden()
            expect(tabs).to_be_visible()
            expect(sign_out).to_be_visible()

    assert not problems, f"at {width}px:\n" + "\n".join(f"  - {p}" for p in problems)


def test_the_menu_signs_out_on_the_narrowest_screen(pages: Pages, server: Server) -> None:
    page = pages.new_page(viewport={"width": 320, "height": 640})
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-controls", "menu")

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")  # a tab switch closes it

    menu.click()
    page.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
