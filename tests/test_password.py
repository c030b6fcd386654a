"""Change Password in the Settings tab, over htmx and without it; and the strength hint."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from portal.base.clock import Clock
from portal.base.models import AuditEvent
from portal.base.settings import Settings
from portal.cli import main
from portal.web.shared import Shared
from tests.conftest import PASSWORD, Account, Auth, csrf_from, run
from tests.smtp import TestSink
from tests.test_reset import newest

NEW = "a new and better passphrase"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def settings(settings: Settings, smtp_sink: TestSink) -> Settings:
    return replace(settings, smtp_port=smtp_sink.port, mail_poll_seconds=0.05)


@pytest.fixture
def signed_in(auth: Auth, account: Account, client: TestClient) -> TestClient:
    auth.login()
    return client


def change(
    client: TestClient,
    current: str = PASSWORD,
    new: str = NEW,
    confirm: str | None = None,
    htmx: bool = True,
) -> Any:
    token = csrf_from(client.get("/settings").text)
    return client.post(
        "/settings/password",
        data={
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
            "csrf_token": token,
        },
        headers=HTMX if htmx else {},
    )


def error_of(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def test_the_section_has_the_three_fields_and_the_button(signed_in: TestClient) -> None:
    page = signed_in.get("/settings").text
    for name in ("current_password", "new_password", "confirm_password"):
        assert f'name="{name}"' in page
    assert ">Change Password</button>" in page
    assert 'autocomplete="new-password"' in page


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("wrong one", NEW, NEW, "current_password", "That is not your current password."),
        ("", NEW, NEW, "current_password", "Enter your current password."),
        (PASSWORD, NEW, NEW + "!", "confirm_password", "The two passwords do not match."),
        (PASSWORD, "short", "short", "new_password", "Use at least 8 characters."),
        (PASSWORD, "iloveyou", "iloveyou", "new_password", "most common passwords"),
        (PASSWORD, "wickedsprockets-1", "wickedsprockets-1", "new_password", "company code"),
        (PASSWORD, PASSWORD, PASSWORD, "new_password", "different from your current one"),
    ],
)
def test_errors_appear_beside_their_fields_and_change_nothing(
    signed_in: TestClient, current: str, new: str, confirm: str, field: str, message: str
) -> None:
    response = change(signed_in, current, new, confirm)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section class="panel" id="change-password"')
    error = error_of(response.text, field)
    assert error is not None
    assert message in error
    assert f'id="{field}" name="{field}" type="password"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert PASSWORD not in response.text  # passwords are never sent back
    signed_in.get("/logout")
    other = TestClient(signed_in.app, base_url="http://127.0.0.1:8000", follow_redirects=False)
    with other:
        assert Auth(other).login().headers["location"] == "/phone"  # the old one still works


def test_success_keeps_this_session_on_a_new_id_and_ends_the_others(
    app: Starlette, signed_in: TestClient, smtp_sink: TestSink
) -> None:
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as elsewhere:
        Auth(elsewhere).login()
        assert elsewhere.get("/phone").status_code == 200
        before = signed_in.cookies["portal_session"]
        response = change(signed_in)
        assert response.status_code == 200
        assert "Your password was changed." in response.text
        after = response.cookies.get("portal_session")
        assert after
        assert after != before
        assert signed_in.get("/phone").status_code == 200  # still signed in
        assert elsewhere.get("/phone").status_code == 303  # the other session is over
        signed_in.cookies.clear()
        signed_in.cookies.set("portal_session", before)
        assert signed_in.get("/phone").status_code == 303  # and the old id is dead
    # Beside the new-device notices of the two sign-ins.
    assert newest(smtp_sink, "Your Phone Portal password was changed", 3)
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as fresh:
        assert Auth(fresh).login(password=NEW).headers["location"] == "/phone"


def test_without_javascript_the_form_posts_and_the_page_says_so(signed_in: TestClient) -> None:
    failed = change(signed_in, current="wrong one", htmx=False)
    assert failed.status_code == 200
    assert failed.text.startswith("<!doctype html>")
    assert error_of(failed.text, "current_password") == "That is not your current password."
    done = change(signed_in, htmx=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/settings"
    page = signed_in.get("/settings").text
    assert "Your password was changed." in page
    assert "Your password was changed." not in signed_in.get("/settings").text  # said once


def test_wrong_current_passwords_count_as_failed_sign_ins(signed_in: TestClient) -> None:
    for _ in range(5):
        change(signed_in, current="wrong one")
    locked = change(signed_in, current=PASSWORD)
    assert "Too many failed attempts" in (error_of(locked.text, "current_password") or "")
    signed_in.cookies.clear()  # another browser (same server, same memory) cannot sign in
    assert Auth(signed_in).login().status_code == 429


def password_change_outcomes(client: TestClient) -> list[str]:
    """The audit trail's outcomes for password changes, oldest first."""

    async def work(shared: Shared) -> list[str]:
        async with shared.db() as db:
            rows = await db.exec(
                select(AuditEvent)
                .where(AuditEvent.event == "password-change")
                .order_by(col(AuditEvent.id))
            )
            return [row.outcome for row in rows]

    return run(client, work)


@pytest.mark.parametrize("htmx", [True, False])
def test_the_same_change_sent_again_is_harmless(
    app: Starlette, signed_in: TestClient, clock: Clock, htmx: bool
) -> None:
    """A double click sends the form twice: the repeat answers as the first did and counts no
    failure, however often it comes, so it can never lock the account. Only that: another wrong
    current password still counts, and so does the old one a while later."""
    assert change(signed_in, htmx=htmx).status_code == (200 if htmx else 303)
    for _ in range(6):
        again = change(signed_in, htmx=htmx)
        if htmx:
            assert "Your password was changed." in again.text
            assert error_of(again.text, "current_password") is None
        else:
            assert again.headers["location"] == "/settings"
            assert "Your password was changed." in signed_in.get("/settings").text
    assert password_change_outcomes(signed_in) == ["success"]
    assert signed_in.get("/phone").status_code == 200

    wrong = change(signed_in, current="wrong one")
    assert error_of(wrong.text, "current_password") == "That is not your current password."
    clock.offset += 61
    late = change(signed_in)
    assert error_of(late.text, "current_password") == "That is not your current password."
    assert password_change_outcomes(signed_in) == ["success", "failure", "failure"]
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as other:
        assert Auth(other).login(password=NEW).headers["location"] == "/phone"


def test_an_administrators_unlock_lets_the_right_current_password_through(
    signed_in: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        change(signed_in, current="wrong one")
    assert "Too many failed attempts" in (
        error_of(change(signed_in).text, "current_password") or ""
    )
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    assert main(["extension", "unlock", "201-wickedsprockets"]) == 0
    done = change(signed_in)
    assert error_of(done.text, "current_password") is None
    assert "Your password was changed." in done.text


def test_signed_out_change_gets_sent_to_sign_in_and_back_to_settings(client: TestClient) -> None:
    response = client.post(
        "/settings/password",
        headers={**HTMX, "HX-Current-URL": "http://127.0.0.1:8000/settings"},
    )
    assert response.headers["HX-Redirect"] == "/login?next=/settings"
    plain = client.post("/settings/password")
    assert plain.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("plumtrees", "Weak:"),
        ("Abcdefgh1234", "Strong:"),
        ("abcdefghijkl", "Fair:"),
        ("password", "most common passwords"),
        ("xx201-wickedsprocketsxx", "your username"),
    ],
)
def test_the_strength_hint(signed_in: TestClient, password: str, expected: str) -> None:
    token = csrf_from(signed_in.get("/settings").text)
    response = signed_in.post(
        "/password-strength",
        data={"new_password": password, "username": "201-wickedsprockets", "csrf_token": token},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert expected in response.text
    assert "<html" not in response.text


def test_the_strength_hint_is_empty_for_an_empty_field(signed_in: TestClient) -> None:
    token = csrf_from(signed_in.get("/settings").text)
    response = signed_in.post(
        "/password-strength", data={"new_password": "", "csrf_token": token}, headers=HTMX
    )
    assert response.text.strip() == ""
