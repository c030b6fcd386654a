"""The softphone's dialogs: the incoming call is modal (dimmed page, focus kept inside, Esc
declines, focus back where it was), and "Use Here" asks before it ends another tab's call.
Real Kamailio, real Chromium, in the private network namespace (tests/browser/phoning.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.browser.conftest import Pages, Server
from tests.browser.phoning import Phone, call_connected
from tests.browser.sync_api import expect

pytestmark = pytest.mark.browser

IN_A_CALL_ELSEWHERE = "^Disconnected: The phone is in a call in another tab"
OPEN_ELSEWHERE = "^Disconnected: The phone is open in another tab"
QUESTION = "End the Call in the Other Tab and Use the Phone Here?"


def test_the_incoming_call_dialog_is_modal(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")
    number = grace.page.get_by_label("Number")
    number.focus()

    ada.dial("202")
    dialog = grace.page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("d => d.matches(':modal')")
    dimmed = dialog.evaluate("d => getComputedStyle(d, '::backdrop').backgroundColor")
    assert dimmed not in ("rgba(0, 0, 0, 0)", "transparent"), dimmed
    # The page behind is out of reach: Tab and Shift+Tab stay in the dialog.
    for key in ["Tab"] * 4 + ["Shift+Tab"] * 4:
        grace.page.keyboard.press(key)
        assert dialog.evaluate("d => d.contains(document.activeElement)"), key
    grace.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ada.page.locator("#phone").get_by_role("alert")).to_have_text("202 declined the call.")
    expect(number).to_be_focused()  # back where it was


@pytest.fixture(scope="module")
def gallery(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(extra_env={"PORTAL_RELOAD_TEMPLATES": "true"})
    yield server
    server.stop()


@pytest.mark.parametrize("state", ["phone-incoming", "phone-use-here-confirm"])
def test_the_gallery_shows_the_dialogs_over_a_dimmed_page(
    pages: Pages, gallery: Server, state: str
) -> None:
    """The gallery's dialogs are open without the script, so not modal: no ::backdrop. A shadow
    wider than the window dims the page instead, as the live page looks."""
    page = pages.new_page(server=gallery)
    page.goto(f"/-/patterns/{state}")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    shadow = dialog.evaluate("d => getComputedStyle(d).boxShadow")
    spread = re.search(r"rgba\(0, 0, 0, 0\.5\) 0px 0px 0px (\d+)px", shadow)
    assert spread and int(spread[1]) >= max(page.viewport_size.values()), shadow  # type: ignore[union-attr]


def test_use_here_asks_before_ending_the_other_tabs_call(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    holder = phones("202-wickedsprockets")
    other = phones("202-wickedsprockets", context=holder.page.context, ready=False)
    other.expect_status(OPEN_ELSEWHERE)

    call_connected(ada, holder, "202")
    other.expect_status(IN_A_CALL_ELSEWHERE)
    # A tab opened during the call learns it too.
    late = phones("202-wickedsprockets", context=holder.page.context, ready=False)
    late.expect_status(IN_A_CALL_ELSEWHERE)
    late.page.close()

    # Use here asks first; Cancel (or Esc) leaves the call alone.
    confirm = other.page.get_by_role("dialog", name=QUESTION)
    other.button("Use Here").click()
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(other.button("Use Here")).to_be_focused()
    other.button("Use Here").click()
    expect(confirm).to_be_visible()
    other.page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    ada.expect_status("^In call with 202$")
    holder.expect_status("^In call with Extension 201$")

    # The call over, the other tab says so again.
    ada.button("Hang Up").click()
    other.expect_status(OPEN_ELSEWHERE)
    call_connected(ada, holder, "202")
    other.expect_status(IN_A_CALL_ELSEWHERE)

    # Confirmed: the call ends on both sides, and the phone moves here.
    other.button("Use Here").click()
    confirm.get_by_role("button", name="End Call and Use Here").click()
    expect(confirm).to_be_hidden()
    other.expect_status("^Ready$")
    ada.expect_status("^Ready$")
    holder.expect_status(OPEN_ELSEWHERE)
    ada.dial("202")
    expect(other.page.get_by_role("dialog", name="Incoming Call")).to_be_visible()
    expect(holder.page.get_by_role("dialog", name="Incoming Call")).to_be_hidden()
    ada.button("Hang Up").click()
    other.expect_status("^Ready$")
