"""Where you're signed in, in a real Chromium: two browsers (contexts) signed in as one
extension, one ends the other from its list, and the ended one is on the login screen at its
next click; and the new-device notice, read from the real SMTP sink."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Pages, Server, sign_in, sign_out
from tests.browser.sync_api import expect

pytestmark = pytest.mark.browser

NEW_DEVICE = "New sign-in to Phone Portal"
RESET = "Reset your Phone Portal password"


def test_ending_a_session_from_the_other_browser_sends_it_to_the_login_screen(
    pages: Pages, mail_server: Server
) -> None:
    server = mail_server
    ended = pages.new_page(server=server)
    sign_in(ended, server)
    expect(ended).to_have_url(re.compile(r"/phone$"))
    mine = pages.new_page(server=server)
    sign_in(mine, server)
    mine.get_by_role("link", name="Settings").click()

    section = mine.get_by_role("region", name="Where You're Signed In")
    expect(section.get_by_text("This device")).to_have_count(1)
    buttons = section.get_by_role("button", name=re.compile(r"^Sign Out of "))
    expect(buttons).to_have_count(1)
    buttons.click()

    expect(section.get_by_role("status")).to_contain_text("was signed out.")
    expect(section.get_by_role("button", name=re.compile(r"^Sign Out of "))).to_have_count(0)
    expect(section.get_by_text("This device")).to_have_count(1)
    # The ended browser's next click lands on the login screen.
    ended.get_by_role("link", name="Settings").click()
    expect(ended).to_have_url(re.compile(r"/login"))
    expect(ended.get_by_role("button", name="Sign In")).to_be_visible()
    # This one is still signed in.
    mine.reload()
    expect(mine.get_by_role("heading", name="Settings", level=1)).to_be_visible()


def test_a_new_browser_gets_one_notice_and_the_same_browser_again_none(
    pages: Pages, mail_server: Server
) -> None:
    server = mail_server
    assert server.sink is not None
    page = pages.new_page(server=server)
    sign_in(page, server)
    expect(page).to_have_url(re.compile(r"/phone$"))

    notice = server.sink.wait_for(1)[0]

    assert notice.subject == NEW_DEVICE
    assert "If this wasn't you, change your password" in notice.text
    assert f"{server.base_url}/settings" in notice.text
    assert " on Linux" in notice.text and "127.0.0.1" in notice.text
    # The same browser again, after signing out: no notice. A reset mail asked for afterwards is
    # the next message (the outbox sends in order), so a second notice could not hide.
    sign_out(page)
    sign_in(page, server)
    expect(page).to_have_url(re.compile(r"/phone$"))
    sign_out(page)
    page.goto("/forgot-password")
    page.get_by_label("Username").fill(server.username)
    page.get_by_role("button", name=re.compile("link", re.I)).click()
    subjects = [message.subject for message in server.sink.wait_for(2)]
    assert sorted(subjects) == sorted([NEW_DEVICE, RESET])
