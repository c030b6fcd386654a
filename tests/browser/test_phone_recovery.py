"""The softphone when the other side fails: a callee that answers 480, and a phone system that
is up but does not register anyone (503) until it comes back. Real Kamailio, real Chromium, in
the private network namespace (tests/browser/phoning.py has the fixtures)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from portal.phone.credentials import ephemeral_credentials
from portal.phone.sipserver import SipServer
from tests import sipclient
from tests.browser.conftest import Server
from tests.browser.phoning import Phone, phone_settings
from tests.browser.sync_api import expect
from tests.netns import Netns

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sip_phone(
    netns: Netns, kamailio: SipServer, sip_secret: str
) -> Iterator[Callable[[str], sipclient.Phone]]:
    """`sip_phone("202-wickedsprockets")`: that extension registered by tests/sipclient.py, a
    phone whose every answer the test writes itself."""
    opened: list[sipclient.Phone] = []

    def register(user: str) -> sipclient.Phone:
        creds = ephemeral_credentials(sip_secret, user, time.time(), 600)
        sock = netns.connect(kamailio.ws_port)
        phone = sipclient.Phone.open(sock, kamailio.ws_url, kamailio.domain, user, creds)
        opened.append(phone)
        response = phone.register()
        assert response.status == 200, f"{user} did not register:\n{response}"
        return phone

    yield register
    for phone in opened:
        phone.close()


def test_a_callee_that_is_unavailable_says_so(
    phones: Callable[..., Phone], sip_phone: Callable[[str], sipclient.Phone]
) -> None:
    ada = phones("201-wickedsprockets")
    grace = sip_phone("202-wickedsprockets")

    ada.dial("202")
    invite = grace.receive()
    assert invite is not None and invite.method == "INVITE", invite
    grace.reply(invite, 480, "Temporarily Unavailable", "away")
    expect(ada.page.locator("#phone").get_by_role("alert")).to_have_text(
        "202 cannot be reached just now. Try again later."
    )
    ada.expect_status("^Ready$")


class Stub:
    """tests/sipstub.py inside the namespace: up, answering every REGISTER with 503."""

    def __init__(self, netns: Netns, port: int) -> None:
        self.registers = 0
        self.process = subprocess.Popen(
            netns.command(sys.executable, "-m", "tests.sipstub", str(port)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "listening"
        self.reader = threading.Thread(target=self._count, daemon=True)
        self.reader.start()

    def _count(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "REGISTER":
                self.registers += 1

    def wait_for(self, count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.registers < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.registers >= count, f"{self.registers} REGISTERs, not {count}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_a_failed_registration_is_tried_again_until_it_works(
    phones: Callable[..., Phone],
    netns_portal: Callable[..., Server],
    sip: Callable[..., SipServer],
    sip_secret: str,
    netns: Netns,
) -> None:
    own = sip(secret=sip_secret)
    env = phone_settings(own, sip_secret)
    server = netns_portal(["201-wickedsprockets"], env=env)
    own.stop()
    stub = Stub(netns, own.ws_port)  # where Kamailio was: up, but refusing service
    try:
        phones.pages.allow("WebSocket connection to")  # type: ignore[attr-defined]
        ada = phones("201-wickedsprockets", server=server, ready=False)
        ada.expect_status("^Disconnected: The phone system cannot be reached")
        expect(ada.button("Reconnect")).to_be_visible()

        # Nobody clicks: the page tries again by itself, waiting a little longer each time.
        stub.wait_for(2, seconds=15)
        ada.expect_status("^Disconnected: The phone system cannot be reached")
        # Reconnect tries at once, well before the next attempt is due.
        ada.button("Reconnect").click()
        stub.wait_for(3, seconds=2.5)
        ada.expect_status("^Disconnected: The phone system cannot be reached")
    finally:
        stub.stop()

    own.start()
    ada.expect_status("^Ready$", timeout=60_000)
