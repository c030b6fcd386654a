"""The demo's phone system: a Kamailio of its own when the machine has one, else plainly none."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from portal.base.settings import Settings
from portal.phone import demo
from portal.phone.sipserver import available
from tests.netns import unavailable
from tests.servers import free_port

ORIGIN = "http://127.0.0.1:8000"


def test_an_operators_phone_system_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_SIP_WS_URL", "wss://sip.example.com")
    with demo.demo_phone_system(tmp_path, ORIGIN) as (settings, line):
        assert settings == {}
        assert line == "phone system: wss://sip.example.com (PORTAL_SIP_WS_URL)"
    assert not any(tmp_path.iterdir())


def test_without_kamailio_the_demo_says_there_is_no_phone_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORTAL_SIP_WS_URL", raising=False)
    monkeypatch.setattr(demo, "available", lambda: "missing /usr/sbin/kamailio (package kamailio)")
    with demo.demo_phone_system(tmp_path, ORIGIN) as (settings, line):
        assert settings == {}
        assert line == "no phone system for the demo: missing /usr/sbin/kamailio (package kamailio)"


def test_the_demo_runs_its_own_kamailio_with_a_fresh_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reason := available():
        unavailable(reason)
    monkeypatch.delenv("PORTAL_SIP_WS_URL", raising=False)
    port = free_port()
    secrets_seen = []
    for run in ("first", "second"):
        with demo.demo_phone_system(tmp_path / run, ORIGIN, ws_port=port) as (settings, line):
            assert line.startswith(f"phone system: Kamailio on ws://127.0.0.1:{port}")
            parsed = Settings.from_env({"PORTAL_SECRET_KEY": "k", **settings})
            assert parsed.sip_ws_url == f"ws://127.0.0.1:{port}"
            assert parsed.sip_secret is not None
            secrets_seen.append(parsed.sip_secret)
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert secrets_seen[0] != secrets_seen[1]  # a new one each run, never kept
    assert secrets_seen[1] not in line  # what is printed never shows it
