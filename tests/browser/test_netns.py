"""The call tests' harness: the portal and Chromium inside the private network namespace, and
WebRTC between two peer connections there, directly on loopback and through coturn."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from portal.phone.credentials import ephemeral_credentials
from portal.phone.sipserver import SipServer
from tests.browser.conftest import Pages, Server, sign_in

# Two peer connections in one page, a data channel between them; resolves with the type of the
# local candidate of the pair in use ("host", "relay"), or rejects after a timeout.
CONNECT = """async ({iceServers, policy}) => {
  const config = {iceServers, iceTransportPolicy: policy};
  const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const opened = new Promise((resolve) => {
    b.ondatachannel = (e) => { e.channel.onmessage = (m) => resolve(m.data); };
  });
  const channel = a.createDataChannel("probe");
  channel.onopen = () => channel.send("hello");
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(
    `no connection (ICE ${a.iceConnectionState})`)), 8000));
  const said = await Promise.race([opened, timeout]);
  const stats = await a.getStats();
  let type = "none";
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      type = stats.get(stats.get(s.selectedCandidatePairId).localCandidateId).candidateType;
    }
  });
  a.close(); b.close();
  return `${said} via ${type}`;
}"""


@pytest.fixture(scope="module")
def portal(netns_portal: Callable[..., Server]) -> Server:
    return netns_portal(["201-wickedsprockets", "202-othertenant"])


def open_page(browser: Any, server: Server) -> Any:
    """A page of the portal: WebRTC gathers loopback candidates only on a secure origin such
    as http://127.0.0.1 (about:blank gets none)."""
    page = browser.new_page()
    page.goto(server.url("/login"))
    return page


def test_the_portal_serves_a_browser_inside_the_namespace(
    portal: Server, netns_browser: Any
) -> None:
    server = portal
    pages = Pages(netns_browser, server)
    try:
        page = pages.new_page()
        sign_in(page, server)
        page.wait_for_url(lambda url: "/phone" in url)
        assert page.url.startswith(server.base_url)  # 127.0.0.1 of the namespace
    finally:
        pages.close()
    assert not pages.unexpected()


def test_webrtc_connects_on_loopback_inside_the_namespace(
    netns_browser: Any, portal: Server
) -> None:
    page = open_page(netns_browser, portal)
    try:
        assert page.evaluate(CONNECT, {"iceServers": [], "policy": "all"}) == "hello via host"
    finally:
        page.context.close()


def test_webrtc_connects_through_coturn_with_the_ephemeral_credential(
    netns_browser: Any, portal: Server, sip: Callable[..., SipServer]
) -> None:
    server = sip(turn=True)
    good = ephemeral_credentials(server._secret, "201-wickedsprockets", time.time(), 600)
    forged = ephemeral_credentials("not-the-shared-secret", "201-wickedsprockets", time.time(), 60)
    page = open_page(netns_browser, portal)
    try:
        relay = [{"urls": server.turn_urls, "username": good.username, "credential": good.password}]
        said = page.evaluate(CONNECT, {"iceServers": relay, "policy": "relay"})
        assert said == "hello via relay"

        refused = [
            {"urls": server.turn_urls, "username": forged.username, "credential": forged.password}
        ]
        outcome = page.evaluate(
            f"args => ({CONNECT})(args).catch(error => error.message)",
            {"iceServers": refused, "policy": "relay"},
        )
        assert outcome.startswith("no connection"), outcome
    finally:
        page.context.close()
