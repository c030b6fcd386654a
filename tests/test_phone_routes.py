"""The softphone's endpoints: short-lived credentials for the signed-in extension only, never
cached, never sliding the session; and the page's "a call is on" that does slide it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.clock import Clock
from portal.base.settings import Settings
from portal.web.shared import Shared
from tests.conftest import Auth, csrf_from, make_account_in

SECRET = "test-sip-secret-0123456789"


def with_phone(settings: Settings) -> Settings:
    return replace(
        settings,
        sip_ws_url="wss://sip.example.com:8443/ws",
        sip_domain="sip.example.com",
        sip_secret=SECRET,
        turn_urls=("turns:turn.example.com:443?transport=tcp",),
    )


IDLE = 600


@pytest.fixture
def phone_client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    app = create_app(with_phone(replace(settings, session_idle_seconds=IDLE)), clock=clock)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        make_account_in(client)
        make_account_in(client, "202-wickedsprockets", name="Grace Hopper", email=None)
        yield client


def services(client: TestClient) -> Shared:
    found: Shared = client.app.state.shared  # type: ignore[attr-defined]
    return found


def expected_password(username: str) -> str:
    digest = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_signed_in_page_gets_credentials_for_its_own_extension(
    phone_client: TestClient, clock: Clock
) -> None:
    Auth(phone_client).login()
    response = phone_client.get("/phone/credentials")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    config = response.json()
    expires = config["expires"]
    assert expires == pytest.approx(clock() + IDLE, abs=2)
    assert config["authorization_user"] == f"{expires}:201-wickedsprockets"
    assert config["password"] == expected_password(config["authorization_user"])
    assert config["uri"] == "sip:201-wickedsprockets@sip.example.com"
    assert config["ws_url"] == "wss://sip.example.com:8443/ws"
    assert config["display_name"] == "Ada Lovelace"
    assert config["ice_servers"] == [
        {
            "urls": ["turns:turn.example.com:443?transport=tcp"],
            "username": config["authorization_user"],
            "credential": config["password"],
        }
    ]


def test_no_one_can_ask_for_another_extension(phone_client: TestClient) -> None:
    Auth(phone_client).login("202-wickedsprockets")
    asked = phone_client.get("/phone/credentials?user=201-wickedsprockets&uri=201").json()

    assert asked["authorization_user"].endswith(":202-wickedsprockets")
    assert asked["uri"] == "sip:202-wickedsprockets@sip.example.com"


def test_signed_out_gets_no_credentials(phone_client: TestClient) -> None:
    response = phone_client.get("/phone/credentials")

    assert response.status_code == 401
    assert "password" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_credentials_last_an_hour_at_most(settings: Settings, clock: Clock) -> None:
    app = create_app(with_phone(settings), clock=clock)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        make_account_in(client)
        Auth(client).login()
        config = client.get("/phone/credentials").json()
    assert config["ttl"] == 3600
    assert config["expires"] == pytest.approx(clock() + 3600, abs=2)


def test_credentials_never_outlive_the_idle_session(phone_client: TestClient, clock: Clock) -> None:
    Auth(phone_client).login()
    clock.offset += IDLE - 100
    config = phone_client.get("/phone/credentials").json()

    assert config["ttl"] == pytest.approx(100, abs=2)
    assert config["expires"] == pytest.approx(clock() + 100, abs=2)
    clock.offset += 101
    assert phone_client.get("/phone/credentials").status_code == 401


def test_asking_for_credentials_is_not_activity(phone_client: TestClient, clock: Clock) -> None:
    Auth(phone_client).login()
    store = services(phone_client).store
    before = store.writes
    for _ in range(5):
        clock.offset += IDLE / 5 - 1
        assert phone_client.get("/phone/credentials").status_code == 200
    assert store.writes == before
    clock.offset += 10
    assert phone_client.get("/phone/credentials").status_code == 401


def test_a_call_in_progress_keeps_the_session_alive(phone_client: TestClient, clock: Clock) -> None:
    Auth(phone_client).login()
    token = csrf_from(phone_client.get("/phone").text)
    for _ in range(5):  # a call twice as long as the idle limit
        clock.offset += IDLE / 2.5
        response = phone_client.post("/phone/activity", headers={"X-CSRF-Token": token})
        assert response.status_code == 204
        assert response.headers["Cache-Control"] == "no-store"
    assert phone_client.get("/phone/credentials").status_code == 200
    assert phone_client.get("/phone").status_code == 200


def test_activity_needs_the_csrf_token(phone_client: TestClient) -> None:
    Auth(phone_client).login()
    assert phone_client.post("/phone/activity").status_code == 403
    assert phone_client.post("/phone/activity", headers={"X-CSRF-Token": "x"}).status_code == 403


def test_activity_when_signed_out(phone_client: TestClient) -> None:
    token = Auth(phone_client).csrf()
    response = phone_client.post("/phone/activity", data={"csrf_token": token})
    assert response.status_code in (401, 403)


def test_no_phone_system_no_credentials(auth: Auth, account: object) -> None:
    auth.login()
    response = auth.client.get("/phone/credentials")
    assert response.status_code == 404
    assert "password" not in response.text


def test_pages_may_connect_to_the_sip_server_and_nowhere_else(phone_client: TestClient) -> None:
    Auth(phone_client).login()
    policy = phone_client.get("/phone").headers["Content-Security-Policy"]
    directives = dict(part.split(" ", 1) for part in policy.split("; "))

    assert directives["connect-src"] == "'self' wss://sip.example.com:8443"
    assert directives["script-src"] == "'self'"


def test_signed_in_pages_load_the_softphone_and_the_login_page_does_not(
    phone_client: TestClient,
) -> None:
    login = phone_client.get("/login").text
    Auth(phone_client).login()
    pages = [phone_client.get(path).text for path in ("/phone", "/settings")]

    assert "jssip" not in login and "phone." not in login
    for page in pages:
        assert re.search(r'<script src="/static/vendor/jssip\.min\.[0-9a-f]{12}\.js" defer>', page)
        assert re.search(r'<script src="/static/js/phone\.[0-9a-f]{12}\.js" defer>', page)
        assert 'data-state="connecting"' in page and "data-phone-live" in page
        assert "Connecting…" in page
        assert SECRET not in page and "password" not in page.split("data-phone")[1]
