"""Failed sign-ins: after 5, a wait; shared by spellings, workers and restarts; unlockable."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.settings import Settings, parse_networks
from portal.cli import main
from tests.conftest import PASSWORD, Account, Auth, csrf_from
from tests.servers import portal_command, portal_server

LOCKED = re.compile(r"Too many failed attempts\. Try again in (\d+) minutes?\.")
INVALID = "Invalid username or password"
WINDOW = 3  # seconds: the policy shrunk so a test can outwait it


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, login_lockout_seconds=WINDOW, login_ip_max_failures=1000)


def new_client(app: Starlette, **kwargs: Any) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False, **kwargs)


def fail(auth: Auth, times: int, username: str = "201-wickedsprockets") -> list[Any]:
    return [auth.login(username=username, password="wrong password") for _ in range(times)]


def test_five_failures_then_a_wait_even_for_the_right_password(
    auth: Auth, account: Account, verifies: list[str | None]
) -> None:
    for response in fail(auth, 5):
        assert INVALID in response.text
    assert len(verifies) == 5
    for password in ("wrong password", PASSWORD):
        response = auth.login(password=password)
        assert response.status_code == 429
        assert LOCKED.search(response.text), response.text
        assert INVALID not in response.text
    assert len(verifies) == 5  # while locked, no password is checked at all
    assert auth.client.get("/phone").status_code == 303


def test_the_wait_is_stated_in_minutes(settings: Settings, account: Account) -> None:
    with new_client(create_app(replace(settings, login_lockout_seconds=900))) as client:
        auth = Auth(client)
        fail(auth, 5)
        match = LOCKED.search(auth.login().text)
    assert match
    assert match.group(1) == "15"


def test_the_lock_ends_when_the_window_has_passed(auth: Auth, account: Account) -> None:
    fail(auth, 5)
    assert auth.login().status_code == 429
    time.sleep(WINDOW + 0.2)
    assert auth.login().headers["location"] == "/phone"


def test_htmx_gets_the_locked_form_partial(auth: Auth, account: Account) -> None:
    fail(auth, 5)
    response = auth.login(htmx=True)
    assert response.status_code == 429
    assert response.text.lstrip().startswith('<form id="login-form"')
    assert LOCKED.search(response.text)


ALERT = re.compile(r'<div class="form-error" id="login-error" role="alert">(.*?)</div>', re.S)
FORGOT_LINK = '<a href="/forgot-password" data-forgot-link>Forgot password?</a>'


def alert_html(html: str) -> str:
    found = ALERT.search(html)
    assert found, html
    return found.group(1)


def alert_of(html: str) -> str:
    """The sign-in form's error as a reader hears it: its text, links included."""
    return re.sub(r"<[^>]+>", "", alert_html(html)).strip()


@pytest.mark.parametrize(
    "username",
    ["201-wickedsprockets", "202-wickedsprockets", "not-a-real-one"],
    ids=["known", "unknown", "malformed"],
)
def test_from_the_third_failure_the_answer_says_how_many_are_left(
    settings: Settings, account: Account, username: str
) -> None:
    """Counted per name typed, known or not; the numbers come from the settings."""
    policy = replace(settings, login_lockout_seconds=900, login_max_failures=6)
    with new_client(create_app(policy)) as client:
        answers = fail(Auth(client), 7, username=username)
    left = "Invalid username or password. {} left before a 15-minute wait."
    assert [alert_of(r.text) for r in answers] == [
        INVALID,
        INVALID,
        left.format("3 attempts"),
        left.format("2 attempts"),
        left.format("1 attempt"),
        "Invalid username or password. Too many failed attempts. Try again in 15 minutes."
        " Forgot password?",
        "Too many failed attempts. Try again in 15 minutes. Forgot password?",
    ]
    assert [r.status_code for r in answers] == [200] * 6 + [429]
    assert [FORGOT_LINK in alert_html(r.text) for r in answers] == [False] * 5 + [True] * 2


def test_spellings_of_one_username_share_one_counter(auth: Auth, account: Account) -> None:
    for username in ["201-WickedSprockets", " 201-wickedsprockets ", "201-WICKEDSPROCKETS"] * 2:
        auth.login(username=username, password="wrong")
    assert auth.login(username="\t201-wickedsprockets").status_code == 429


def _normalise(text: str, username: str) -> str:
    text = text.replace(f'value="{username}"', 'value="USERNAME"')
    return re.sub(r"[A-Za-z0-9_-]{43}", "TOKEN", text)  # this client's CSRF token


@pytest.mark.parametrize("unknown", ["202-wickedsprockets", "201-nosuchtenant", "not-a-real-one"])
def test_unknown_names_fail_and_lock_exactly_like_real_ones(
    app: Starlette, account: Account, unknown: str
) -> None:
    def trace(username: str) -> list[tuple[int, str, list[str]]]:
        with new_client(app) as client:
            auth = Auth(client)
            seen = []
            for _ in range(6):
                response = auth.login(username=username, password="wrong")
                seen.append(
                    (
                        response.status_code,
                        _normalise(response.text, username),
                        sorted(k for k in response.headers if k not in ("date", "content-length")),
                    )
                )
            return seen

    real, fake = trace(account.username), trace(unknown)
    assert real == fake
    assert real[4][0] == 200
    assert real[5][0] == 429


def test_a_successful_sign_in_clears_the_failures(auth: Auth, account: Account) -> None:
    fail(auth, 4)
    assert auth.login().headers["location"] == "/phone"
    auth.logout()
    fail(auth, 4)
    assert auth.login().headers["location"] == "/phone"


def test_fifty_simultaneous_attempts_let_at_most_five_through(
    app: Starlette, account: Account, verifies: list[str | None], client: TestClient
) -> None:
    token = csrf_from(client.get("/login").text)

    def attempt(_: int) -> int:
        response = client.post(
            "/login",
            data={"username": account.username, "password": "wrong", "csrf_token": token},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(attempt, range(50)))
    assert len(verifies) <= 5
    assert statuses.count(200) == len(verifies)
    assert statuses.count(429) == 50 - len(verifies)


def test_every_outcome_is_logged_without_the_password(
    auth: Auth, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal.audit")
    auth.login(username=" 201-WickedSprockets", password="hunter2-wrong")
    auth.login()
    auth.logout()
    fail(auth, 6)
    records = [r.getMessage() for r in caplog.records if r.name == "portal.audit"]
    assert "sign-in failure username='201-wickedsprockets' client=testclient" in records
    assert "sign-in success username='201-wickedsprockets' client=testclient" in records
    assert "sign-in locked username='201-wickedsprockets' client=testclient" in records
    assert not any("hunter2" in r or PASSWORD in r for r in caplog.text.splitlines())


def behind_proxy(settings: Settings, **changes: Any) -> TestClient:
    """A client whose requests come through the trusted proxy 10.0.0.1."""
    proxied = replace(settings, trusted_proxies=parse_networks("10.0.0.1"), **changes)
    return new_client(create_app(proxied), client=("10.0.0.1", 1))


def attempts(client: TestClient, forwarded: str, usernames: list[str]) -> list[int]:
    auth = Auth(client)
    client.headers["X-Forwarded-For"] = forwarded
    return [auth.login(username=name, password="x").status_code for name in usernames]


def test_the_address_ceiling_spans_usernames(settings: Settings, account: Account) -> None:
    with behind_proxy(settings, login_ip_max_failures=3) as client:
        assert attempts(client, "192.0.2.1", ["1-acme", "2-acme", "3-acme", "4-acme"]) == [
            200,
            200,
            200,
            429,
        ]
        auth = Auth(client)
        assert auth.login().status_code == 429  # the real user from that address too
        client.headers["X-Forwarded-For"] = "192.0.2.7"
        assert auth.login().headers["location"] == "/phone"  # but not from another


def test_forwarded_for_counts_only_from_a_trusted_proxy(
    settings: Settings, account: Account
) -> None:
    names = ["1-acme", "2-acme", "3-acme"]
    with behind_proxy(settings, login_ip_max_failures=2) as client:
        # Through the trusted proxy, each forwarded client has its own ceiling...
        assert attempts(client, "198.51.100.1", names) == [200, 200, 429]
        assert attempts(client, "198.51.100.2", names) == [200, 200, 429]
        # ...read from the right: a hop the client wrote itself does not count.
        assert attempts(client, "203.0.113.50, 198.51.100.1", names) == [429, 429, 429]
    untrusted = replace(settings, login_ip_max_failures=2)
    with new_client(create_app(untrusted), client=("203.0.113.9", 1)) as client:
        # An untrusted peer cannot pick a fresh address by writing the header.
        assert attempts(client, "198.51.100.3", names) == [200, 200, 429]
        assert attempts(client, "198.51.100.4", names) == [429, 429, 429]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    if settings.redis_url:
        monkeypatch.setenv("PORTAL_REDIS_URL", settings.redis_url)


@pytest.mark.usefixtures("cli_env")
def test_unlock_lifts_the_lock_in_the_running_server(
    auth: Auth, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    fail(auth, 5)
    assert auth.login().status_code == 429
    assert main(["extension", "unlock", account.username]) == 0
    assert "unlocked" in capsys.readouterr().out
    assert auth.login().headers["location"] == "/phone"
    auth.logout()
    # The unlock applies once: new failures lock again.
    fail(auth, 5)
    assert auth.login().status_code == 429


@pytest.mark.usefixtures("cli_env")
def test_unlock_of_an_unknown_extension_is_an_error(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["extension", "unlock", "999-wickedsprockets"]) == 1
    assert capsys.readouterr().err == "portal: unknown extension 999-wickedsprockets\n"


@pytest.fixture
def device(auth: Auth, account: Account, client: TestClient) -> str:
    """The device cookie of the owner's own browser, which has signed in before."""
    assert auth.login().headers["location"] == "/phone"
    auth.logout()
    cookie = client.cookies["portal_device"]
    client.cookies.clear()
    return cookie


def browse_as(client: TestClient, device_cookie: str | None) -> Auth:
    """Switch this client to another browser: no cookies but, maybe, a device cookie."""
    client.cookies.clear()
    if device_cookie:
        client.cookies.set("portal_device", device_cookie)
    return Auth(client)


def test_an_attacker_cannot_lock_the_owner_out_of_a_browser_they_used(
    client: TestClient, device: str
) -> None:
    attacker = browse_as(client, None)
    fail(attacker, 5)
    assert attacker.login().status_code == 429  # locked for the attacker...
    forged = browse_as(client, "made-up.0123456789abcdef0123456789abcdef")
    assert forged.login().status_code == 429  # ...who cannot forge the owner's cookie
    owner = browse_as(client, device)
    assert owner.login().headers["location"] == "/phone"  # ...and the owner gets in


def test_a_device_cookie_only_vouches_for_its_own_user(
    client: TestClient, make_account: Any, device: str
) -> None:
    make_account("202-wickedsprockets", email=None)
    fail(browse_as(client, None), 5, username="202-wickedsprockets")
    owner_of_201 = browse_as(client, device)
    assert owner_of_201.login(username="202-wickedsprockets").status_code == 429


def test_the_owners_device_still_locks_after_its_own_five_failures(
    client: TestClient, device: str
) -> None:
    owner = browse_as(client, device)
    fail(owner, 5)
    assert owner.login().status_code == 429
    assert browse_as(client, None).login().headers["location"] == "/phone"


@pytest.mark.parametrize(
    "planted", ["abc.\u00e9", "caf\u00e9.0123456789abcdef0123456789abcde\u00e9"]
)
def test_a_device_cookie_with_a_non_ascii_byte_counts_as_none(
    client: TestClient, account: Account, planted: str
) -> None:
    """A sibling subdomain may plant any bytes: the browser still signs in, on the account's
    own counter."""
    page = client.get("/login")
    cookies = f"portal_csrf={client.cookies['portal_csrf']}; portal_device={planted}"
    client.cookies.clear()
    headers = {"Cookie": cookies.encode()}  # the raw UTF-8 bytes a browser would send

    def post(password: str) -> Any:
        data = {"username": account.username, "password": password}
        return client.post(
            "/login", data={**data, "csrf_token": csrf_from(page.text)}, headers=headers
        )

    assert [post("wrong").status_code for _ in range(5)] == [200] * 5
    assert post(PASSWORD).status_code == 429  # counted on the account, like no cookie at all
    client.cookies.clear()
    assert browse_as(client, None).login().status_code == 429


def test_counts_survive_a_restart_with_redis(
    sqlite_url: str, redis_available: str, redis_prefix: str
) -> None:
    settings = Settings(
        secret_key="k",
        database_url=sqlite_url,
        redis_url=redis_available,
        redis_prefix=redis_prefix,
    )
    seen = []
    for _ in range(2):  # two lifetimes of the server
        with new_client(create_app(settings)) as client:
            seen += [r.status_code for r in fail(Auth(client), 3, username="5-acme")]
    assert seen == [200, 200, 200, 200, 200, 429]


def test_workers_share_counts_through_redis(
    tmp_path: Path, redis_available: str, redis_prefix: str
) -> None:
    """`portal serve --workers 2`: failures on one worker lock the account on the other."""
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.db",
        "PORTAL_REDIS_URL": redis_available,
        "PORTAL_REDIS_PREFIX": redis_prefix,
        "PORTAL_SECRET_KEY": "workers-test",
    }
    portal_command(env, "db", "upgrade")
    log_path = tmp_path / "server.log"
    with portal_server(env, log_path, "--workers", "2") as server:
        base = server.base
        spanned = False
        for round_ in range(6):
            username = f"{round_ + 1}-workers"
            statuses = [post_failure(base, username) for _ in range(6)]
            assert statuses == [200, 200, 200, 200, 200, 429]
            pids = {
                entry["process"]
                for entry in map(json.loads, log_path.read_text().splitlines())
                if f"username='{username}'" in entry["message"]
            }
            if len(pids) == 2:
                spanned = True
                break
        assert spanned, "every round landed on one worker; cannot show sharing"


def post_failure(base: str, username: str) -> int:
    """One wrong sign-in from a fresh browser over a fresh connection (any worker may answer)."""
    with httpx2.Client(base_url=base, headers={"Connection": "close"}) as browser:
        token = csrf_from(browser.get("/login").text)
        response = browser.post(
            "/login", data={"username": username, "password": "wrong", "csrf_token": token}
        )
    return response.status_code
