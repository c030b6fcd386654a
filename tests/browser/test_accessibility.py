"""WCAG 2.2 AA in a real Chromium: axe-core finds nothing on any page, in either theme, at desktop
and phone width (each one saved to test-artifacts/screenshots/); the whole sign-in → tabs →
change password → sign-out flow works from the keyboard alone, with visible focus that lands
on the first error; and the edges of inputs and the focus ring stand out in both themes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.dev.patterns import REGISTRY
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Pages,
    Server,
    axe_violations,
    screenshot,
    sign_in,
    sign_out,
)
from tests.browser.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

SIZES = [("desktop", DESKTOP), ("375px", PHONE)]
INVALID = "Invalid username or password"
CHANGED = "Your password was changed."
NEW_PASSWORD = "violet meadow 42 Kettle"
UNKNOWN = "999-wickedsprockets"  # refusals for it never lock the real extension out
AT_PHONE = re.compile(r"/phone$")
AT_LOGIN = re.compile(r"/login(\?.*)?$")
RESET_LINK = re.compile(r"http://\S+/reset-password/\S+")


@pytest.fixture(scope="module")
def a11y_server(start_server: Callable[..., Server]) -> Iterator[Server]:
    """A server of this module's own, with mail: refusals here never lock out other tests."""
    server = start_server(mail=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def reset_link(a11y_server: Server, browser: Any) -> str:
    """A live reset link from `a11y_server`'s mail; only ever opened, never used up."""
    context = browser.new_context(base_url=a11y_server.base_url)
    page = context.new_page()
    page.goto("/forgot-password")
    page.get_by_label("Username").fill(a11y_server.username)
    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.get_by_role("status")).to_be_visible()
    context.close()
    assert a11y_server.sink is not None
    mail = a11y_server.sink.wait_until(lambda m: RESET_LINK.search(m.text) is not None, timeout=15)
    found = RESET_LINK.search(mail.text)
    assert found, mail.text
    return found.group(0)


# --- axe-core on every page -------------------------------------------------------------------


@pytest.mark.parametrize(("size", "viewport"), SIZES)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_violations_on_any_page(
    pages: Pages,
    a11y_server: Server,
    reset_link: str,
    axe_source: str,
    theme: str,
    size: str,
    viewport: dict[str, int],
) -> None:
    server = a11y_server
    page = pages.new_page(viewport=viewport, server=server)
    page.add_init_script(f'localStorage.setItem("portal-theme", "{theme}")')
    pages.allow("status of 404 (Not Found)")  # the 404 page, on purpose
    pages.allow("status of 410 (Gone)")  # the dead reset link, on purpose
    found: dict[str, list[str]] = {}

    def check(state: str) -> None:
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        screenshot(page, f"{state}-{theme}-{size}")
        if violations := axe_violations(page, axe_source):
            found[state] = violations

    page.goto("/login")
    check("login")
    # A name of this run's own: its failures run up to the wait, which must not carry over.
    unknown = (
        f"9{['light', 'dark'].index(theme)}{[s for s, _ in SIZES].index(size)}-wickedsprockets"
    )
    alert = page.get_by_role("alert")
    for state in ["login-error", None, "login-attempts-left", None, "login-wait"]:
        page.get_by_label("Username").fill(unknown)
        page.get_by_label("Password", exact=True).fill("not the password")
        page.evaluate("document.getElementById('login-form').dataset.answered = 'no'")
        page.get_by_role("button", name="Sign In").click()
        expect(page.locator("#login-form[data-answered]")).to_have_count(0)
        expect(alert).to_contain_text(INVALID)
        if state:
            check(state)
    expect(alert.get_by_role("link", name="Forgot password?")).to_be_visible()
    password = page.get_by_label("Password", exact=True)
    password.fill("shown and typed with caps lock")
    page.locator(".field").filter(has=password).get_by_role("button", name="Show Password").click()
    password.dispatch_event("keydown", {"key": "A", "bubbles": True, "modifierCapsLock": True})
    expect(page.get_by_text("Caps Lock is on.")).to_be_visible()
    check("login-password-shown-caps-lock")
    page.goto("/login?reason=idle")
    expect(page.get_by_role("status")).to_be_visible()
    check("login-notice")

    page.goto("/forgot-password")
    check("forgot")
    page.get_by_label("Username").fill("   ")  # passes `required`, not the server
    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.locator(".field-error")).to_be_visible()
    check("forgot-error")
    page.get_by_label("Username").fill(UNKNOWN)
    page.get_by_role("button", name="Send Reset Link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")
    check("forgot-sent")

    page.goto(reset_link)
    expect(page.get_by_role("heading", name="Choose a New Password")).to_be_visible()
    check("reset")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Confirm new password").fill("shorter")
    page.get_by_role("button", name="Set New Password").click()
    expect(page.locator(".field-error")).to_have_count(2)
    check("reset-error")
    page.goto("/reset-password/not-a-live-token")
    expect(page.get_by_role("heading", name="This Link No Longer Works")).to_be_visible()
    check("reset-dead-link")
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", name="Page Not Found")).to_be_visible()
    check("not-found")

    elsewhere = pages.new_page(server=server)  # listed in Where you're signed in
    sign_in(elsewhere, server)
    expect(elsewhere).to_have_url(AT_PHONE)
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    check("phone")
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():
        menu.click()
        expect(page.get_by_role("button", name="Sign Out", exact=True)).to_be_visible()
        check("phone-menu")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    check("settings")
    sessions = page.get_by_role("region", name="Where You're Signed In")
    sessions.get_by_role("button", name=re.compile(r"^Sign Out of ")).click()
    expect(sessions.get_by_role("status")).to_contain_text("was signed out.")
    check("settings-sessions-ended")
    page.get_by_label("Current password").fill(server.password)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Confirm new password").fill("shorter")
    page.get_by_role("button", name="Change Password").click()
    expect(page.locator(".field-error")).to_have_count(2)
    check("settings-error")
    sign_out(page)
    expect(page.get_by_label("Username")).to_have_value(server.username)
    expect(page.get_by_role("link", name="Not you?")).to_be_visible()
    check("login-remembered")

    report = "\n".join(
        f"{state}:\n" + "\n".join(f"  - {v}" for v in violations)
        for state, violations in found.items()
    )
    assert not found, f"axe-core found WCAG violations ({theme}, {size}):\n{report}"


# --- the keyboard alone -----------------------------------------------------------------------


def is_focused(target: Locator) -> bool:
    return bool(target.evaluate("el => el === document.activeElement"))


def expect_focus_visible(page: Page) -> None:
    """What has keyboard focus shows it: a real outline, at least 2px."""
    ring = page.evaluate(
        """() => {
            const el = document.activeElement, style = getComputedStyle(el);
            return {what: el.outerHTML.slice(0, 80), visible: el.matches(":focus-visible"),
                    style: style.outlineStyle, width: parseFloat(style.outlineWidth)};
        }"""
    )
    assert ring["visible"] and ring["style"] != "none" and ring["width"] >= 2, ring


def tab_to(page: Page, target: Locator, *, backwards: bool = False, limit: int = 25) -> None:
    """Press Tab (or Shift+Tab) until `target` has focus, as a keyboard user would."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        if is_focused(target):
            expect_focus_visible(page)
            return
    pytest.fail(f"{limit} presses of {key} never reached {target}")


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_whole_flow_by_keyboard_alone(
    pages: Pages, start_server: Callable[..., Server], size: str, viewport: dict[str, int]
) -> None:
    server = start_server()
    page = pages.new_page(viewport=viewport, server=server)
    keyboard = page.keyboard
    phone = viewport["width"] < 640
    menu = page.get_by_role("button", name="Menu")

    # Sign in; a refusal is announced and focus goes back to the password, described by it.
    page.goto("/login")
    username, password = page.get_by_label("Username"), page.get_by_label("Password")
    tab_to(page, username)
    keyboard.type(server.username)
    tab_to(page, password)
    keyboard.type("not the password")
    keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    expect(password).to_be_focused()
    expect(password).to_have_accessible_description(re.compile(INVALID))
    keyboard.type(server.password)
    keyboard.press("Enter")
    expect(page).to_have_url(AT_PHONE)

    # The theme button, with Enter and with Space.
    theme = page.get_by_role("button", name=re.compile(r"^Theme: "))
    tab_to(page, theme)
    keyboard.press("Enter")
    expect(theme).to_have_accessible_name("Theme: Dark")
    keyboard.press("Space")
    expect(theme).to_have_accessible_name("Theme: Light")
    keyboard.press("Enter")
    expect(theme).to_have_accessible_name("Theme: System")

    # The Settings tab; on a phone through the Menu, which Escape closes.
    if phone:
        tab_to(page, menu, backwards=True)
        keyboard.press("Enter")
        expect(menu).to_have_attribute("aria-expanded", "true")
        tab_to(page, page.get_by_role("link", name="Phone", exact=True))
        keyboard.press("Escape")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(menu).to_be_focused()
        keyboard.press("Enter")
    settings_tab = page.get_by_role("link", name="Settings")
    tab_to(page, settings_tab, backwards=not phone)
    keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    # The tab is marked (on a phone, behind the closed menu) and focus is on the new content.
    expect(page.locator("#tabs a[href='/settings']")).to_have_attribute("aria-current", "page")
    expect(page.locator("#main")).to_be_focused()

    # Change Password: a wrong current password puts focus on that field, described by the error.
    current = page.get_by_label("Current password")
    new = page.get_by_label("New password", exact=True)
    confirm = page.get_by_label("Confirm new password")
    tab_to(page, current)
    keyboard.type("not my password")
    tab_to(page, new)
    keyboard.type(NEW_PASSWORD)
    tab_to(page, confirm)
    keyboard.type(NEW_PASSWORD)
    keyboard.press("Enter")
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(current).to_be_focused()
    expect(current).to_have_accessible_description(re.compile("That is not your current password"))
    keyboard.type(server.password)
    tab_to(page, new)
    keyboard.type(NEW_PASSWORD)
    tab_to(page, confirm)
    keyboard.type(NEW_PASSWORD)
    keyboard.press("Enter")
    status = page.get_by_role("status").filter(has_text=CHANGED)
    expect(status).to_be_visible()
    expect(status).to_be_focused()  # read out, and Tab goes on from there
    server.password = NEW_PASSWORD

    # Sign out, and back in with the new password.
    if phone:
        tab_to(page, menu, backwards=True)
        keyboard.press("Enter")
        tab_to(page, page.get_by_role("button", name="Sign Out", exact=True))
    else:
        tab_to(page, page.get_by_role("button", name="Sign Out", exact=True), backwards=True)
    keyboard.press("Enter")
    expect(page).to_have_url(AT_LOGIN)
    tab_to(page, page.get_by_label("Username"))
    keyboard.type(server.username)
    tab_to(page, page.get_by_label("Password"))
    keyboard.type(NEW_PASSWORD)
    keyboard.press("Enter")
    expect(page).to_have_url(AT_PHONE)


# --- contrast that axe does not measure -------------------------------------------------------


def luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_input_edges_and_focus_ring_stand_out(pages: Pages, server: Server, theme: str) -> None:
    """WCAG 1.4.11: 3:1 for what shows where a control is and where focus is."""
    page = pages.new_page()
    page.add_init_script(f'localStorage.setItem("portal-theme", "{theme}")')
    page.goto("/login")
    username = page.get_by_label("Username")
    tab_to(page, username)
    colours = username.evaluate(
        """el => ({
            border: getComputedStyle(el).borderTopColor,
            inside: getComputedStyle(el).backgroundColor,
            around: getComputedStyle(el.closest(".card")).backgroundColor,
            ring: getComputedStyle(el).outlineColor,
        })"""
    )
    for edge, against in [("border", "inside"), ("border", "around"), ("ring", "around")]:
        ratio = contrast(colours[edge], colours[against])
        assert ratio >= 3, f"{theme}: {edge} on {against} is {ratio:.2f}:1 {colours}"


# --- the passkey states, from the gallery -------------------------------------------------------

# Every state that shows passkeys as a browser that can use them would (the gallery's server
# offers none): the Passkeys section of Settings and the login page.
PASSKEY_STATES = [state for state in REGISTRY if state.context.get("passkeys_demo")]


@pytest.fixture(scope="module")
def gallery(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(extra_env={"PORTAL_RELOAD_TEMPLATES": "true"})
    yield server
    server.stop()


@pytest.mark.parametrize(("size", "viewport"), SIZES)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_passkeys_states_are_axe_clean(
    pages: Pages,
    gallery: Server,
    axe_source: str,
    theme: str,
    size: str,
    viewport: dict[str, int],
) -> None:
    """None yet, a list, renaming, removing with the password, at the limit, the messages; the
    login page with Sign In with a Passkey."""
    assert {"login-passkeys", "settings-passkeys-list"} <= {s.name for s in PASSKEY_STATES}
    page = pages.new_page(viewport=viewport, server=gallery)
    found = {}
    for state in PASSKEY_STATES:
        page.goto(f"/-/patterns/{state.name}?theme={theme}")
        if state.frame == "page":  # a whole page (not a fragment)
            expect(page.locator("[data-theme-label]").first).to_have_text(theme.title())
            screenshot(page, f"{state.name}-{theme}-{size}")
        if violations := axe_violations(page, axe_source):
            found[state.name] = violations
    assert not found, found
