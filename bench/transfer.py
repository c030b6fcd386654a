"""Bytes on the wire: the first load of the login page and of the Phone tab (softphone included),
each with every asset, and one tab switch."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx2

FIRST_LOAD_BUDGET = 40 * 1024
PHONE_LOAD_BUDGET = 120 * 1024  # the Phone tab with the softphone: JsSIP is most of it
# One htmx switch to Settings, headers included: Change Password with its show-password toggles
# and caps-lock warnings, Passkeys (where the base URL is a host name) and where you're signed in
# (this device's row). Pages carry a CSRF token, so they are sent uncompressed (no BREACH); each
# further session listed adds ~0.4 KB, each passkey ~0.5 KB.
TAB_SWITCH_BUDGET = 6 * 1024


@dataclass(frozen=True)
class Transfer:
    first_load: int  # compressed bytes: the login page and every asset it loads
    first_load_parts: dict[str, int]
    tab_switch: int  # compressed bytes of one htmx tab switch
    phone_load: int  # compressed bytes: the Phone tab and every asset it loads, cache cold
    phone_load_parts: dict[str, int]


def wire_bytes(response: httpx2.Response) -> int:
    """Body bytes as sent (compressed when the server compressed them), plus the headers."""
    headers = sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    return headers + int(response.headers.get("content-length", len(response.content)))


def form_token(page: httpx2.Response) -> str:
    """The CSRF token of the form on `page` (the login page, as a browser gets it)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, f"no CSRF token on {page.url.path}"
    return token.group(1)


def with_assets(browser: httpx2.Client, page: httpx2.Response) -> dict[str, int]:
    """`page` and every static file it names, as a browser with an empty cache fetches them."""
    parts = {page.url.path: wire_bytes(page)}
    for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
        parts[url] = wire_bytes(browser.get(url))
    return parts


def measure(base: str, username: str, password: str) -> Transfer:
    """Load the login page as a new browser would, sign in, then switch one tab."""
    with httpx2.Client(base_url=base, headers={"Accept-Encoding": "gzip"}) as browser:
        login = browser.get("/login")
        parts = with_assets(browser, login)
        signed_in = browser.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": form_token(login)},
            follow_redirects=True,
        )
        assert signed_in.url.path == "/phone", "the benchmark could not sign in"
        phone_parts = with_assets(browser, signed_in)
        switch = browser.get("/settings", headers={"HX-Request": "true"})
        assert switch.status_code == 200
    return Transfer(
        sum(parts.values()),
        parts,
        wire_bytes(switch),
        sum(phone_parts.values()),
        phone_parts,
    )
