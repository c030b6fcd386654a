"""The byte budgets of `make bench`, measured the same way on a real server."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx2
import pytest
from bench import cases
from bench.__main__ import BASE_URL
from bench.peers.django import run as peer
from bench.server import bare_app, serve, wait_healthy
from bench.transfer import (
    FIRST_LOAD_BUDGET,
    PHONE_LOAD_BUDGET,
    TAB_SWITCH_BUDGET,
    form_token,
    measure,
)

from portal.app import create_app
from portal.base import db
from portal.base.settings import Settings
from tests.conftest import POSTGRES_DSN
from tests.servers import free_port, portal_command, portal_server


def bench_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/bench.db",
        "PORTAL_SECRET_KEY": "bench",
        # /phone then loads the softphone (only its bytes are counted: nothing listens there)
        "PORTAL_SIP_WS_URL": "ws://127.0.0.1:9",
        "PORTAL_SIP_DOMAIN": "bench.invalid",
        "PORTAL_SIP_SECRET": "bench-sip-secret-0123",
    }


def test_first_load_and_tab_switch_fit_their_byte_budgets(tmp_path: Path) -> None:
    env = bench_env(tmp_path)
    portal_command(env, "db", "upgrade")
    portal_command(env, "tenant", "add", "acme", "--name", "Acme")
    portal_command(
        env,
        "extension",
        "add",
        "1-acme",
        "--name",
        "A",
        "--password-stdin",
        stdin="pass phrase 9\n",
    )
    with portal_server(env, tmp_path / "server.log") as server:
        transfer = measure(server.base, "1-acme", "pass phrase 9")
    assert len(transfer.first_load_parts) == 5  # the page, its stylesheet and three scripts
    assert transfer.first_load <= FIRST_LOAD_BUDGET
    assert transfer.tab_switch <= TAB_SWITCH_BUDGET
    # The Phone tab: the page, its stylesheet, three scripts, JsSIP and the softphone's script.
    assert len(transfer.phone_load_parts) == 7
    assert any("jssip" in url for url in transfer.phone_load_parts)
    assert transfer.phone_load <= PHONE_LOAD_BUDGET


@pytest.fixture(params=["sqlite", "postgresql"])
def peer_dsn(request: pytest.FixtureRequest) -> str | None:
    """The peer's kind of database, as each profile runs it: None for a SQLite file."""
    if request.param == "sqlite":
        return None
    request.getfixturevalue("postgres_schema")  # PostgreSQL answers (or the test skips, loudly)
    return POSTGRES_DSN


def test_the_django_peer_serves_the_portals_tab_to_its_signed_in_user(
    tmp_path: Path, peer_dsn: str | None
) -> None:
    """Case 1b's peer starts, signs in for real, and answers the tab with the portal's markup,
    its lists built from its own data."""
    env = bench_env(tmp_path)
    portal_command(env, "db", "upgrade")
    portal_command(env, "tenant", "add", "acme", "--name", "Acme")
    password = "pass phrase 9"
    portal_command(
        env, "extension", "add", "7-acme", "--name", "A", "--password-stdin", stdin=password
    )
    with (
        portal_server(env, tmp_path / "server.log") as server,
        httpx2.Client(base_url=server.base) as browser,
    ):
        token = form_token(browser.get("/login"))
        signed_in = browser.post(
            "/login", data={"username": "7-acme", "password": password, "csrf_token": token}
        )
        assert signed_in.status_code == 303
        fragment = browser.get("/settings", headers={"HX-Request": "true"}).text
    assert 'name="username" value="7-acme"' in fragment

    with (
        peer.database(tmp_path, peer_dsn) as url,
        peer.peer_server(tmp_path, url, fragment, "7-acme", password, free_port()) as django,
    ):
        tab = httpx2.get(
            django.base + "/settings",
            headers={"Cookie": django.cookie_header, "HX-Request": "true"},
        )
        anonymous = httpx2.get(django.base + "/settings", headers={"HX-Request": "true"})
        peer.sign_in(django.base, "7-acme", password)  # signed in somewhere else as well
        both = httpx2.get(
            django.base + "/settings",
            headers={"Cookie": django.cookie_header, "HX-Request": "true"},
        )
    assert tab.status_code == 200
    assert peer.same_markup(tab.text, fragment)
    assert 'name="username" value="7-acme"' in tab.text
    # The user's own CSRF token (Django masks it anew each time), not the portal's.
    assert f'value="{token}"' not in tab.text
    assert 'name="csrf_token" value="{{' not in tab.text
    # Sliding the Django way: the session is saved, and its cookie re-sent, on every request.
    assert (
        f"{peer.SESSION_COOKIE}={django.cookies[peer.SESSION_COOKIE]}" in tab.headers["set-cookie"]
    )
    assert anonymous.status_code == 302
    assert anonymous.headers["location"].startswith("/login/")
    # Its lists come from its own data, as the portal's do: a second sign-in is a second row.
    assert tab.text.count('class="sessions__row') == 1
    assert both.text.count('class="sessions__row') == 2
    assert "Sign Out Everywhere Else" in both.text
    assert django.cookies[peer.SESSION_COOKIE] not in both.text


_TIMES = re.compile(r'<time datetime="[^"]*">[^<]*</time>')


def test_the_floor_renders_the_tabs_own_markup(tmp_path: Path) -> None:
    """Case 1a's floor renders, from fixed data, what the tab sends: the same markup but for
    the CSRF token, the username and the times, Passkeys and Where You're Signed In included."""
    url = f"sqlite:///{tmp_path}/bench.db"
    db.upgrade(url)
    settings = Settings(database_url=url, secret_key="bench", base_url=BASE_URL)
    with serve(create_app(settings)) as portal, serve(bare_app(settings)) as bare:
        wait_healthy(portal.base)
        users = portal.call(cases.add_accounts(portal.shared, 1))
        cookie = cases.sign_in(portal.base, users[0])
        tab = httpx2.get(portal.base + cases.TAB, headers=cases.tab_headers(cookie)).text
        floor = httpx2.get(bare.base + "/render", headers=cases.HX).text
    assert "Add a Passkey" in tab and "This device" in tab
    assert peer.same_markup(_TIMES.sub("", tab), _TIMES.sub("", floor))
