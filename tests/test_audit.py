"""The audit trail: every sign-in outcome, sign-out, change, reset, unlock, read back by CLI."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from portal.base.settings import Settings
from portal.cli import main
from portal.domain import signouts
from tests.conftest import PASSWORD, Account, Auth, csrf_from, run


@pytest.fixture
def trail(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """`portal audit ARGS` against the test's database: its printed lines."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)

    def read(*args: str) -> list[str]:
        capsys.readouterr()
        assert main(["audit", *args]) == 0
        return capsys.readouterr().out.splitlines()

    return read


def fields(line: str) -> list[str]:
    return line.split()[2:]  # after the date and time


def test_sign_in_outcomes_and_sign_out_are_recorded(
    auth: Auth, account: Account, trail: Any
) -> None:
    auth.login(password="wrong")
    auth.login()
    auth.logout()
    for _ in range(5):
        auth.client.cookies.clear()
        auth.login(password="wrong")
    auth.login()
    lines = [fields(line) for line in trail("201-wickedsprockets")]
    assert lines[0] == ["201-wickedsprockets", "sign-in", "locked", "testclient"]
    assert ["201-wickedsprockets", "sign-out", "success", "testclient"] in lines
    assert ["201-wickedsprockets", "sign-in", "success", "testclient"] in lines
    assert lines[-1] == ["201-wickedsprockets", "sign-in", "failure", "testclient"]
    assert len(lines) == 9  # failure, success, sign-out, five failures, locked


def test_unknown_names_are_recorded_under_their_canonical_form(
    client: TestClient, trail: Any
) -> None:
    Auth(client).login(username=" 999-WickedSprockets ", password="x")
    assert [fields(line) for line in trail()] == [
        ["999-wickedsprockets", "sign-in", "failure", "testclient"]
    ]


def test_a_password_typed_as_the_username_is_neither_logged_nor_stored(
    client: TestClient,
    settings: Settings,
    trail: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    typed = "hunter2 my secret"
    caplog.set_level(logging.DEBUG)
    auth = Auth(client)
    auth.login(username=typed, password="x")
    auth.login(username=f" {typed.upper()} ", password="x")
    token = csrf_from(client.get("/forgot-password").text)
    # Forgot password turns such a name away before anything is recorded (it asks for the
    # extension-companycode shape); the two sign-ins are recorded.
    answer = client.post("/forgot-password", data={"username": typed, "csrf_token": token})
    assert "Enter your extension and company code" in answer.text
    rows = [fields(line) for line in trail()]
    names = {row[0] for row in rows}
    assert len(rows) == 2
    assert len(names) == 1  # repeated tries still go together...
    [name] = names
    assert re.fullmatch(r"malformed:[0-9a-f]{12}", name)  # ...under a keyed hash
    assert "hunter2" not in caplog.text.lower()
    assert f"username='{name}'" in caplog.text
    if settings.redis_url:
        keys = redis.Redis.from_url(settings.redis_url).keys(settings.redis_prefix + "*")
        assert keys
        assert not any(b"hunter2" in key.lower() for key in keys)


def test_password_changes_unlocks_and_admin_resets_are_recorded(
    auth: Auth, account: Account, client: TestClient, trail: Any
) -> None:
    auth.login()
    token = csrf_from(client.get("/settings").text)
    client.post(
        "/settings/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
            "csrf_token": token,
        },
    )
    assert main(["extension", "unlock", account.username]) == 0

    async def admin(shared: Any) -> None:
        async with shared.db() as session:
            await signouts.set_password(session, shared.passwords, shared.store, account.username)

    run(client, admin)
    events = [fields(line)[1:3] for line in trail(account.username)]
    assert events[:3] == [
        ["password-set", "success"],
        ["unlock", "success"],
        ["password-change", "success"],
    ]
    assert "a brand new passphrase" not in "\n".join(trail())


def test_the_trail_of_one_extension_only(make_account: Any, client: TestClient, trail: Any) -> None:
    make_account("201-wickedsprockets")
    make_account("202-wickedsprockets", email=None)
    Auth(client).login(username="202-wickedsprockets", password="x")
    assert trail("201-wickedsprockets") == ["no events"]
    assert len(trail("202-wickedsprockets")) == 1
    assert len(trail("--limit", "1")) == 1
