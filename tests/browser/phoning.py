"""What the softphone tests share: a Kamailio (with coturn) and a portal inside the private
network namespace, and `phones(extension)`, a signed-in page whose phone is Ready.

tests/browser/conftest.py imports the fixtures, as tests/conftest.py does with tests/netns.py.
The pages' RTCPeerConnections are collected by an init script (TRACK_CONNECTIONS) so the tests
can read WebRTC statistics; the app itself has no test hook. The same script can force
`iceTransportPolicy: "relay"`, for the call through coturn.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from portal.phone.sipserver import SipServer
from tests.browser.conftest import PASSWORD, Pages, Server
from tests.browser.sync_api import Page, expect

RING_MS = 4000  # how long Kamailio lets a call ring before "480 No Answer"
EXTENSIONS = [
    "201-wickedsprockets",
    "202-wickedsprockets",
    "203-wickedsprockets",
    "201-othertenant",
    "202-othertenant",
]
TRACK_CONNECTIONS = """(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) {
      if (window.__relayOnly) config = {...(config || {}), iceTransportPolicy: "relay"};
      super(config, ...rest);
      window.__pcs.push(this);
    }
  };
})();"""
# Audio counters of the page's newest connection: bytes each way, and the energy it heard.
AUDIO_STATS = """async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  const stats = await pc.getStats();
  const out = {sent: 0, received: 0, energy: 0, state: pc.connectionState, local: "", remote: ""};
  stats.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.bytesSent;
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.received += s.bytesReceived;
      out.energy += s.totalAudioEnergy || 0;
    }
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      out.local = stats.get(pair.localCandidateId).candidateType;
    }
  });
  return out;
}"""


@dataclass
class Phone:
    """One signed-in page and the controls a person would use."""

    page: Page
    extension: str

    @property
    def status(self) -> Any:
        return self.page.locator("#phone").get_by_role("status")

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name, exact=True)

    def dial(self, number: str) -> None:
        self.page.get_by_label("Number").fill(number)
        self.button("Call").click()

    def expect_status(self, pattern: str, timeout: float = 10_000) -> None:
        expect(self.status).to_have_text(re.compile(pattern), timeout=timeout)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(AUDIO_STATS)
        return result

    def flowing(self, seconds: float = 1.5) -> dict[str, float]:
        """How much more audio went out, came in, and was heard over `seconds`."""
        before = self.stats()
        time.sleep(seconds)
        after = self.stats()
        return {key: after[key] - before[key] for key in ("sent", "received", "energy")}

    def falls_silent(self, windows: int = 6) -> bool:
        """Whether what this phone hears falls to silence within a few one-second windows:
        what was already in its jitter buffer may still play out for a moment, longer on a
        loaded machine."""
        return any(
            self.flowing(seconds=1.0)["energy"] == pytest.approx(0, abs=1e-6)
            for _ in range(windows)
        )


@pytest.fixture(scope="module")
def sip_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def kamailio(sip: Callable[..., SipServer], sip_secret: str) -> SipServer:
    return sip(secret=sip_secret, ring_ms=RING_MS, answer_ms=RING_MS, turn=True)


def phone_settings(server: SipServer, secret: str, *, turn: bool = False) -> dict[str, str]:
    """The portal's settings for a phone system served by `server` with `secret`."""
    env = {
        "PORTAL_SIP_WS_URL": server.ws_url,
        "PORTAL_SIP_DOMAIN": server.domain,
        "PORTAL_SIP_SECRET": secret,
    }
    if turn:
        env["PORTAL_TURN_URLS"] = ",".join(server.turn_urls)
    return env


@pytest.fixture(scope="module")
def portal(netns_portal: Callable[..., Server], kamailio: SipServer, sip_secret: str) -> Server:
    return netns_portal(EXTENSIONS, env=phone_settings(kamailio, sip_secret, turn=True))


@pytest.fixture
def phones(
    netns_browser: Any, portal: Server, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Phone]]:
    """`phones("202-wickedsprockets")`: a fresh browser context signed in as that extension,
    its phone Ready. Console errors, CSP violations and 5xx fail the test, as in `pages`."""
    opened = Pages(netns_browser, portal)

    def open_phone(
        extension: str,
        *,
        relay: bool = False,
        context: Any = None,
        ready: bool = True,
        server: Server | None = None,
        init: str = "",
    ) -> Phone:
        if context is None:
            page = opened.new_page(server=server or portal)
            page.context.add_init_script(TRACK_CONNECTIONS)
            if relay:
                page.context.add_init_script("window.__relayOnly = true")
            if init:
                page.context.add_init_script(init)
            page.goto("/login")
            page.get_by_label("Username").fill(extension)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign In").click()
            page.wait_for_url(re.compile(r"/phone$"))
        else:
            page = context.new_page()
            opened.watch(page)
            page.goto("/phone")
        phone = Phone(page, extension)
        if ready:
            phone.expect_status("^Ready")
        return phone

    open_phone.pages = opened  # type: ignore[attr-defined]
    yield open_phone
    call = getattr(request.node, "report_call", None)
    opened.close()
    if (problems := opened.unexpected()) and not (call is not None and call.failed):
        report = "\n".join(f"  - {p}" for p in problems)
        pytest.fail(f"the browser reported problems:\n{report}")


def call_connected(caller: Phone, callee: Phone, number: str) -> None:
    caller.dial(number)
    caller.expect_status("^In call: calling")
    dialog = callee.page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Answer")).to_be_focused()
    dialog.get_by_role("button", name="Answer").click()
    expect(dialog).to_be_hidden()
    caller.expect_status(f"^In call with {number}$")
    callee.expect_status("^In call with Extension 201")
