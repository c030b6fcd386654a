"""The softphone for real: a real Kamailio (and coturn), the real portal and real Chromium pages
calling each other, every packet on the loopback of a private network namespace
(tests/netns.py). Without Kamailio, or without root for the namespace, these skip and say why;
under CI=true they fail.

The fixtures and the `Phone` helper are in tests/browser/phoning.py, shared with the other
tests/browser/test_phone_*.py modules.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.dev import examples, patterns
from portal.phone.credentials import ephemeral_credentials
from portal.phone.sipserver import SipServer
from tests.browser.conftest import DESKTOP, PHONE, Pages, Server, axe_violations, sign_in
from tests.browser.phoning import RING_MS, Phone, call_connected, phone_settings
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_two_browsers_call_each_other(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")

    call_connected(ada, grace, "202")
    expect(grace.page.get_by_text("Extension 201", exact=False).first).to_be_visible()

    # Audio flows both ways, and each side hears something (fake microphones beep).
    for phone in (ada, grace):
        flow = phone.flowing()
        assert flow["sent"] > 1000 and flow["received"] > 1000, (phone.extension, flow)
        assert flow["energy"] > 0, (phone.extension, flow)

    # DTMF: keys pressed on 201's keypad arrive at 202 as SIP INFO.
    ada.button("Keypad").click()
    expect(ada.button("Keypad")).to_have_attribute("aria-expanded", "true")
    for key in ("5", "#", "1"):
        ada.button(key).click()
    expect(grace.page.locator("#phone")).to_have_attribute("data-dtmf-received", "5#1")

    # Mute: 202 hears silence from 201, while 201 still hears 202.
    ada.button("Mute").click()
    expect(ada.button("Mute")).to_have_attribute("aria-pressed", "true")
    assert grace.falls_silent()
    assert ada.flowing()["energy"] > 0
    ada.button("Mute").click()
    expect(ada.button("Mute")).to_have_attribute("aria-pressed", "false")
    time.sleep(0.5)
    assert grace.flowing()["energy"] > 0

    # Hold: a re-INVITE with sendonly; 202 stops sending, and says it was put on hold.
    ada.button("Hold").click()
    ada.expect_status("^In call with 202, on hold$")
    grace.expect_status("who put you on hold$")
    time.sleep(0.5)
    assert ada.flowing()["received"] < 200
    ada.button("Resume").click()
    ada.expect_status("^In call with 202$")
    grace.expect_status("^In call with Extension 201$")
    time.sleep(0.5)
    assert ada.flowing()["received"] > 1000

    # 201 goes to Settings and back: the call goes on, shown as a bar with Hang up.
    ada.page.get_by_role("link", name="Settings").click()
    expect(ada.page.get_by_role("heading", name="Change Password")).to_be_visible()
    expect(ada.button("Hang Up")).to_be_visible()
    expect(ada.button("Mute")).to_be_hidden()
    assert ada.flowing()["received"] > 1000
    ada.page.get_by_role("link", name="Phone", exact=True).click()
    expect(ada.button("Mute")).to_be_visible()
    assert ada.stats()["state"] == "connected"

    # Hang up ends it on both sides.
    ada.button("Hang Up").click()
    ada.expect_status("^Ready$")
    grace.expect_status("^Ready$")


def test_failed_calls_say_why(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")
    joan = phones("203-wickedsprockets")
    message = ada.page.locator("#phone").get_by_role("alert")

    # Declined, with the button and with Esc.
    ada.dial("202")
    dialog = grace.page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Decline").click()
    expect(message).to_have_text("202 declined the call.")
    ada.expect_status("^Ready$")
    grace.expect_status("^Ready$")
    ada.dial("202")
    expect(dialog).to_be_visible()
    grace.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(message).to_have_text("202 declined the call.")

    # No answer: Kamailio gives up after RING_MS; the callee's dialog goes away too.
    ada.dial("202")
    expect(dialog).to_be_visible()
    expect(message).to_have_text("202 did not answer.", timeout=RING_MS + 5000)
    expect(dialog).to_be_hidden()
    grace.expect_status("^Ready$")

    # Busy: 202 is in a call with 201; 203's call is refused by 202's phone with 486.
    call_connected(ada, grace, "202")
    joan.dial("202")
    expect(joan.page.locator("#phone").get_by_role("alert")).to_have_text("202 is busy.")
    joan.expect_status("^Ready$")
    ada.expect_status("^In call with 202$")  # the call in progress is untouched
    ada.button("Hang Up").click()
    grace.expect_status("^Ready$")

    # A number nobody has.
    ada.dial("299")
    expect(message).to_have_text(re.compile(r"^299 was not found"))
    # What the field refuses never leaves the page.
    ada.dial("202-othertenant")
    expect(message).to_have_text(re.compile(r"^Type a number to call"))
    ada.expect_status("^Ready$")

    # Call with an empty field fills in the last number dialled; Enter dials it.
    ada.page.get_by_label("Number").fill("")
    ada.button("Call").click()
    expect(ada.page.get_by_label("Number")).to_have_value("299")


def test_a_number_reaches_the_callers_own_tenant_only(phones: Callable[..., Phone]) -> None:
    ours = phones("202-wickedsprockets")
    theirs_202 = phones("202-othertenant")
    theirs_201 = phones("201-othertenant")

    call_connected(theirs_201, theirs_202, "202")
    expect(ours.page.get_by_role("dialog")).to_be_hidden()
    ours.expect_status("^Ready$")
    theirs_201.button("Hang Up").click()
    theirs_202.expect_status("^Ready$")


def test_digits_typed_anywhere_on_the_tab_go_to_the_number(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")

    ada.page.locator("h1").click()  # focus nowhere in particular
    ada.page.keyboard.type("202")
    expect(ada.page.get_by_label("Number")).to_have_value("202")
    expect(ada.page.get_by_label("Number")).to_be_focused()
    ada.page.keyboard.press("Enter")
    expect(grace.page.get_by_role("dialog")).to_be_visible()
    ada.button("Hang Up").click()
    expect(grace.page.get_by_role("dialog")).to_be_hidden()
    ada.expect_status("^Ready$")


def test_sign_out_during_a_call_ends_it_and_unregisters(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")

    call_connected(ada, grace, "202")
    ada.page.get_by_role("button", name="Sign Out", exact=True).click()
    ada.page.wait_for_url(re.compile(r"/login$"))
    grace.expect_status("^Ready$")
    # 201 is no longer registered: calling it finds nobody.
    grace.dial("201")
    expect(grace.page.locator("#phone").get_by_role("alert")).to_have_text(
        re.compile(r"^201 was not found")
    )


def test_one_phone_per_browser_and_use_here_moves_it(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    first = phones("202-wickedsprockets")
    second = phones("202-wickedsprockets", context=first.page.context, ready=False)
    second.expect_status("^Disconnected: The phone is open in another tab")
    expect(second.button("Use Here")).to_be_visible()

    # A call rings in the tab holding the phone, and only there.
    ada.dial("202")
    expect(first.page.get_by_role("dialog")).to_be_visible()
    time.sleep(1)
    expect(second.page.get_by_role("dialog")).to_be_hidden()
    first.page.get_by_role("dialog").get_by_role("button", name="Decline").click()
    ada.expect_status("^Ready$")

    # Use here moves it.
    second.button("Use Here").click()
    second.expect_status("^Ready$")
    first.expect_status("^Disconnected: The phone is open in another tab")
    ada.dial("202")
    expect(second.page.get_by_role("dialog")).to_be_visible()
    expect(first.page.get_by_role("dialog")).to_be_hidden()
    second.page.get_by_role("dialog").get_by_role("button", name="Decline").click()
    ada.expect_status("^Ready$")

    # Closing the tab that holds it hands it to the other.
    second.page.close()
    first.expect_status("^Ready$")
    ada.dial("202")
    expect(first.page.get_by_role("dialog")).to_be_visible()
    ada.button("Hang Up").click()
    expect(first.page.get_by_role("dialog")).to_be_hidden()


def test_a_call_through_the_turn_relay(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets", relay=True)
    grace = phones("202-wickedsprockets", relay=True)

    call_connected(ada, grace, "202")
    for phone in (ada, grace):
        flow = phone.flowing()
        assert flow["sent"] > 1000 and flow["received"] > 1000, (phone.extension, flow)
        assert phone.stats()["local"] == "relay"
    ada.button("Hang Up").click()
    grace.expect_status("^Ready$")


@pytest.mark.parametrize(
    ("case", "forge"),
    [
        (
            "a wrong secret",
            lambda secret, user, now: ephemeral_credentials("x" * 32, user, now, 600),
        ),
        (
            "another extension's credential",
            lambda secret, user, now: ephemeral_credentials(
                secret, "202-wickedsprockets", now, 600
            ),
        ),
        (
            "an expired credential",
            lambda secret, user, now: ephemeral_credentials(secret, user, now - 700, 600),
        ),
    ],
)
def test_refused_credentials_show_disconnected_with_the_reason(
    phones: Callable[..., Phone],
    kamailio: SipServer,
    sip_secret: str,
    case: str,
    forge: Callable[..., Any],
) -> None:
    ada = phones("201-wickedsprockets", ready=False)
    ada.page.close()
    context = ada.page.context

    def forged(route: Any) -> None:
        bad = forge(sip_secret, "201-wickedsprockets", time.time())
        config = {
            "ws_url": kamailio.ws_url,
            "domain": kamailio.domain,
            "uri": f"sip:201-wickedsprockets@{kamailio.domain}",
            "display_name": "Extension 201",
            "number": "201",
            "tenant": "wickedsprockets",
            "authorization_user": bad.username,
            "password": bad.password,
            "expires": bad.expires,
            "ttl": 600,
            "ice_servers": [],
        }
        route.fulfill(json=config, headers={"Cache-Control": "no-store"})

    context.route("**/phone/credentials", forged)
    page = context.new_page()
    page.goto("/phone")
    phone = Phone(page, "201-wickedsprockets")
    phone.expect_status("^Disconnected: The phone system refused to sign in this extension")
    expect(phone.button("Reconnect")).to_be_visible()

    # With the real credentials again, Reconnect brings it back.
    context.unroute("**/phone/credentials")
    phone.button("Reconnect").click()
    phone.expect_status("^Ready$")


def test_the_login_page_loads_no_sip_client(phones: Callable[..., Phone], portal: Server) -> None:
    ada = phones("201-wickedsprockets")
    ada.page.get_by_role("button", name="Sign Out", exact=True).click()
    ada.page.wait_for_url(re.compile(r"/login$"))
    assert ada.page.evaluate("typeof JsSIP") == "undefined"
    assert ada.page.locator("script[src*='jssip'], script[src*='phone']").count() == 0


# --- without a SIP server ----------------------------------------------------------------------


def test_without_a_phone_system_the_tab_says_so(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.wait_for_url(re.compile(r"/phone$"))
    status = page.locator("#phone").get_by_role("status")
    expect(status).to_have_text("Disconnected: No phone system is configured for this portal.")
    expect(page.get_by_text("The softphone needs JavaScript")).to_be_hidden()
    expect(page.get_by_role("button", name="Reconnect")).to_be_hidden()
    expect(page.get_by_label("Number")).to_be_hidden()
    assert page.evaluate("typeof JsSIP") == "undefined"
    # On the other tabs there is nothing of it.
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()
    expect(status).to_be_hidden()


def test_without_javascript_the_tab_says_the_softphone_needs_it(
    pages: Pages, server: Server
) -> None:
    page = pages.new_page(java_script_enabled=False)
    sign_in(page, server)
    page.wait_for_url(re.compile(r"/phone$"))
    expect(page.get_by_text("The softphone needs JavaScript")).to_be_visible()
    expect(page.locator("#phone")).to_be_hidden()  # nothing that cannot work without it


PHONE_STATES = [
    pattern.name
    for pattern in patterns.REGISTRY
    if not pattern.blocks
    and (pattern.template == "phone.html" or pattern.name.startswith("settings-in"))
]


@pytest.fixture(scope="module")
def gallery(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(extra_env={"PORTAL_RELOAD_TEMPLATES": "true"})
    yield server
    server.stop()


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("375px", PHONE)])
@pytest.mark.parametrize("theme", examples.THEMES)
def test_every_phone_state_is_axe_clean(
    pages: Pages,
    gallery: Server,
    axe_source: str,
    theme: str,
    size: str,
    viewport: dict[str, int],
) -> None:
    page = pages.new_page(viewport=viewport, server=gallery)
    found = {}
    for name in PHONE_STATES:
        page.goto(f"/-/patterns/{name}?theme={theme}")
        expect(page.locator("#phone")).to_be_attached()
        if violations := axe_violations(page, axe_source):
            found[name] = violations
    report = "\n".join(
        f"{name}:\n" + "\n".join(f"  - {v}" for v in violations)
        for name, violations in found.items()
    )
    assert not found, f"axe-core found WCAG violations ({theme}, {size}):\n{report}"


def test_an_unreachable_phone_system_shows_disconnected(
    phones: Callable[..., Phone], netns_portal: Callable[..., Server], netns: Any, sip_secret: str
) -> None:
    nobody = f"ws://127.0.0.1:{netns.port()}"  # nothing listens there
    env = {
        "PORTAL_SIP_WS_URL": nobody,
        "PORTAL_SIP_DOMAIN": "sip.portal.test",
        "PORTAL_SIP_SECRET": sip_secret,
    }
    server = netns_portal(["201-wickedsprockets"], env=env)
    phones.pages.allow("WebSocket connection to")  # type: ignore[attr-defined]
    ada = phones("201-wickedsprockets", server=server, ready=False)
    ada.expect_status("^Disconnected: The phone system cannot be reached")
    expect(ada.button("Reconnect")).to_be_visible()
    expect(ada.page.get_by_label("Number")).to_be_hidden()


BLOCKED_MICROPHONE = """(() => {
  const query = navigator.permissions.query.bind(navigator.permissions);
  navigator.permissions.query = (what) => what && what.name === "microphone"
    ? Promise.resolve({state: "denied", addEventListener() {}}) : query(what);
})();"""
REFUSED_MICROPHONE = """(() => {
  navigator.mediaDevices.getUserMedia = () =>
    Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
})();"""


def test_a_blocked_microphone_says_what_to_do(phones: Callable[..., Phone]) -> None:
    """Chromium under test always allows the microphone (fake UI): what a person who blocked it
    would see is shown by the browser's answers, replaced by the init scripts above."""
    blocked = phones("201-wickedsprockets", ready=False, init=BLOCKED_MICROPHONE)
    blocked.expect_status("^Disconnected: Microphone access is blocked: allow it in the address")
    expect(blocked.button("Reconnect")).to_be_visible()

    refused = phones("202-wickedsprockets", init=REFUSED_MICROPHONE)
    refused.dial("201")
    refused.expect_status("^Disconnected: Microphone access is blocked")


def test_live_phone_states_are_axe_clean(phones: Callable[..., Phone], axe_source: str) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")
    found = {}

    def check(phone: Phone, state: str) -> None:
        if violations := axe_violations(phone.page, axe_source):
            found[state] = violations

    check(ada, "ready")
    # 202 is on Settings: the call rings there, and is answered there.
    grace.page.get_by_role("link", name="Settings").click()
    expect(grace.page.get_by_role("heading", name="Change Password")).to_be_visible()
    ada.dial("202")
    expect(grace.page.get_by_role("dialog")).to_be_visible()
    expect(grace.page.get_by_role("dialog")).to_contain_text("Extension 201")
    check(ada, "calling")
    check(grace, "incoming, on Settings")
    grace.page.get_by_role("dialog").get_by_role("button", name="Answer").click()
    ada.expect_status("^In call with 202$")
    expect(grace.button("Hang Up")).to_be_visible()  # the bar, on Settings
    ada.button("Keypad").click()
    ada.button("Mute").click()
    check(ada, "in call, keypad open, muted")
    ada.page.get_by_role("link", name="Settings").click()
    expect(ada.page.get_by_role("heading", name="Change Password")).to_be_visible()
    check(ada, "Settings, in call")
    ada.button("Hang Up").click()
    expect(grace.button("Hang Up")).to_be_hidden()  # the bar goes with the call
    report = "\n".join(
        f"{state}:\n" + "\n".join(f"  - {v}" for v in violations)
        for state, violations in found.items()
    )
    assert not found, f"axe-core found WCAG violations:\n{report}"


IDLE_SECONDS = 8


@pytest.fixture(scope="module")
def idle_portal(
    netns_portal: Callable[..., Server], kamailio: SipServer, sip_secret: str
) -> Server:
    env = {
        **phone_settings(kamailio, sip_secret),
        "PORTAL_SESSION_IDLE_SECONDS": str(IDLE_SECONDS),
    }
    return netns_portal(["201-wickedsprockets", "202-wickedsprockets"], env=env)


def test_idle_expiry_unregisters_the_phone(
    phones: Callable[..., Phone], idle_portal: Server
) -> None:
    ada = phones("201-wickedsprockets", server=idle_portal)
    ada.page.wait_for_url(re.compile(r"/login\?reason=idle"), timeout=(IDLE_SECONDS + 10) * 1000)
    grace = phones("202-wickedsprockets", server=idle_portal)
    grace.dial("201")
    expect(grace.page.locator("#phone").get_by_role("alert")).to_have_text(
        re.compile(r"^201 was not found")
    )


def test_a_long_call_is_not_cut_by_the_idle_limit(
    phones: Callable[..., Phone], idle_portal: Server
) -> None:
    ada = phones("201-wickedsprockets", server=idle_portal)
    grace = phones("202-wickedsprockets", server=idle_portal)
    call_connected(ada, grace, "202")
    time.sleep(IDLE_SECONDS * 1.5)  # untouched, but in a call
    ada.expect_status("^In call with 202$")
    grace.expect_status("^In call with Extension 201$")
    assert "/phone" in ada.page.url and "/phone" in grace.page.url
    ada.button("Hang Up").click()
    grace.expect_status("^Ready$")
    ada.page.get_by_role("link", name="Settings").click()  # still signed in
    expect(ada.page.get_by_role("heading", name="Change Password")).to_be_visible()


def test_sign_out_in_another_tab_unregisters_the_phone(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    holder = phones("202-wickedsprockets")
    other = phones("202-wickedsprockets", context=holder.page.context, ready=False)
    other.expect_status("^Disconnected: The phone is open in another tab")

    other.page.get_by_role("button", name="Sign Out", exact=True).click()
    other.page.wait_for_url(re.compile(r"/login$"))
    holder.expect_status("^Disconnected: You are signed out")
    ada.dial("202")
    expect(ada.page.locator("#phone").get_by_role("alert")).to_have_text(
        re.compile(r"^202 was not found")
    )


def test_closing_the_tab_unregisters_the_phone(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")

    grace.page.close(run_before_unload=True)
    ada.dial("202")
    expect(ada.page.locator("#phone").get_by_role("alert")).to_have_text(
        re.compile(r"^202 was not found")
    )


def test_focus_follows_the_call_for_keyboard_users(phones: Callable[..., Phone]) -> None:
    ada = phones("201-wickedsprockets")
    grace = phones("202-wickedsprockets")

    number = ada.page.get_by_label("Number")
    number.fill("202")
    number.press("Enter")
    expect(ada.button("Hang Up")).to_be_focused()  # Call went away; Hang up is where to go
    expect(grace.page.get_by_role("dialog")).to_be_visible()
    ada.page.keyboard.press("Enter")  # hangs up
    ada.expect_status("^Ready$")
    expect(number).to_be_focused()
    expect(grace.page.get_by_role("dialog")).to_be_hidden()


def test_the_phone_comes_back_by_itself_when_the_server_does(
    phones: Callable[..., Phone],
    netns_portal: Callable[..., Server],
    sip: Callable[..., SipServer],
    sip_secret: str,
) -> None:
    own = sip(secret=sip_secret)
    env = phone_settings(own, sip_secret)
    server = netns_portal(["201-wickedsprockets"], env=env)
    phones.pages.allow("WebSocket connection to")  # type: ignore[attr-defined]
    ada = phones("201-wickedsprockets", server=server)

    own.stop()
    ada.expect_status("^Disconnected: The phone system cannot be reached")
    own.start()
    ada.expect_status("^Ready$", timeout=40_000)  # JsSIP retries, waiting longer each time
