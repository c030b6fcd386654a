"""Case 7: from a signed-in page load to a Ready softphone, in real Chromium against a real
Kamailio on loopback (the demo's set-up): the page, JsSIP, the credentials request, the
WebSocket, and REGISTER with its digest challenge."""

from __future__ import annotations

import secrets
import shutil
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.phone.sipserver import SipServer, SipServerError, available

READY_GOAL_MS = 500.0
CHROMIUM = "/usr/bin/chromium"
# Set on the page when the status first says Ready, in ms since the navigation started.
MARK_READY = """
new MutationObserver((_, observer) => {
  const status = document.querySelector("#phone [data-phone-status]");
  if (status && status.textContent === "Ready" && window.__readyAt === undefined) {
    window.__readyAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@contextmanager
def phone_system(runtime_dir: Path, port: int) -> Iterator[tuple[SipServer | None, str, str]]:
    """Kamailio on 127.0.0.1:`port` and its fresh secret; or None, "" and why not."""
    if reason := available():
        yield None, "", reason
        return
    secret = secrets.token_urlsafe(32)
    server = SipServer(
        domain="bench.localhost", secret=secret, runtime_dir=runtime_dir, ws_port=port
    )
    try:
        server.start()
    except SipServerError as exc:
        yield None, "", str(exc).splitlines()[0]
        return
    try:
        yield server, secret, ""
    finally:
        server.stop()


def ready_times(base: str, username: str, password: str, runs: int) -> list[float]:
    """Sign in once, then load /phone `runs` times; each load's time to Ready, in ms."""
    from playwright.sync_api import sync_playwright

    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"Chromium is not installed at {CHROMIUM}")
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(base_url=base)
            context.add_init_script(MARK_READY)
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign In", exact=True).click()
            page.wait_for_url("**/phone")
            page.wait_for_function("() => window.__readyAt !== undefined", timeout=10_000)
            for _ in range(runs):
                page.goto("/phone")
                page.wait_for_function("() => window.__readyAt !== undefined", timeout=10_000)
                times.append(float(page.evaluate("window.__readyAt")))
        finally:
            browser.close()
    return times


def summary(times: list[float]) -> tuple[float, list[str]]:
    """The median, and a detail line."""
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return p50, [
        f"p50 {p50:.0f} ms, p90 {p90:.0f} ms, max {ordered[-1]:.0f} ms of {len(times)} loads"
    ]
