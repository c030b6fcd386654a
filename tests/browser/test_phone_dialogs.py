"""The softphone's dialogs: "Use here" asks before it ends another tab's call. Real Kamailio,
real Chromium, in the private network namespace (tests/browser/phoning.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.phoning import Phone, call_connected
from tests.browser.sync_api import expect

pytestmark = pytest.mark.browser

IN_A_CALL_ELSEWHERE = "^Disconnected: The phone is in a call in another tab"
OPEN_ELSEWHERE = "^Disconnected: The phone is open in another tab"
QUESTION = "End the call in the other tab and use the phone here?"


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
    other.button("Use here").click()
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(other.button("Use here")).to_be_focused()
    other.button("Use here").click()
    expect(confirm).to_be_visible()
    other.page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    ada.expect_status("^In call with 202$")
    holder.expect_status("^In call with Extension 201$")

    # The call over, the other tab says so again.
    ada.button("Hang up").click()
    other.expect_status(OPEN_ELSEWHERE)
    call_connected(ada, holder, "202")
    other.expect_status(IN_A_CALL_ELSEWHERE)

    # Confirmed: the call ends on both sides, and the phone moves here.
    other.button("Use here").click()
    confirm.get_by_role("button", name="End call and use here").click()
    expect(confirm).to_be_hidden()
    other.expect_status("^Ready$")
    ada.expect_status("^Ready$")
    holder.expect_status(OPEN_ELSEWHERE)
    ada.dial("202")
    expect(other.page.get_by_role("dialog", name="Incoming call")).to_be_visible()
    expect(holder.page.get_by_role("dialog", name="Incoming call")).to_be_hidden()
    ada.button("Hang up").click()
    other.expect_status("^Ready$")
