"""Settings come from PORTAL_* variables; mistakes name the variable."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.settings import Settings, SettingsError
from tests.conftest import Auth, make_account_in


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({"PORTAL_SECRET_KEY": "k"})
    assert settings.database_url == "sqlite:///./var/portal.db"
    assert settings.redis_url is None
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.session_idle_seconds == 14400
    assert settings.session_refresh_seconds == 60
    assert settings.login_max_failures == 5
    assert settings.login_lockout_seconds == 900
    assert settings.reset_token_seconds == 3600
    assert settings.password_min_length == 8
    assert settings.trusted_proxies == ()


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "PORTAL_SECRET_KEY": "k",
            "PORTAL_SESSION_IDLE_SECONDS": "30",
            "PORTAL_BASE_URL": "https://portal.example.com/",
            "PORTAL_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
        }
    )
    assert settings.session_idle_seconds == 30
    assert settings.session_refresh_seconds == 3
    assert settings.https
    assert settings.base_url == "https://portal.example.com"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORTAL_SESSION_IDLE_SECONDS": "soon"}, "PORTAL_SESSION_IDLE_SECONDS"),
        ({"PORTAL_SESSION_IDLE_SECONDS": "0"}, "PORTAL_SESSION_IDLE_SECONDS"),
        ({"PORTAL_TRUSTED_PROXIES": "not-an-ip"}, "PORTAL_TRUSTED_PROXIES"),
        ({"PORTAL_BASE_URL": "portal.example.com"}, "PORTAL_BASE_URL"),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"PORTAL_SECRET_KEY": "k", **env})


def test_serving_needs_a_secret_key_outside_demo_mode() -> None:
    with pytest.raises(SettingsError, match="PORTAL_SECRET_KEY"):
        create_app(Settings.from_env({}))


def test_https_base_url_makes_the_cookie_secure_and_adds_hsts(sqlite_url: str) -> None:
    settings = Settings(
        secret_key="k", database_url=sqlite_url, base_url="https://portal.example.com"
    )
    with TestClient(
        create_app(settings), base_url="https://portal.example.com", follow_redirects=False
    ) as client:
        make_account_in(client)
        response = client.get("/login")
        signed_in = Auth(client).login()
    # The login form's CSRF cookie cannot be planted by a subdomain (`__Host-`), nor leak.
    csrf_cookie = response.headers["set-cookie"]
    assert csrf_cookie.startswith("__Host-portal_csrf=")
    assert "; Secure" in csrf_cookie and "Path=/" in csrf_cookie and "Domain" not in csrf_cookie
    assert signed_in.status_code == 303
    [session] = [c for c in signed_in.headers.get_list("set-cookie") if "portal_session=" in c]
    assert "; Secure" in session
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


SIP = {
    "PORTAL_SECRET_KEY": "k",
    "PORTAL_SIP_WS_URL": "wss://sip.example.com:8443/ws",
    "PORTAL_SIP_DOMAIN": "sip.example.com",
    "PORTAL_SIP_SECRET": "a-secret-of-sixteen-plus",
}


def test_no_phone_system_unless_its_websocket_is_set() -> None:
    settings = Settings.from_env({"PORTAL_SECRET_KEY": "k", "PORTAL_SIP_DOMAIN": "x"})
    assert settings.sip_ws_url is None
    assert settings.turn_urls == ()


def test_phone_system_settings_are_read() -> None:
    turn = "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:443?transport=tcp"
    settings = Settings.from_env({**SIP, "PORTAL_TURN_URLS": turn})
    assert settings.sip_ws_url == "wss://sip.example.com:8443/ws"
    assert settings.sip_domain == "sip.example.com"
    assert settings.sip_secret == "a-secret-of-sixteen-plus"
    assert settings.turn_urls == (
        "turn:turn.example.com:3478?transport=udp",
        "turns:turn.example.com:443?transport=tcp",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_SIP_WS_URL": "https://sip.example.com"}, "PORTAL_SIP_WS_URL must be a ws://"),
        ({"PORTAL_SIP_WS_URL": "sip.example.com:8080"}, "PORTAL_SIP_WS_URL must be a ws://"),
        ({"PORTAL_SIP_WS_URL": "ws://"}, "PORTAL_SIP_WS_URL must be a ws://"),
        ({"PORTAL_SIP_WS_URL": "ws://u:p@sip.example.com"}, "PORTAL_SIP_WS_URL must not carry"),
        ({"PORTAL_SIP_WS_URL": "ws://sip.example.com:99999"}, "PORTAL_SIP_WS_URL has a malformed"),
        ({"PORTAL_SIP_DOMAIN": ""}, "PORTAL_SIP_DOMAIN is required"),
        ({"PORTAL_SIP_DOMAIN": "sip example"}, "PORTAL_SIP_DOMAIN must be a host name"),
        ({"PORTAL_SIP_SECRET": ""}, "PORTAL_SIP_SECRET is required"),
        ({"PORTAL_SIP_SECRET": "short"}, "PORTAL_SIP_SECRET must be at least 16 characters"),
        ({"PORTAL_TURN_URLS": "stun:stun.example.com"}, "PORTAL_TURN_URLS: each entry"),
        ({"PORTAL_TURN_URLS": "turn:ok.example.com, https://x"}, "PORTAL_TURN_URLS: each entry"),
        ({"PORTAL_TURN_URLS": "turn:h:3478?transport=sctp"}, "PORTAL_TURN_URLS: each entry"),
    ],
)
def test_malformed_phone_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({**SIP, **env})


def test_the_readme_table_is_the_declaration() -> None:
    """Every declared setting is in the README's table with its default and meaning, and the
    table has nothing else."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[0].startswith("`PORTAL_"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    declared = {
        item.env: (item.default_text(default), item.meaning)
        for _, item, default in Settings.declared()
    }
    assert rows == declared


def test_every_declared_variable_is_read() -> None:
    environ = {
        **SIP,
        "PORTAL_TRUSTED_PROXIES": "10.0.0.1",
        "PORTAL_TURN_URLS": "turn:turn.example.com:3478",
        "PORTAL_BRAND_ACCENT": "#0a7d4f",
    }
    for name, item, default in Settings.declared():
        if isinstance(default, bool):
            environ[item.env] = "false" if default else "true"
        elif isinstance(default, int | float):
            environ[item.env] = str(default + 7)
        elif item.env not in environ:
            environ[item.env] = f"http://{name}.example"
    settings = Settings.from_env(environ)
    for name, item, default in Settings.declared():
        assert getattr(settings, name) != default, item.env
