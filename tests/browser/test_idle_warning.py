"""The warning before the idle sign-out, in a real Chromium, at a shortened idle limit: it comes
in time, modal, with focus in it and a countdown; "Stay Signed In" slides the session on the
server; "Sign Out" signs out; activity in another tab keeps this one signed in and closes its
warning; axe finds nothing on it in either theme. The fixtures fail a test whose page logged an
error or broke the CSP."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Pages,
    Server,
    axe_violations,
    screenshot,
    sign_in,
)
from tests.browser.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

IDLE_SECONDS = 12
WARN_SECONDS = IDLE_SECONDS // 2  # under four minutes, the warning comes at half the limit
AT_PHONE = re.compile(r"/phone$")
AT_IDLE_LOGIN = re.compile(r"/login\?reason=idle")
AT_LOGIN = re.compile(r"/login(\?.*)?$")
COUNTDOWN = re.compile(r"^You will be signed out in 0:0([0-6]) for inactivity\.$")


@pytest.fixture(scope="module")
def short(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(idle_seconds=IDLE_SECONDS)
    yield server
    server.stop()


def signed_in(page: Page, server: Server) -> float:
    """Sign in; returns when the session's clock started (as this process's monotonic time)."""
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    return time.monotonic()


def warning_of(page: Page) -> Locator:
    return page.get_by_role("alertdialog", name="Are You Still There?")


def remaining(page: Page) -> int:
    """What the server says is left (GET /session with this page's cookies: not activity)."""
    status = page.request.get("/session").json()
    assert status["signed_in"], status
    return int(status["remaining"])


def countdown(page: Page) -> int:
    text = page.locator("#idle-warning-text").inner_text().strip()
    found = COUNTDOWN.match(text)
    assert found, text
    return int(found.group(1))


def test_the_warning_comes_before_the_idle_sign_out_with_focus_and_a_countdown(
    pages: Pages, short: Server
) -> None:
    page = pages.new_page(server=short)
    start = signed_in(page, short)
    warning = warning_of(page)

    page.wait_for_timeout((IDLE_SECONDS - WARN_SECONDS - 2) * 1000)
    expect(warning).to_be_hidden()  # not before it is due
    expect(warning).to_be_visible(timeout=(WARN_SECONDS + 2) * 1000)
    assert IDLE_SECONDS - WARN_SECONDS - 1 <= time.monotonic() - start <= IDLE_SECONDS - 2

    # Modal, focus on Stay Signed In, its text the dialog's description (read when it opens).
    assert page.evaluate("document.querySelector('[data-idle-warning]').matches(':modal')")
    expect(warning.get_by_role("button", name="Stay Signed In")).to_be_focused()
    expect(warning.get_by_role("button", name="Sign Out", exact=True)).to_be_visible()
    expect(warning).to_have_accessible_description(COUNTDOWN)
    first = countdown(page)
    assert first >= 2
    page.wait_for_timeout(1600)
    assert countdown(page) < first  # it counts down
    assert page.get_by_role("alertdialog").get_attribute("aria-live") is None

    # Untouched: at zero, the login page, as before the warning existed.
    expect(page).to_have_url(AT_IDLE_LOGIN, timeout=(WARN_SECONDS + 5) * 1000)
    assert time.monotonic() - start >= IDLE_SECONDS


def test_stay_signed_in_slides_the_session_past_its_first_expiry(
    pages: Pages, short: Server
) -> None:
    page = pages.new_page(server=short)
    start = signed_in(page, short)
    warning = warning_of(page)
    expect(warning).to_be_visible(timeout=(IDLE_SECONDS - WARN_SECONDS + 3) * 1000)
    before = remaining(page)
    assert before <= WARN_SECONDS

    warning.get_by_role("button", name="Stay Signed In").click()
    expect(warning).to_be_hidden()
    assert remaining(page) >= IDLE_SECONDS - 2  # the server's time went back up

    # Past when the session would have ended: still signed in, still here.
    page.wait_for_timeout(max(0.0, start + IDLE_SECONDS + 1 - time.monotonic()) * 1000)
    expect(page).to_have_url(AT_PHONE)
    assert remaining(page) > 0


def test_sign_out_in_the_warning_signs_out(pages: Pages, short: Server) -> None:
    page = pages.new_page(server=short)
    signed_in(page, short)
    warning = warning_of(page)
    expect(warning).to_be_visible(timeout=(IDLE_SECONDS - WARN_SECONDS + 3) * 1000)

    warning.get_by_role("button", name="Sign Out", exact=True).click()
    expect(page).to_have_url(AT_LOGIN)
    assert "reason=idle" not in page.url  # the user's own sign-out, not the idle one
    assert page.request.get("/session").json() == {"signed_in": False, "remaining": 0}
    page.goto("/phone")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_activity_in_another_tab_keeps_this_one_signed_in(pages: Pages, short: Server) -> None:
    here = pages.new_page(server=short)
    start = signed_in(here, short)
    there = here.context.new_page()
    pages.watch(there)
    there.goto("/phone")
    expect(there.get_by_role("heading", name="Phone", level=1)).to_be_visible()

    # Used in the other tab before this one's warning is due: no warning here then.
    here.wait_for_timeout(max(0.0, start + 3 - time.monotonic()) * 1000)
    there.get_by_role("link", name="Settings").click()
    expect(there.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    used = time.monotonic()
    due = start + IDLE_SECONDS - WARN_SECONDS + 1.5  # when it would have come
    here.wait_for_timeout(max(0.0, due - time.monotonic()) * 1000)
    expect(warning_of(here)).to_be_hidden()

    # Both warn later; Stay Signed In over there closes the warning here too.
    expect(warning_of(here)).to_be_visible(timeout=(IDLE_SECONDS - WARN_SECONDS + 3) * 1000)
    expect(warning_of(there)).to_be_visible()
    warning_of(there).get_by_role("button", name="Stay Signed In").click()
    expect(warning_of(there)).to_be_hidden()
    expect(warning_of(here)).to_be_hidden(timeout=3000)

    # Past both earlier expiries: this tab was never sent to sign in.
    here.wait_for_timeout(max(0.0, used + IDLE_SECONDS + 1 - time.monotonic()) * 1000)
    expect(here).to_have_url(AT_PHONE)
    assert remaining(here) > 0


def test_axe_finds_nothing_on_the_open_warning(
    pages: Pages, short: Server, axe_source: str
) -> None:
    page = pages.new_page(server=short)
    signed_in(page, short)
    expect(warning_of(page)).to_be_visible(timeout=(IDLE_SECONDS - WARN_SECONDS + 3) * 1000)
    found: dict[str, Any] = {}
    for size, viewport in (("desktop", DESKTOP), ("375px", PHONE)):
        page.set_viewport_size(viewport)
        for theme in ("light", "dark"):
            page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
            screenshot(page, f"idle-warning-{theme}-{size}")
            if violations := axe_violations(page, axe_source):
                found[f"{theme}, {size}"] = violations
    expect(warning_of(page)).to_be_visible()  # all of it was checked while it was open
    report = "\n".join(f"{where}:\n" + "\n".join(v) for where, v in found.items())
    assert not found, f"axe-core found WCAG violations on the warning:\n{report}"


@pytest.fixture(scope="module")
def gallery(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(extra_env={"PORTAL_RELOAD_TEMPLATES": "true"})
    yield server
    server.stop()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_gallery_shows_the_warning_open_and_axe_clean(
    pages: Pages, gallery: Server, axe_source: str, theme: str
) -> None:
    page = pages.new_page(server=gallery)
    page.goto(f"/-/patterns/settings-idle-warning?theme={theme}")
    warning = warning_of(page)
    expect(warning).to_be_visible()
    expect(warning).to_have_accessible_description("You will be signed out in 1:47 for inactivity.")
    violations = axe_violations(page, axe_source)
    assert not violations, "\n".join(violations)
