"""The softphone when the other side fails: a callee that answers 480. Real Kamailio, real
Chromium, in the private network namespace (tests/browser/phoning.py has the fixtures)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from portal.phone.credentials import ephemeral_credentials
from portal.phone.sipserver import SipServer
from tests import sipclient
from tests.browser.phoning import Phone
from tests.browser.sync_api import expect
from tests.netns import Netns

pytestmark = pytest.mark.browser


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
